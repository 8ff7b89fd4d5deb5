// What the browser tests share: finding Chromium and playwright-core (or exiting 77, which
// meson reports as skipped), launching headless Chromium, running our programs with their
// stdout read line by line, and deadlines on every wait.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const CHROMIUM = process.env.SYNCWS_CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 30000;

// playwright-core is installed by `npm ci --prefix tests/interop`; it never downloads a
// browser, so Chromium comes from Debian's package.
function loadPlaywright() {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`skipped: ${CHROMIUM} is missing (Debian package chromium)`);
    process.exit(77);
  }
  try {
    return require(path.join(__dirname, '..', 'interop', 'node_modules', 'playwright-core'));
  } catch (e) {
    console.log('skipped: npm package playwright-core is missing (run npm ci --prefix tests/interop)');
    process.exit(77);
  }
}

async function launchChromium(playwright) {
  // --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
  return playwright.chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox'],
    timeout: STEP_TIMEOUT_MS,
  });
}

function withDeadline(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  return Promise.race([
    Promise.resolve(promise).finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1));

// Runs a program with stdin and stdout as pipes (stderr passes through to the test log).
// lines holds its stdout lines so far; waitForLine(regex) resolves with the first match.
function run(program, args) {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const lines = [];
  let waiters = [];
  let partial = '';
  let exitStatus;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(signal ? signal : code));
    child.on('error', (e) => resolve(`cannot run ${program}: ${e.message}`));
  }).then((status) => {
    children.delete(child);
    exitStatus = status;
    for (const w of waiters) w.check();
    return status;
  });
  // A child that died shows up as missing output, not as an EPIPE that ends this process.
  child.stdin.on('error', () => {});
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop();
    lines.push(...parts);
    for (const w of waiters) w.check();
  });
  const name = path.basename(program);
  return {
    child,
    lines,
    exited,
    waitForLine(pattern, what) {
      const found = new Promise((resolve, reject) => {
        const w = {
          check() {
            const line = lines.find((l) => pattern.test(l));
            if (line !== undefined) {
              waiters = waiters.filter((x) => x !== w);
              resolve(line.match(pattern));
            } else if (exitStatus !== undefined) {
              waiters = waiters.filter((x) => x !== w);
              reject(new Error(`${name} ended (${exitStatus}) before printing ${pattern}; it printed ${JSON.stringify(lines)}`));
            }
          },
        };
        waiters.push(w);
        w.check();
      });
      return withDeadline(found, `${what || pattern} from ${name}`);
    },
    writeLine(line) {
      child.stdin.write(line + '\n');
    },
    // Ends its standard input and waits for it to exit; resolves with its exit code.
    async finish() {
      child.stdin.end();
      return withDeadline(exited, `${name} to exit`);
    },
    async kill() {
      child.kill('SIGTERM');
      return withDeadline(exited, `${name} to exit`);
    },
  };
}

// Runs main() and exits 0 when it succeeds, 1 (with the error) when it fails.
function main(body) {
  const started = Date.now();
  body().then(
    () => {
      console.log(`all passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      process.exit(0);
    },
    (e) => {
      console.error('FAIL', e);
      process.exit(1);
    });
}

module.exports = { loadPlaywright, launchChromium, withDeadline, run, main, STEP_TIMEOUT_MS };
