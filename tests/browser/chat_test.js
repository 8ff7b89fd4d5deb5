// The chat sample (samples/chat) in headless Chromium: two users open the page in their own
// browser contexts, and a third joins with the syncws command-line client. Whatever one of
// them sends, typed into the page or into the terminal, every one of them receives, in order;
// markup shows as text.
//
// Run: node tests/browser/chat_test.js PATH-TO-chat_server PATH-TO-syncws (meson does this).
// Needs /usr/bin/chromium and `npm ci --prefix tests/interop`; without either it exits 77
// (skipped). Loopback only, OS-chosen port, every wait has a deadline.
'use strict';

const assert = require('assert');
const { loadPlaywright, launchChromium, withDeadline, run, main, STEP_TIMEOUT_MS } = require('./browser_support');

const playwright = loadPlaywright();
const [CHAT_SERVER, SYNCWS] = process.argv.slice(2);

function shownLines(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('#log li'), (li) => li.textContent));
}

// Waits until the page's message list is exactly `expected`.
async function expectShown(page, expected, who) {
  try {
    await page.waitForFunction(
      (lines) => JSON.stringify(Array.from(document.querySelectorAll('#log li'), (li) => li.textContent)) ===
                 JSON.stringify(lines),
      expected, { timeout: STEP_TIMEOUT_MS });
  } catch (e) {
    assert.deepStrictEqual(await shownLines(page), expected, `what ${who} shows`);
    throw e;
  }
}

async function openChat(browser, url) {
  const context = await browser.newContext();  // a user of their own: no shared state
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const response = await page.goto(url);
  assert.strictEqual(response.status(), 200);
  return page;
}

main(async () => {
  const server = run(CHAT_SERVER, ['0']);
  const [, url] = await server.waitForLine(/^chat on (http:\/\/\S+\/)$/);
  const browser = await withDeadline(launchChromium(playwright), 'Chromium to start');
  try {
    // Each arrival is announced to everyone, the newcomer included; waiting for it also
    // tells that the newcomer is in the room before anyone speaks.
    const alice = await openChat(browser, url);
    await expectShown(alice, ['someone joined, 1 online'], 'Alice');
    const bob = await openChat(browser, url);
    await expectShown(bob, ['someone joined, 2 online'], 'Bob');
    await expectShown(alice, ['someone joined, 1 online', 'someone joined, 2 online'], 'Alice');
    assert.strictEqual(await alice.textContent('#status'), 'connected');
    console.log('ok   two pages joined the chat');

    const terminal = run(SYNCWS, ['connect', url.replace(/^http/, 'ws') + 'chat']);
    await terminal.waitForLine(/^someone joined, 3 online$/);
    const everyone = ['someone joined, 1 online', 'someone joined, 2 online', 'someone joined, 3 online'];
    await expectShown(alice, everyone, 'Alice');
    await expectShown(bob, everyone.slice(1), 'Bob');
    console.log('ok   a syncws client joined the chat');

    // Alice types and presses Enter: both pages and the terminal get it.
    await alice.fill('#text', 'hello from Alice');
    await alice.press('#text', 'Enter');
    everyone.push('hello from Alice');
    await expectShown(alice, everyone, 'Alice');
    await expectShown(bob, everyone.slice(1), 'Bob');
    await terminal.waitForLine(/^hello from Alice$/);
    assert.strictEqual(await alice.inputValue('#text'), '', 'the input is cleared after sending');
    console.log('ok   a message typed in one page reached both pages and the syncws client');

    terminal.writeLine('hello from a terminal');
    everyone.push('hello from a terminal');
    await expectShown(alice, everyone, 'Alice');
    await expectShown(bob, everyone.slice(1), 'Bob');
    await terminal.waitForLine(/^hello from a terminal$/);
    console.log('ok   a message from the syncws client reached both pages');

    // Bob clicks Send on markup: it is shown as the text it is, never parsed as HTML.
    const markup = '<b>Grüße</b> <img src=x onerror="document.title=\'owned\'"> 🌍';
    await bob.fill('#text', markup);
    await bob.click('button');
    everyone.push(markup);
    await expectShown(alice, everyone, 'Alice');
    await expectShown(bob, everyone.slice(1), 'Bob');
    await terminal.waitForLine(/^<b>Grüße<\/b>/);
    assert.strictEqual(await alice.locator('#log b, #log img').count(), 0, 'no markup in the log');
    assert.notStrictEqual(await alice.title(), 'owned');
    console.log('ok   markup sent by one user shows as text for the others');

    assert.strictEqual(await terminal.finish(), 0, 'syncws connect exit status after a clean close');
    assert.deepStrictEqual(terminal.lines, everyone.slice(2), 'what the syncws client printed');
    console.log('ok   the syncws client printed every message once, in order, and closed cleanly');
  } finally {
    await browser.close();
    await server.kill();
  }
});
