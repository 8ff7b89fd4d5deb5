"""The Python `websockets` side of the interop matrix: plays the "peer" side of scenario.json
(read it first) against interop_peer, as client or as server, with the same arguments:

  python_peer.py server SCENARIO --deflate on|off --expect-deflate yes|no [--cert F --key F]
  python_peer.py client SCENARIO URL --deflate on|off --expect-deflate yes|no [--ca F]

The server prints "listening on URL", serves until stdin ends and exits 0 if every session
was served and passed its checks. Uses the asyncio API of websockets 10.4 (Debian's
python3-websockets, importable from /usr/bin/python3 only); its sans-I/O client reads the
body of a rejected handshake, which the asyncio client does not keep.
"""

import argparse
import asyncio
import http
import json
import socket
import ssl
import sys

try:
    import websockets
    from websockets.client import ClientConnection
    from websockets.uri import parse_uri
except ImportError:
    print("skipped: the websockets module is missing (run with /usr/bin/python3 and install "
          "python3-websockets)")
    sys.exit(77)

ME = "peer"


def content(scenario, kind, size, seed):
    """A message's contents as scenario.json defines them (str for text, bytes for binary)."""
    if kind == "binary":
        block = bytes((seed + k) % 256 for k in range(256))
        return (block * (size // 256 + 1))[:size]
    units = scenario["text_units"]
    n = len(units)
    cycle = "".join(units[(seed + k) % n] for k in range(n))
    cycle_bytes = len(cycle.encode())
    out = cycle * (size // cycle_bytes)
    length = len(out.encode())
    k = 0
    while True:
        unit = units[(seed + k) % n]
        if length + len(unit.encode()) > size:
            break
        out += unit
        length += len(unit.encode())
        k += 1
    return out + "." * (size - length)


def describe(step):
    for kind in ("message", "fragments", "ping", "close"):
        if kind in step:
            return f"{step['from']} {kind} {step[kind]}"
    return repr(step)


def difference(expected, got):
    if type(expected) is not type(got):
        return f"expected {type(expected).__name__}, got {type(got).__name__}"
    at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
              min(len(expected), len(got)))
    return f"expected {len(expected)} items, got {len(got)}; first difference at {at}"


class Player:
    def __init__(self, scenario, ws):
        self.scenario = scenario
        self.ws = ws
        self.timeout = scenario["step_timeout_seconds"]

    async def play(self, session):
        for i, step in enumerate(session["steps"]):
            try:
                if step["from"] == ME:
                    await self.act(step, i)
                else:
                    await self.observe(step, i)
            except Exception as e:
                raise AssertionError(f"step {i} ({describe(step)}): {e!r}") from e

    async def act(self, step, i):
        ws = self.ws
        if "message" in step:
            await ws.send(content(self.scenario, step["message"], step["size"], i))
        elif "fragments" in step:
            # An iterable is sent as one frame per item (and an empty final frame).
            await ws.send([content(self.scenario, step["fragments"], size, i + j)
                           for j, size in enumerate(step["sizes"])])
        elif "ping" in step:
            # The waiter ends only on a pong whose payload equals this ping's (or a later one's).
            payload = content(self.scenario, "text", step["ping"], i).encode()
            await asyncio.wait_for(await ws.ping(payload), self.timeout)
        elif "close" in step:
            await asyncio.wait_for(ws.close(step["close"], step["reason"]), self.timeout)
            echo = (ws.close_rcvd.code, ws.close_rcvd.reason) if ws.close_rcvd else None
            assert echo == (step["close"], step["reason"]), f"the close was answered with {echo}"

    async def observe(self, step, i):
        ws = self.ws
        if "message" in step or "fragments" in step:
            if "message" in step:
                expected = content(self.scenario, step["message"], step["size"], i)
            else:
                parts = [content(self.scenario, step["fragments"], size, i + j)
                         for j, size in enumerate(step["sizes"])]
                expected = parts[0][:0].join(parts)
            got = await asyncio.wait_for(ws.recv(), self.timeout)
            assert got == expected, difference(expected, got)
        elif "close" in step:
            try:
                got = await asyncio.wait_for(ws.recv(), self.timeout)
                raise AssertionError(f"got a message of {len(got)} items instead of the close")
            except websockets.ConnectionClosed as e:
                wanted = (step["close"], step["reason"])
                seen = (e.rcvd.code, e.rcvd.reason) if e.rcvd else None
                assert seen == wanted, f"received close {seen}"
                assert e.rcvd_then_sent, "the close was not the peer's"
                answer = (e.sent.code, e.sent.reason) if e.sent else None
                assert answer == wanted, f"answered with {answer}"
        # A ping is answered by websockets on its own; it does not show incoming pings.


def check_handshake(ws, session, expect_deflate, server):
    """What the opening handshake settled, seen from this side (the response's
    Sec-WebSocket-Extensions: received by a client, sent by a server)."""
    extensions = ws.response_headers.get("Sec-WebSocket-Extensions")
    deflate = bool(extensions) and extensions.startswith("permessage-deflate")
    assert deflate == expect_deflate, \
        f"Sec-WebSocket-Extensions {'sent' if server else 'received'}: {extensions}"
    assert ws.subprotocol == session.get("expect_subprotocol"), f"subprotocol {ws.subprotocol}"
    if server:
        offered = [p.strip() for h in ws.request_headers.get_all("Sec-WebSocket-Protocol")
                   for p in h.split(",") if p.strip()]
        assert offered == session["subprotocols"], f"the client offered {offered}"
    return f"extensions: {extensions or '(none)'}; subprotocol: {ws.subprotocol or '(none)'}"


def log(text):
    print(f"python {text}", file=sys.stderr, flush=True)


def options(scenario, args):
    """What connect() and serve() share (only connect() has an open_timeout in 10.4)."""
    return dict(compression="deflate" if args.deflate == "on" else None,
                max_size=scenario["max_message_size"], ping_interval=None,
                close_timeout=scenario["step_timeout_seconds"])


# ---------------------------------------------------------------- client

def rejected_response(url, context, timeout):
    """The response to an opening request, read by websockets' sans-I/O client, which keeps
    the body of a response that is not 101."""
    wsuri = parse_uri(url)
    protocol = ClientConnection(wsuri)
    protocol.send_request(protocol.connect())
    with socket.create_connection((wsuri.host, wsuri.port), timeout=timeout) as raw:
        sock = context.wrap_socket(raw, server_hostname=wsuri.host) if context else raw
        for data in protocol.data_to_send():
            sock.sendall(data)
        while True:
            events = protocol.events_received()
            if events:
                return events[0]
            data = sock.recv(65536)
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
                events = protocol.events_received()
                assert events, "the server closed without a response"
                return events[0]


async def run_client(scenario, args):
    context = ssl.create_default_context(cafile=args.ca) if args.ca else None
    base = args.url.rstrip("/")
    for session in scenario["sessions"]:
        path = session["path"]
        try:
            if "reject" in session:
                response = await asyncio.get_running_loop().run_in_executor(
                    None, rejected_response, base + path, context, scenario["step_timeout_seconds"])
                wanted = session["reject"]
                seen = (response.status_code, response.body)
                assert seen == (wanted["status"], wanted["body"].encode()), f"response {seen}"
                log(f"client, session {path}: rejected with {response.status_code} and the expected body")
                continue
            async with websockets.connect(base + path, ssl=context,
                                          subprotocols=session["subprotocols"] or None,
                                          open_timeout=scenario["step_timeout_seconds"],
                                          **options(scenario, args)) as ws:
                seen = check_handshake(ws, session, args.expect_deflate == "yes", server=False)
                await Player(scenario, ws).play(session)
            log(f"client, session {path}: {seen}")
        except Exception as e:
            log(f"client, session {path}: FAILED: {e!r}")
            return 1
    return 0


# ---------------------------------------------------------------- server

async def run_server(scenario, args):
    sessions = {s["path"]: s for s in scenario["sessions"]}
    served, failures = set(), []

    async def process_request(path, headers):
        session = sessions.get(path)
        if session is None or "reject" not in session:
            return None
        served.add(path)
        log(f"server, session {path}: rejected with {session['reject']['status']}")
        # An HTTPStatus, not an int: websockets 10.4 writes status.value and status.phrase.
        return (http.HTTPStatus(session["reject"]["status"]),
                [("Content-Type", "text/plain; charset=utf-8")],
                session["reject"]["body"].encode())

    async def handler(ws):
        path = ws.path
        try:
            session = sessions[path]
            seen = check_handshake(ws, session, args.expect_deflate == "yes", server=True)
            await Player(scenario, ws).play(session)
            log(f"server, session {path}: {seen}")
            served.add(path)
        except Exception as e:
            log(f"server, session {path}: FAILED: {e!r}")
            failures.append(f"session {path}: {e!r}")

    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    async with websockets.serve(handler, "127.0.0.1", 0, ssl=context,
                                subprotocols=scenario["server_subprotocols"],
                                process_request=process_request,
                                **options(scenario, args)) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on {'wss' if context else 'ws'}://127.0.0.1:{port}", flush=True)
        # matrix.py closes stdin once the client is done (and kills us if that never happens).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    for session in scenario["sessions"]:
        if session["path"] not in served and not failures:
            failures.append(f"session {session['path']} never came")
    for failure in failures:
        log(f"server: FAILED: {failure}")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["client", "server"])
    parser.add_argument("scenario")
    parser.add_argument("url", nargs="?")
    parser.add_argument("--deflate", choices=["on", "off"], required=True)
    parser.add_argument("--expect-deflate", choices=["yes", "no"], required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    args = parser.parse_args()
    with open(args.scenario, encoding="utf-8") as f:
        scenario = json.load(f)
    if args.role == "client":
        sys.exit(asyncio.run(run_client(scenario, args)))
    sys.exit(asyncio.run(run_server(scenario, args)))


if __name__ == "__main__":
    main()
