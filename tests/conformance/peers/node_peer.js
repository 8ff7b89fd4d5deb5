// A reference peer for the conformance harness: Node `ws` 8 (installed by npm into
// tests/interop/node_modules) as an echo server or an echo client, permessage-deflate on
// (its defaults), default size limit (100 MiB). maxFragments is lifted: ws 8.23 caps a
// message at 16384 fragments (1008 beyond), a DoS guard newer than Autobahn's cases 9.3.1 and
// 9.4.1, which send 65536 fragments of 64 bytes.
//
//   node_peer.js server        prints "listening on ws://127.0.0.1:PORT/", echoes until killed
//   node_peer.js client URL    echoes every message until the server closes; exit status 0
//                              after a clean close (1000/1001), 1 otherwise
'use strict';

const path = require('path');
const WebSocket = require(process.env.WS_MODULE ||
                          path.join(__dirname, '..', '..', 'interop', 'node_modules', 'ws'));

function echo(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});  // reported through 'close'
}

const [mode, url] = process.argv.slice(2);
if (mode === 'server') {
  const server = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true, maxFragments: 0 });
  server.on('listening', () => console.log(`listening on ws://127.0.0.1:${server.address().port}/`));
  server.on('connection', echo);
} else if (mode === 'client' && url) {
  const ws = new WebSocket(url, { perMessageDeflate: true, maxFragments: 0 });
  echo(ws);
  ws.on('close', (code) => process.exit(code === 1000 || code === 1001 ? 0 : 1));
} else {
  console.error('usage: node_peer.js server | client URL');
  process.exit(2);
}
