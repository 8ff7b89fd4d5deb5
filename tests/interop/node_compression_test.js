// permessage-deflate interop with Node `ws` 8 (npm), in both directions: Node clients with
// the parameter combinations `ws` offers against `syncws serve --echo`, and Node servers
// with the combinations it answers against `syncws echo-client`. Messages from 0 bytes to
// 16 MiB, text and binary, compressible and random; context takeover on and off.
//
// Run: node tests/interop/node_compression_test.js PATH-TO-SYNCWS (meson does this).
// Needs `npm ci` in tests/interop (.ci/run does it); without ws it exits 77 (skipped).
// Loopback only, ports chosen by the OS, every step bounded by a timeout.
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const path = require('path');
const { spawn } = require('child_process');

let WebSocket;
try {
  WebSocket = require(path.join(__dirname, 'node_modules', 'ws'));
} catch (e) {
  console.log('skipped: npm package ws is missing (run npm ci in tests/interop)');
  process.exit(77);
}

const TOOL = process.argv[2];
const MIB = 1024 * 1024;
const TIMEOUT_MS = 120000;

function jsonText(size) {
  let out = '';
  for (let i = 0; out.length < size; i++)
    out += `{"id":${i},"name":"user${i % 97}","tags":["abc","xyz"]},`;
  return out.slice(0, size);
}

function messages(largest) {
  const out = [];
  for (const size of [0, 1, 127, 128, 129, 4096, 65536, MIB, 16 * MIB]) {
    if (size > largest) break;
    out.push(jsonText(size));
    out.push(crypto.randomBytes(size));
  }
  return out;
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT_MS);
    }),
  ]);
}

// Sends each message and checks its echo, one at a time.
function exchange(ws, all) {
  return new Promise((resolve, reject) => {
    let i = 0;
    const next = () => {
      if (i === all.length) return resolve();
      const m = all[i];
      ws.send(m, { binary: typeof m !== 'string' });
    };
    ws.on('message', (data, isBinary) => {
      try {
        const m = all[i];
        if (typeof m === 'string') {
          assert.strictEqual(isBinary, false, `message ${i} type`);
          assert.strictEqual(data.toString('utf8'), m, `text echo of ${m.length} chars`);
        } else {
          assert.strictEqual(isBinary, true, `message ${i} type`);
          assert.ok(Buffer.compare(data, m) === 0, `binary echo of ${m.length} bytes`);
        }
        i++;
        next();
      } catch (e) {
        reject(e);
      }
    });
    ws.on('error', reject);
    ws.on('close', (code) => { if (i < all.length) reject(new Error(`closed early: ${code}`)); });
    next();
  });
}

// `syncws serve --echo`, resolved with its URL once it prints it.
function startServe() {
  return new Promise((resolve, reject) => {
    const proc = spawn(TOOL, ['serve', '--echo', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (ws:\/\/\S+)/);
      if (match) resolve({ proc, url: match[1] });
    });
    proc.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

function runTool(args) {
  return new Promise((resolve) => {
    const proc = spawn(TOOL, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    proc.stdout.on('data', (c) => { out += c; });
    proc.stderr.on('data', (c) => { err += c; });
    proc.on('exit', (status) => resolve({ status, out, err }));
  });
}

// The offers `ws` clients can make, each against our server's defaults (12-bit windows).
const CLIENT_OFFERS = [
  {},
  { serverNoContextTakeover: true },
  { clientNoContextTakeover: true },
  { serverNoContextTakeover: true, clientNoContextTakeover: true },
  { serverMaxWindowBits: 9 },
  { serverMaxWindowBits: 10, clientMaxWindowBits: 9 },
  { clientMaxWindowBits: 15 },
  { clientMaxWindowBits: false },
];

async function nodeClientsAgainstServe() {
  const { proc, url } = await startServe();
  try {
    for (const [n, offer] of CLIENT_OFFERS.entries()) {
      const ws = new WebSocket(url, { perMessageDeflate: { ...offer, threshold: 0 }, maxPayload: 32 * MIB });
      await withTimeout(new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); }),
                        'open');
      const accepted = ws.extensions;
      assert.ok(accepted.startsWith('permessage-deflate'), `extension accepted for ${JSON.stringify(offer)}: ${accepted}`);
      await withTimeout(exchange(ws, messages(n === 0 ? 16 * MIB : MIB)), `exchange ${JSON.stringify(offer)}`);
      const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve([code, reason.toString()])));
      ws.close(1000, 'done');
      assert.deepStrictEqual(await withTimeout(closed, 'close'), [1000, 'done']);
      console.log(`ok   node client ${JSON.stringify(offer)} -> ${accepted}`);
    }
  } finally {
    proc.kill('SIGTERM');
  }
}

// The answers `ws` servers can give, each against our client's default offer.
const SERVER_ANSWERS = [
  {},
  { serverNoContextTakeover: true },
  { clientNoContextTakeover: true },
  { serverMaxWindowBits: 9 },
  { clientMaxWindowBits: 9 },
  { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
];

async function echoClientAgainstNodeServers() {
  for (const [n, answer] of SERVER_ANSWERS.entries()) {
    const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, perMessageDeflate: { ...answer, threshold: 0 },
                                      maxPayload: 32 * MIB });
    await new Promise((resolve) => wss.on('listening', resolve));
    const url = `ws://127.0.0.1:${wss.address().port}/`;
    const served = new Promise((resolve, reject) => {
      wss.on('connection', async (ws, request) => {
        try {
          assert.ok((request.headers['sec-websocket-extensions'] || '').includes('permessage-deflate'));
          assert.ok(ws.extensions.startsWith('permessage-deflate'), `accepted: ${ws.extensions}`);
          await exchange(ws, messages(n === 0 ? 16 * MIB : MIB));
          ws.close(1000, 'bye');
          ws.on('close', (code) => resolve(code));
        } catch (e) {
          reject(e);
        }
      });
    });
    const tool = runTool(['echo-client', url, '--max-size', String(17 * MIB)]);
    const code = await withTimeout(served, `node server ${JSON.stringify(answer)}`);
    const { status, out, err } = await withTimeout(tool, 'echo-client');
    assert.deepStrictEqual({ status, out, err }, { status: 0, out: '', err: '' });
    assert.strictEqual(code, 1000);
    await new Promise((resolve) => wss.close(resolve));
    console.log(`ok   node server ${JSON.stringify(answer)}`);
  }
}

(async () => {
  await nodeClientsAgainstServe();
  await echoClientAgainstNodeServers();
  console.log('all passed');
})().catch((e) => {
  console.error('FAIL', e);
  process.exit(1);
});
