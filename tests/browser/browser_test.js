// Headless Chromium against our server: a page served by page_server (through
// server_options::process_request, on the WebSocket port) connects back with the browser's
// own WebSocket API and exchanges text and binary messages up to 1 MiB in both directions,
// then closes with a code and reason from each side. Run once with permessage-deflate (which
// Chromium always offers) accepted by our server, once with it turned off there.
//
// Run: node tests/browser/browser_test.js PATH-TO-page_server PATH-TO-test_page.html
// (meson does this). Needs /usr/bin/chromium and `npm ci --prefix tests/interop`; without
// either it exits 77 (skipped). Loopback only, OS-chosen ports, every wait has a deadline.
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const { loadPlaywright, launchChromium, withDeadline, run, main, STEP_TIMEOUT_MS } = require('./browser_support');

const playwright = loadPlaywright();
const [SERVER, PAGE] = process.argv.slice(2);
const MIB = 1024 * 1024;

// Exactly `size` bytes of UTF-8 with characters of 1 to 4 bytes, so that a message split
// into frames or deflate blocks can cut through a character.
function mixedText(size) {
  const pattern = 'syncws ✓ Grüße, 世界 🌍 ';
  const patternBytes = Buffer.byteLength(pattern);
  let text = pattern.repeat(Math.floor(size / patternBytes));
  return text + 'x'.repeat(size - Buffer.byteLength(text));
}

// Empty, below the 128-byte compression threshold, and 1 MiB: compressible text, random
// (incompressible) bytes and repetitive bytes.
const MESSAGES = [
  { type: 'text', data: Buffer.alloc(0) },
  { type: 'text', data: Buffer.from('hello from the browser test') },
  { type: 'text', data: Buffer.from(mixedText(MIB)) },
  { type: 'binary', data: Buffer.alloc(0) },
  { type: 'binary', data: Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]) },
  { type: 'binary', data: crypto.randomBytes(MIB) },
  { type: 'binary', data: Buffer.alloc(MIB, 'abcdefgh') },
];

function description(message) {
  return {
    type: message.type,
    size: message.data.length,
    sha256: crypto.createHash('sha256').update(message.data).digest('hex'),
  };
}

function forPage(message) {
  return message.type === 'text' ? { type: 'text', text: message.data.toString('utf8') }
                                 : { type: 'binary', base64: message.data.toString('base64') };
}

const takeMessage = (page, id) =>
  page.evaluate(([id, ms]) => nextMessage(id, ms), [id, STEP_TIMEOUT_MS]);

async function roundWithServer(browser, compression) {
  const label = compression ? 'with compression' : 'without compression';
  const server = run(SERVER, compression ? [PAGE] : [PAGE, '--no-compression']);
  const [, url] = await server.waitForLine(/^listening on (http:\/\/\S+)$/);
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  try {
    // The page itself comes from process_request on the WebSocket port.
    const response = await page.goto(url);
    assert.strictEqual(response.status(), 200);
    assert.match(response.headers()['content-type'], /^text\/html/);

    // Compression: Chromium offers it; our server's view of its own answer decides.
    const open = await page.evaluate(([path, ms]) => openSocket(path, ms), ['/echo', STEP_TIMEOUT_MS]);
    const handshake = JSON.parse((await takeMessage(page, open.id)).text);
    assert.match(handshake.offered, /permessage-deflate/, 'Chromium offers permessage-deflate');
    if (compression) assert.match(handshake.accepted, /^permessage-deflate/, 'the server accepts it');
    else assert.strictEqual(handshake.accepted, '', 'the server with compression off declines it');
    assert.strictEqual(open.extensions, handshake.accepted, 'the browser agrees with the server');
    console.log(`ok   ${label}: offered "${handshake.offered}", accepted "${handshake.accepted}"`);

    // Each message: the server's report checks what the browser sent; the echo checks what
    // the browser received.
    for (const message of MESSAGES) {
      const expected = description(message);
      await page.evaluate(([id, m]) => sendMessage(id, m), [open.id, forPage(message)]);
      const report = await takeMessage(page, open.id);
      assert.strictEqual(report.type, 'text');
      assert.deepStrictEqual(JSON.parse(report.text), expected, 'what the server received');
      const echo = await takeMessage(page, open.id);
      delete echo.text;
      assert.deepStrictEqual(echo, expected, 'what the browser received');
      console.log(`ok   ${label}: ${message.type} of ${message.data.length} bytes, both directions`);
    }

    // The page closes: the server sees its code and reason and echoes them.
    const pageClose = await page.evaluate(([id, ms]) => closeSocket(id, 4001, 'bye from page', ms),
                                          [open.id, STEP_TIMEOUT_MS]);
    assert.deepStrictEqual(pageClose, { code: 4001, reason: 'bye from page', wasClean: true });
    await server.waitForLine(/^the page closed: 4001 bye from page$/);
    console.log(`ok   ${label}: the page closed with 4001 "bye from page"`);

    // The server closes: the page's close event carries its code and reason.
    const closing = await page.evaluate(([path, ms]) => openSocket(path, ms), ['/server-closes', STEP_TIMEOUT_MS]);
    const serverClose = await page.evaluate(([id, ms]) => closeEvent(id, ms), [closing.id, STEP_TIMEOUT_MS]);
    assert.deepStrictEqual(serverClose, { code: 4002, reason: 'bye from server', wasClean: true });
    const [, answered] = await server.waitForLine(/^the page answered: (.*)$/);
    assert.match(answered, /^4002\b/, 'Chromium answers with the same code');
    console.log(`ok   ${label}: the server closed with 4002 "bye from server"; Chromium answered ${answered}`);
  } finally {
    await page.close();
    const status = await server.finish();
    assert.strictEqual(status, 0, 'page_server exit status');
  }
}

main(async () => {
  const browser = await withDeadline(launchChromium(playwright), 'Chromium to start');
  try {
    console.log(`Chromium ${browser.version()}`);
    await roundWithServer(browser, true);
    await roundWithServer(browser, false);
  } finally {
    await browser.close();
  }
});
