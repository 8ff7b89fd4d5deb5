"""Tests of the syncws command-line tool: connect, serve, echo-client, also over wss://.

Run: /usr/bin/python3 tests/sync/cli_test.py PATH-TO-SYNCWS (meson does this). Loopback
only, ports chosen by the OS, every step bounded by a timeout. Python `websockets` plays
the peer where the tool's own server cannot (binary messages, server-side closes); a few
lines of raw WebSocket play a server that talks during the closing handshake, which
`websockets` never does, and a few lines of HTTP play a proxy that refuses.
"""

import base64
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from cli_support import (TIMEOUT, PythonServer, Tool, ToolServer, expect_equal, run_async,
                         run_tests, run_tool, test_certificates, tool_path, websockets)

MIB = 1024 * 1024
DEFAULT_MAX_SIZE = 16 * MIB


# ---------------------------------------------------------------- usage

def test_help_and_usage_errors():
    status, out, _ = run_tool("--help")
    expect_equal(status, 0, "--help exit status")
    assert out.startswith("usage: syncws"), out
    for args, complaint in [
        ((), "missing command"),
        (("frobnicate",), "unknown command"),
        (("connect",), "missing URL"),
        (("connect", "ws://127.0.0.1:1/", "--host", "x"), "does not apply"),
        (("connect", "ws://a/", "ws://b/"), "unexpected argument"),
        (("connect", "ws://a/", "--header", "no colon"), "--header"),
        (("connect", "ws://a/", "--subprotocol"), "needs a value"),
        (("connect", "http://127.0.0.1/"), "scheme"),
        (("serve", "--port", "0"), "--echo or --broadcast"),
        (("serve", "--echo", "--broadcast"), "one of"),
        (("serve", "--echo", "--port", "65536"), "--port"),
        (("serve", "--echo", "--max-size", "0"), "--max-size"),
        (("serve", "--echo", "--max-size", "12x"), "--max-size"),
        (("serve", "--echo", "--unix", "/tmp/x", "--port", "1"), "--unix"),
        (("serve", "--echo=yes"), "takes no value"),
        (("serve", "--echo", "--ca", "ca.pem"), "does not apply"),
        (("serve", "--echo", "--insecure"), "does not apply"),
        (("serve", "--echo", "--proxy", "http://p:3128"), "does not apply"),
        (("serve", "--echo", "--tls-key", "key.pem"), "need --tls-cert"),
        (("serve", "--echo", "--tls-client-ca", "ca.pem"), "need --tls-cert"),
        (("connect", "wss://a/", "--tls-cert", "cert.pem"), "does not apply"),
        (("echo-client", "wss://a/", "--tls-client-ca", "ca.pem"), "does not apply"),
        (("connect", "wss://a/", "--insecure=yes"), "takes no value"),
        (("connect", "wss://a/", "--insecure", "--ca", "ca.pem"), "choose one"),
        (("echo-client", "wss://a/", "--key", "key.pem"), "--key needs --cert"),
        (("connect", "wss://a/", "--ca"), "needs a value"),
    ]:
        status, out, err = run_tool(*args)
        expect_equal(status, 2, f"exit status of {args}")
        assert err.startswith("syncws: ") and complaint in err, f"{args}: {err!r}"
        expect_equal(out, "", f"stdout of {args}")


# ---------------------------------------------------------------- connect + serve --echo

def test_connect_to_serve_echo():
    with ToolServer("--echo", "--port", "0") as server, Tool("connect", server.url) as client:
        for line in ["hello", "héllo wörld ✓", "", "  spaces kept  "]:
            client.write_line(line)
            expect_equal(client.read_line(), line, "echo")
        client.close_stdin()
        status, rest, err = client.wait()
        expect_equal((status, rest, err), (0, [], ""), "connect after the end of stdin")
        expect_equal(server.stop(), 0, "serve exit status")


def test_connect_sends_crlf_lines_and_a_last_line_without_newline():
    # What the server received is checked, not echoes: a server answers a close frame
    # at once, so echoes of lines sent just before the end of stdin may never come.
    received = []

    async def handler(ws):
        async for m in ws:
            received.append(m)

    with PythonServer(handler) as server:
        status, out, err = run_tool("connect", server.url, input_text="one\r\ntwo\n\nthree")
        server.check()
    expect_equal(received, ["one", "two", "", "three"], "messages received by the server")
    expect_equal((status, err), (0, ""), "connect")


def test_unix_socket():
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "echo.sock")
        with ToolServer("--echo", "--unix", path) as server:
            expect_equal(server.url, "unix:" + path, "printed address")
            with Tool("connect", "--unix", path, "ws://localhost/") as client:
                client.write_line("over a Unix socket")
                expect_equal(client.read_line(), "over a Unix socket", "echo")
                client.close_stdin()
                expect_equal(client.wait()[0], 0, "connect exit status")
            expect_equal(server.stop(), 0, "serve exit status")


# ---------------------------------------------------------------- connect against Python

def test_connect_prints_binary_and_server_close():
    async def handler(ws):
        await ws.send(b"\x00\x01\xff")
        await ws.send(b"")
        await ws.send(bytes(range(100)))
        await ws.send("text after binary")
        await ws.close(1000, "that is all")

    with PythonServer(handler) as server, Tool("connect", server.url) as client:
        # stdin stays open: the server's close alone must end the tool.
        status, lines, err = client.wait()
        server.check()
    preview = " ".join(f"{b:02x}" for b in range(64))
    expect_equal((status, lines, err),
                 (0, ["<binary 3 bytes> 00 01 ff",
                      "<binary 0 bytes>",
                      f"<binary 100 bytes> {preview} ...",
                      "text after binary"], ""),
                 "printed messages and the exit after the server's clean close")


def test_connect_reports_an_error_close():
    async def handler(ws):
        await ws.close(1011, "boom")

    with PythonServer(handler) as server, Tool("connect", server.url) as client:
        status, lines, err = client.wait()
        server.check()
    expect_equal(lines, [], "stdout")
    assert status == 1, status
    assert err.startswith("syncws: connection closed:") and "1011" in err and "boom" in err, err


def test_connect_refused():
    with socket.socket() as probe:  # a port that was free a moment ago and is closed now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, out, err = run_tool("connect", f"ws://127.0.0.1:{port}/")
    assert status == 1, status
    expect_equal(out, "", "stdout")
    assert err.startswith("syncws: cannot connect") and "refused" in err.lower(), err


def test_connect_headers_and_subprotocol():
    async def handler(ws):
        await ws.send(ws.request_headers.get("X-Test", "(no X-Test)"))
        await ws.send(ws.subprotocol or "(no subprotocol)")
        await ws.close()

    with PythonServer(handler, subprotocols=["chat"]) as server, \
            Tool("connect", server.url, "--header", "X-Test:  42 ", "--subprotocol", "other",
                 "--subprotocol=chat") as client:
        # stdin stays open, so the tool does not close before the server spoke.
        status, lines, err = client.wait()
        server.check()
    expect_equal((status, lines, err), (0, ["42", "chat"], ""), "connect")


def accepting_response(conn):
    """Reads a client's opening request; returns the 101 response that accepts it."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        assert chunk, "the client closed during the handshake"
        request += chunk
    key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", request).group(1)
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")


def receive_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, "the client closed in the middle of a frame"
        data += chunk
    return data


def receive_frame(conn):
    """One masked client frame: (opcode, payload)."""
    first, second = receive_exactly(conn, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", receive_exactly(conn, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", receive_exactly(conn, 8))[0]
    mask = receive_exactly(conn, 4)
    payload = receive_exactly(conn, length)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def receive_close(conn):
    """Skips client frames up to its close frame; returns the close payload."""
    while (frame := receive_frame(conn))[0] != 0x8:
        pass
    return frame[1]


def server_frame(opcode, payload):
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


def connect_to_raw_server(script):
    """Runs `syncws connect` (stdin empty) against a server written out by hand, for what
    `websockets` never does: script(conn, response) talks to the one client over the socket,
    response being the 101 answer it has to send, and returns what the test checks.
    The server closes TCP first (RFC 6455 §7.1.1), when the script returns.
    Returns (exit status, stdout, stderr, what the script returned)."""
    result = {}

    def serve_one(listener):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                result["script"] = script(conn, accepting_response(conn))
            except Exception as e:  # shown by the test's check of what the script returned
                result["script"] = f"the server script failed: {e!r}"

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        thread = threading.Thread(target=serve_one, args=(listener,), daemon=True)
        thread.start()
        status, out, err = run_tool("connect", f"ws://127.0.0.1:{listener.getsockname()[1]}/")
        thread.join(TIMEOUT)
    return status, out, err, result.get("script")


def test_connect_prints_messages_during_the_closing_handshake():
    # Once the client's close frame came, the server still sends messages before it answers
    # the close: the tool (stdin empty, so it closes at once) must print them.
    def script(conn, response):
        conn.sendall(response)
        close = receive_close(conn)
        for opcode, payload in [(0x1, b"late 1"), (0x1, b"late 2"), (0x2, b"\x01")]:
            conn.sendall(server_frame(opcode, payload))
        conn.sendall(server_frame(0x8, close))
        return close

    status, out, err, close = connect_to_raw_server(script)
    expect_equal(close, struct.pack("!H", 1000), "close frame sent by the tool")
    expect_equal((status, out, err), (0, "late 1\nlate 2\n<binary 1 bytes> 01\n", ""), "connect")


def test_connect_when_messages_and_close_come_with_the_handshake_response():
    # A server may write its 101 response, messages and its close frame at once; the client
    # then reads them all with the response. The connection must open all the same.
    def script(conn, response):
        conn.sendall(response + server_frame(0x1, b"hi") + server_frame(0x1, b"there") +
                     server_frame(0x8, struct.pack("!H", 1000) + b"done"))
        return receive_close(conn)

    status, out, err, close = connect_to_raw_server(script)
    expect_equal((status, out, err), (0, "hi\nthere\n", ""), "connect")
    expect_equal(close, struct.pack("!H", 1000) + b"done", "close frame echoed by the tool")


# ---------------------------------------------------------------- serve

def test_signals_stop_serve():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with ToolServer("--echo", "--port", "0") as server:
            expect_equal(server.stop(sig), 0, f"exit status after {sig.name}")


def test_sigterm_closes_open_connections_with_1001():
    with ToolServer("--echo", "--port", "0") as server:
        async def client():
            async with websockets.connect(server.url) as ws:
                await ws.send("still here")
                expect_equal(await ws.recv(), "still here", "echo")
                server.proc.send_signal(signal.SIGTERM)
                await ws.wait_closed()
                return ws.close_code

        expect_equal(run_async(client()), 1001, "close code seen by the client")
        status, _, _ = server.wait()
        expect_equal(status, 0, "serve exit status")


def open_plain_client(url):
    """A connected socket past the opening handshake, offering no extension."""
    host, port = re.fullmatch(r"ws://([\d.]+):(\d+)/?", url).groups()
    conn = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16))
    conn.sendall(b"GET / HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() +
                 b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                 b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = conn.recv(4096)
        assert chunk, "the server closed during the handshake"
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    return conn


def thread_stacks_resident(pid, tasks):
    """Resident KiB of the stack of each of the threads `tasks` of process pid, found by
    the stack pointer of the system call each is blocked in."""
    mappings = []  # (start, end, rss KiB)
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
            if head:
                mappings.append([int(head.group(1), 16), int(head.group(2), 16), 0])
            elif line.startswith("Rss:"):
                mappings[-1][2] = int(line.split()[1])
    stacks = []
    for task in tasks:
        deadline = time.monotonic() + TIMEOUT
        while True:  # a thread that is running shows no stack pointer: wait
            with open(f"/proc/{pid}/task/{task}/syscall") as f:
                fields = f.read().split()  # number, 6 arguments, stack pointer, program counter
            if len(fields) == 9 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert len(fields) == 9, f"thread {task} is never blocked in a system call: {fields}"
        sp = int(fields[7], 16)
        stacks += [rss for start, end, rss in mappings if start <= sp < end]
    return stacks


def why_stack_pages_are_not_comparable():
    """Why the tool's thread stacks cannot be held to a page count here, or None."""
    libraries = subprocess.run(["ldd", tool_path()], capture_output=True, text=True).stdout
    if "libasan" in libraries or "libtsan" in libraries:
        return "a sanitizer's frames are larger"
    options = os.path.join(os.path.dirname(tool_path()), "..", "meson-info", "intro-buildoptions.json")
    if os.path.exists(options):
        with open(options) as f:
            if any(o["name"] == "optimization" and o["value"] in ("0", "g")
                   for o in json.load(f)):
                return "an unoptimized build's frames are larger"
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            if "[always]" in f.read():
                return "transparent huge pages may back whole stacks"
    except OSError:
        pass
    return None


def test_serve_keeps_two_pages_of_stack_per_idle_connection():
    # A worker waiting on an idle connection keeps resident every page of stack it ever
    # touched, so a frame deeper than two pages anywhere in the handshake or an echo costs
    # 4 KiB per idle connection (docs/performance.md, (f)): formatting the peer's address
    # with inet_ntop() (sprintf()) on the worker once did. The first worker alone also runs
    # the dynamic linker's first calls of each function, which go deeper; so it and the
    # threads there before it (the accept thread, the monitor) are left out.
    reason = why_stack_pages_are_not_comparable()
    if reason:
        print(f"  skipped: {reason}")
        return
    clients = []

    def open_and_echo():
        clients.append(open_plain_client(server.url))
        clients[-1].sendall(bytes([0x81, 0x80 | 5]) + b"\0\0\0\0" + b"hello")
        expect_equal(receive_exactly(clients[-1], 7), bytes([0x81, 5]) + b"hello", "echo")

    with ToolServer("--echo", "--port", "0") as server:
        try:
            open_and_echo()
            threads_before = set(os.listdir(f"/proc/{server.proc.pid}/task"))
            for _ in range(7):
                open_and_echo()
            workers = set(os.listdir(f"/proc/{server.proc.pid}/task")) - threads_before
            expect_equal(len(workers), 7, "new threads for 7 more connections")
            try:
                stacks = thread_stacks_resident(server.proc.pid, workers)
            except PermissionError:  # /proc/PID/task/TID/syscall needs ptrace's permission
                print("  skipped: /proc does not show the server's system calls here")
                return
            page_kib = os.sysconf("SC_PAGESIZE") // 1024
            assert len(stacks) == 7 and max(stacks) <= 2 * page_kib, \
                f"resident KiB of the workers' stacks: {stacks}"
        finally:
            for c in clients:
                c.close()
        server.stop()


def test_broadcast_relays_between_clients():
    with ToolServer("--broadcast", "--port", "0") as server, \
            Tool("connect", server.url) as a, Tool("connect", server.url) as b:
        # Each client sees its own message once the server counts it among the clients.
        a.write_line("a is here")
        a.read_until("a is here")
        b.write_line("b is here")
        b.read_until("b is here")
        a.write_line("hello from a")
        b.read_until("hello from a")
        b.write_line("hello from b")
        a.read_until("hello from b")
        for client in (a, b):
            client.close_stdin()
            expect_equal(client.wait()[0], 0, "connect exit status")
        expect_equal(server.stop(), 0, "serve exit status")


def size_limit_check(url, allowed):
    """A Python client sends a binary message of `allowed` bytes, which must come back,
    then one byte more, which must close the connection with 1009."""
    async def client():
        async with websockets.connect(url, max_size=None) as ws:
            payload = os.urandom(allowed)
            await ws.send(payload)
            echo = await ws.recv()
            expect_equal((len(echo), echo == payload), (allowed, True),
                         "echo of the largest message")
            await ws.send(bytes(allowed + 1))
            try:
                await ws.recv()
            except websockets.ConnectionClosedError as e:
                return e.rcvd.code if e.rcvd else None
            return "no close"

    expect_equal(run_async(client()), 1009, "close code after a message one byte too big")


def test_serve_default_max_size_is_16_mib():
    with ToolServer("--echo", "--port", "0") as server:
        size_limit_check(server.url, DEFAULT_MAX_SIZE)
        expect_equal(server.stop(), 0, "serve exit status")


def test_serve_max_size_option():
    with ToolServer("--echo", "--port", "0", "--max-size", "1000") as server:
        size_limit_check(server.url, 1000)
        expect_equal(server.stop(), 0, "serve exit status")


# ---------------------------------------------------------------- wss://

def tls_serve_arguments(*extra):
    certs = test_certificates()
    return ("--echo", "--port", "0", "--tls-cert", certs.server_cert, "--tls-key", certs.server_key,
            *extra)


def check_connect_echo(url, *options):
    """`syncws connect URL OPTIONS` sends a line, gets its echo and closes cleanly. (The
    echo is awaited before stdin ends: a server answers a close at once, so an echo still
    in flight then would never come.)"""
    with Tool("connect", url, *options) as client:
        client.write_line("over TLS ✓")
        expect_equal(client.read_line(), "over TLS ✓", "echo")
        client.close_stdin()
        expect_equal(client.wait(), (0, [], ""), "connect after the end of stdin")


def test_serve_tls_and_connect_with_ca():
    with ToolServer(*tls_serve_arguments()) as server:
        assert server.url.startswith("wss://127.0.0.1:"), server.url
        check_connect_echo(server.url, "--ca", test_certificates().ca)
        expect_equal(server.stop(), 0, "serve exit status")


def test_connect_refuses_an_unknown_ca_unless_insecure():
    with ToolServer(*tls_serve_arguments()) as server:
        status, out, err = run_tool("connect", server.url)  # the system store only
        expect_equal((status, out), (1, ""), "connect without --ca")
        expect_equal(err, "syncws: certificate verify failed for 127.0.0.1: the certificate is "
                          "issued by an untrusted CA (CN=syncws test CA)\n", "stderr")
        check_connect_echo(server.url, "--insecure")
        expect_equal(server.stop(), 0, "serve exit status")


def test_mutual_tls():
    certs = test_certificates()
    with ToolServer(*tls_serve_arguments("--tls-client-ca", certs.ca)) as server:
        status, _, err = run_tool("echo-client", server.url, "--ca", certs.ca)
        assert status == 1 and "the server requires a client certificate" in err, (status, err)
        check_connect_echo(server.url, "--ca", certs.ca, "--cert", certs.client_cert,
                           "--key", certs.client_key)
        expect_equal(server.stop(), 0, "serve exit status")


def test_serve_with_a_certificate_that_cannot_be_loaded():
    missing = os.path.join(tempfile.gettempdir(), "syncws-no-such-certificate.pem")
    status, out, err = run_tool("serve", "--echo", "--port", "0", "--tls-cert", missing)
    expect_equal((status, out), (1, ""), "serve exit status and stdout")
    expect_equal(err, f"syncws: cannot load the certificate chain {missing}: "
                      "No such file or directory\n", "stderr")


def test_echo_client_over_tls_against_python():
    certs = test_certificates()

    async def handler(ws):
        for m in ["text over TLS", b"\x00\x01binary"]:
            await ws.send(m)
            expect_equal(await ws.recv(), m, "echo")
        await ws.close()

    with PythonServer(handler, ssl=certs.server_context()) as server:
        status, out, err = run_tool("echo-client", server.url, "--ca", certs.ca)
        server.check()
    expect_equal((status, out, err), (0, "", ""), "echo-client over wss://")


# ---------------------------------------------------------------- --proxy

class RefusingProxy:
    """A listener that reads one HTTP request and answers 407: enough to see that the tool
    went to the proxy and what it asked for."""

    def __init__(self):
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.request_line = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        conn, _ = self._listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            head = b""
            while b"\r\n\r\n" not in head and (chunk := conn.recv(4096)):
                head += chunk
            self.request_line = head.split(b"\r\n")[0].decode()
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")

    def close(self):
        self._thread.join(TIMEOUT)
        self._listener.close()


def test_connect_goes_through_the_proxy_given():
    proxy = RefusingProxy()
    status, _, err = run_tool("connect", "ws://127.0.0.1:9/", "--proxy", proxy.url)
    proxy.close()
    expect_equal(proxy.request_line, "CONNECT 127.0.0.1:9 HTTP/1.1", "what the proxy was asked")
    assert status == 1 and "407" in err, (status, err)


def test_proxy_empty_means_none_whatever_the_environment_says():
    with ToolServer("--echo", "--port", "0") as server:
        environment = dict(os.environ, http_proxy="http://127.0.0.1:9",
                           all_proxy="http://127.0.0.1:9", no_proxy="")
        # stdin ends at once: a connection that opens and closes cleanly is the proof.
        done = subprocess.run([tool_path(), "connect", server.url, "--proxy", ""],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
                              env=environment)
        expect_equal((done.returncode, done.stdout, done.stderr), (0, b"", b""),
                     "connect --proxy ''")
        expect_equal(server.stop(), 0, "serve exit status")


# ---------------------------------------------------------------- echo-client

def test_echo_client():
    messages = ["one", b"\x00binary\xff", "", b"", "é" * MIB, os.urandom(DEFAULT_MAX_SIZE)]

    async def handler(ws):
        for m in messages:
            await ws.send(m)
            echo = await ws.recv()
            expect_equal((type(echo), len(echo), echo == m), (type(m), len(m), True), "echo")
        await ws.close(1000, "done")
        expect_equal(ws.close_code, 1000, "close code answered by echo-client")

    with PythonServer(handler, max_size=None) as server:
        status, out, err = run_tool("echo-client", server.url)
        server.check()
    expect_equal((status, out, err), (0, "", ""), "echo-client")


def test_echo_client_reports_an_error_close():
    async def handler(ws):
        await ws.close(1008, "policy")

    with PythonServer(handler) as server:
        status, _, err = run_tool("echo-client", server.url)
        server.check()
    assert status == 1 and "1008" in err, (status, err)


if __name__ == "__main__":
    run_tests([
        test_help_and_usage_errors,
        test_connect_to_serve_echo,
        test_connect_sends_crlf_lines_and_a_last_line_without_newline,
        test_unix_socket,
        test_connect_prints_binary_and_server_close,
        test_connect_reports_an_error_close,
        test_connect_refused,
        test_connect_headers_and_subprotocol,
        test_connect_prints_messages_during_the_closing_handshake,
        test_connect_when_messages_and_close_come_with_the_handshake_response,
        test_signals_stop_serve,
        test_sigterm_closes_open_connections_with_1001,
        test_serve_keeps_two_pages_of_stack_per_idle_connection,
        test_broadcast_relays_between_clients,
        test_serve_default_max_size_is_16_mib,
        test_serve_max_size_option,
        test_echo_client,
        test_echo_client_reports_an_error_close,
        test_serve_tls_and_connect_with_ca,
        test_connect_refuses_an_unknown_ca_unless_insecure,
        test_mutual_tls,
        test_serve_with_a_certificate_that_cannot_be_loaded,
        test_echo_client_over_tls_against_python,
        test_connect_goes_through_the_proxy_given,
        test_proxy_empty_means_none_whatever_the_environment_says,
    ])
