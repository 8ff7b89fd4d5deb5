// The Node `ws` side of the interop matrix: plays the "peer" side of scenario.json (read it
// first) against interop_peer, as client or as server, with the same arguments:
//
//   node node_peer.js server SCENARIO --deflate on|off --expect-deflate yes|no [--cert F --key F]
//   node node_peer.js client SCENARIO URL --deflate on|off --expect-deflate yes|no [--ca F]
//
// The server prints "listening on URL", serves until stdin ends and exits 0 if every session
// was served and passed its checks. Needs `npm ci` in tests/interop; without ws it exits 77.
'use strict';

const assert = require('assert');
const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');

let WebSocket;
try {
  WebSocket = require(path.join(__dirname, 'node_modules', 'ws'));
} catch (e) {
  console.log('skipped: npm package ws is missing (run npm ci in tests/interop)');
  process.exit(77);
}

const ME = 'peer';

// A message's contents as scenario.json defines them, as a Buffer (text as UTF-8).
function content(scenario, kind, size, seed) {
  const out = Buffer.alloc(size);
  if (kind === 'binary') {
    for (let k = 0; k < size; k++) out[k] = (seed + k) % 256;
    return out;
  }
  const units = scenario.text_units.map((u) => Buffer.from(u, 'utf8'));
  const n = units.length;
  const cycle = Buffer.concat(units.map((_, k) => units[(seed + k) % n]));
  let length = 0;
  while (length + cycle.length <= size) length += cycle.copy(out, length);
  for (let k = 0; ; k++) {
    const unit = units[(seed + k) % n];
    if (length + unit.length > size) break;
    length += unit.copy(out, length);
  }
  out.fill('.', length);
  return out;
}

function describe(step) {
  for (const kind of ['message', 'fragments', 'ping', 'close'])
    if (kind in step) return `${step.from} ${kind} ${step[kind]}`;
  return JSON.stringify(step);
}

function difference(expected, got) {
  let at = 0;
  while (at < expected.length && at < got.length && expected[at] === got[at]) at++;
  return `expected ${expected.length} bytes, got ${got.length}; first difference at byte ${at}`;
}

function withTimeout(promise, seconds, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`nothing within ${seconds} s: ${what}`)), seconds * 1000);
    }),
  ]);
}

// What arrives on a connection, in order, for the player to take one at a time.
class Inbox {
  constructor(ws) {
    this.items = [];
    this.waiters = [];
    this.pings = [];
    ws.on('message', (data, isBinary) => this.push({ kind: 'message', data, isBinary }));
    ws.on('close', (code, reason) => this.push({ kind: 'close', code, reason: reason.toString() }));
    ws.on('error', (error) => this.push({ kind: 'error', error }));
    ws.on('ping', (data) => this.pings.push(Buffer.from(data)));
  }

  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(seconds, what) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return withTimeout(new Promise((resolve) => this.waiters.push(resolve)), seconds, what);
  }
}

class Player {
  constructor(scenario, ws, inbox) {
    this.scenario = scenario;
    this.ws = ws;
    this.inbox = inbox;
    this.timeout = scenario.step_timeout_seconds;
  }

  async play(session) {
    for (const [i, step] of session.steps.entries()) {
      try {
        if ('close' in step) this.checkPings(session, i);
        if (step.from === ME) await this.act(step, i);
        else await this.observe(step, i);
      } catch (e) {
        throw new Error(`step ${i} (${describe(step)}): ${e.message}`);
      }
    }
  }

  // Node shows incoming pings: those of the other side so far, in order, payloads intact.
  checkPings(session, end) {
    const expected = session.steps.slice(0, end).map((step, i) => [step, i])
      .filter(([step]) => 'ping' in step && step.from !== ME)
      .map(([step, i]) => content(this.scenario, 'text', step.ping, i).toString());
    assert.deepStrictEqual(this.inbox.pings.map((p) => p.toString()), expected, 'pings received');
  }

  send(data, options) {
    return new Promise((resolve, reject) => this.ws.send(data, options, (e) => (e ? reject(e) : resolve())));
  }

  async act(step, i) {
    const ws = this.ws;
    if ('message' in step) {
      await this.send(content(this.scenario, step.message, step.size, i), { binary: step.message === 'binary' });
    } else if ('fragments' in step) {
      // One frame per call with fin: false; the first call's type is the message's.
      for (const [j, size] of step.sizes.entries()) {
        await this.send(content(this.scenario, step.fragments, size, i + j),
                        { binary: step.fragments === 'binary', fin: j === step.sizes.length - 1 });
      }
    } else if ('ping' in step) {
      const payload = content(this.scenario, 'text', step.ping, i);
      const pong = new Promise((resolve) => ws.once('pong', resolve));
      ws.ping(payload);
      const got = await withTimeout(pong, this.timeout, 'pong');
      assert.ok(got.equals(payload), `pong payload ${JSON.stringify(got.toString())}`);
    } else if ('close' in step) {
      ws.close(step.close, step.reason);
      const item = await this.inbox.next(this.timeout, 'the close answer');
      assert.strictEqual(item.kind, 'close', `got ${item.kind} instead of the close answer`);
      assert.deepStrictEqual([item.code, item.reason], [step.close, step.reason], 'the close was answered with');
    }
  }

  async observe(step, i) {
    if ('message' in step || 'fragments' in step) {
      const kind = step.message || step.fragments;
      const expected = 'message' in step
        ? content(this.scenario, kind, step.size, i)
        : Buffer.concat(step.sizes.map((size, j) => content(this.scenario, kind, size, i + j)));
      const item = await this.inbox.next(this.timeout, 'a message');
      if (item.kind === 'error') throw item.error;
      assert.strictEqual(item.kind, 'message', `got ${item.kind} ${item.code || ''} instead of a message`);
      assert.strictEqual(item.isBinary, kind === 'binary', 'message type (binary?)');
      assert.ok(Buffer.from(item.data).equals(expected), difference(expected, Buffer.from(item.data)));
    } else if ('close' in step) {
      const item = await this.inbox.next(this.timeout, 'the close');
      assert.strictEqual(item.kind, 'close', `got ${item.kind} instead of the close`);
      assert.deepStrictEqual([item.code, item.reason], [step.close, step.reason], 'received close');
    }
    // A ping is answered by ws on its own (and recorded by the inbox for checkPings).
  }
}

// What the opening handshake settled, seen from this side: the response's
// Sec-WebSocket-Extensions (received by a client, sent by a server) and the subprotocol.
function checkHandshake(ws, session, extensions, expectDeflate, side, offered) {
  const deflate = typeof extensions === 'string' && extensions.startsWith('permessage-deflate');
  assert.strictEqual(deflate, expectDeflate, `Sec-WebSocket-Extensions ${side === 'server' ? 'sent' : 'received'}: ${extensions}`);
  assert.strictEqual(ws.protocol || null, session.expect_subprotocol || null, 'subprotocol');
  if (offered !== undefined) assert.deepStrictEqual(offered, session.subprotocols, 'subprotocols the client offered');
  return `extensions: ${extensions || '(none)'}; subprotocol: ${ws.protocol || '(none)'}`;
}

function log(text) {
  process.stderr.write(`node ${text}\n`);
}

function deflateOption(args) {
  // threshold 0: compress every message, even the empty one.
  return args.deflate === 'on' ? { threshold: 0 } : false;
}

// ---------------------------------------------------------------- client

function rejected(url, options, seconds) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [], options);
    ws.on('unexpected-response', (req, res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() });
        req.destroy();
      });
    });
    ws.on('open', () => reject(new Error('the server accepted the connection')));
    ws.on('error', reject);
  }), seconds, 'the rejection');
}

async function runClient(scenario, args) {
  const base = args.url.replace(/\/+$/, '');
  const options = {
    ca: args.ca ? fs.readFileSync(args.ca) : undefined,
    perMessageDeflate: deflateOption(args),
    maxPayload: scenario.max_message_size,
    handshakeTimeout: scenario.step_timeout_seconds * 1000,
  };
  for (const session of scenario.sessions) {
    try {
      if (session.reject) {
        const got = await rejected(base + session.path, options, scenario.step_timeout_seconds);
        assert.deepStrictEqual(got, { status: session.reject.status, body: session.reject.body }, 'response');
        log(`client, session ${session.path}: rejected with ${got.status} and the expected body`);
        continue;
      }
      const ws = new WebSocket(base + session.path, session.subprotocols, options);
      const inbox = new Inbox(ws);
      let extensions;
      ws.on('upgrade', (res) => { extensions = res.headers['sec-websocket-extensions']; });
      await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
                        scenario.step_timeout_seconds, 'open');
      const seen = checkHandshake(ws, session, extensions, args.expectDeflate === 'yes', 'client');
      await new Player(scenario, ws, inbox).play(session);
      log(`client, session ${session.path}: ${seen}`);
    } catch (e) {
      log(`client, session ${session.path}: FAILED: ${e.stack || e}`);
      return 1;
    }
  }
  return 0;
}

// ---------------------------------------------------------------- server

async function runServer(scenario, args) {
  const sessions = new Map(scenario.sessions.map((s) => [s.path, s]));
  const served = new Set();
  const failures = [];
  const server = args.cert
    ? https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) })
    : http.createServer();
  const wss = new WebSocket.Server({
    server,
    perMessageDeflate: deflateOption(args),
    maxPayload: scenario.max_message_size,
    handleProtocols: (offered) => scenario.server_subprotocols.find((p) => offered.has(p)) || false,
    verifyClient: (info, answer) => {
      const session = sessions.get(info.req.url);
      if (!session || !session.reject) return answer(true);
      served.add(session.path);
      log(`server, session ${session.path}: rejected with ${session.reject.status}`);
      answer(false, session.reject.status, session.reject.body, { 'Content-Type': 'text/plain; charset=utf-8' });
    },
  });
  // The response head as sent, for checkHandshake.
  wss.on('headers', (headers, req) => { req.responseHead = headers; });
  wss.on('connection', async (ws, req) => {
    const inbox = new Inbox(ws);
    try {
      const session = sessions.get(req.url);
      assert.ok(session, `no session for ${req.url}`);
      const line = req.responseHead.find((h) => /^sec-websocket-extensions:/i.test(h));
      const extensions = line && line.replace(/^[^:]*:\s*/, '');
      const offered = (req.headers['sec-websocket-protocol'] || '').split(',').map((p) => p.trim()).filter((p) => p);
      const seen = checkHandshake(ws, session, extensions, args.expectDeflate === 'yes', 'server', offered);
      await new Player(scenario, ws, inbox).play(session);
      log(`server, session ${req.url}: ${seen}`);
      served.add(req.url);
    } catch (e) {
      log(`server, session ${req.url}: FAILED: ${e.stack || e}`);
      failures.push(`session ${req.url}: ${e.message}`);
      ws.terminate();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`listening on ${args.cert ? 'wss' : 'ws'}://127.0.0.1:${server.address().port}\n`);
  // matrix.py closes stdin once the client is done (and kills us if that never happens).
  await new Promise((resolve) => { process.stdin.on('end', resolve); process.stdin.resume(); });
  for (const session of scenario.sessions)
    if (!served.has(session.path) && failures.length === 0) failures.push(`session ${session.path} never came`);
  for (const failure of failures) log(`server: FAILED: ${failure}`);
  return failures.length ? 1 : 0;
}

function parseArguments(argv) {
  const [role, scenario, ...rest] = argv;
  const args = { role, scenario };
  if (role === 'client') args.url = rest.shift();
  else if (role !== 'server') throw new Error(`unknown role ${role}`);
  const names = { '--deflate': 'deflate', '--expect-deflate': 'expectDeflate', '--cert': 'cert', '--key': 'key', '--ca': 'ca' };
  for (let i = 0; i < rest.length; i += 2) {
    if (!(rest[i] in names) || i + 1 === rest.length) throw new Error(`bad argument ${rest[i]}`);
    args[names[rest[i]]] = rest[i + 1];
  }
  if (!args.scenario || !args.deflate || !args.expectDeflate || (role === 'client' && !args.url))
    throw new Error('usage: node_peer.js server|client SCENARIO [URL] --deflate on|off --expect-deflate yes|no');
  return args;
}

(async () => {
  const args = parseArguments(process.argv.slice(2));
  const scenario = JSON.parse(fs.readFileSync(args.scenario, 'utf8'));
  process.exit(args.role === 'client' ? await runClient(scenario, args) : await runServer(scenario, args));
})().catch((e) => {
  log(`FAILED: ${e.stack || e}`);
  process.exit(1);
});
