"""Interop smoke test against Python `websockets` (Debian's python3-websockets 10.4,
asyncio API), in both directions, over ws:// and wss://: a Python client against
`syncws serve --echo`, and a Python server against `syncws echo-client` and
`syncws connect`. Over wss:// both sides verify certificates made for the test by a test CA.

Run: /usr/bin/python3 tests/sync/interop_python_test.py PATH-TO-SYNCWS (meson does this).
Loopback only, ports chosen by the OS, every step bounded by a timeout.
"""

import asyncio
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from cli_support import (PythonServer, Tool, ToolServer, expect_equal, run_async, run_tests,
                         run_tool, test_certificates, websockets)

MIB = 1024 * 1024

# Text and binary, empty and 1 MiB, multi-byte UTF-8, every byte value.
MESSAGES = ["hello", "héllo wörld ✓ 🎉", "", b"", bytes(range(256)),
            "x" * MIB, os.urandom(MIB)]


async def expect_echo(ws, message):
    echo = await ws.recv()
    expect_equal((type(echo), len(echo), echo == message), (type(message), len(message), True),
                 f"echo of a {type(message).__name__} message of {len(message)} items")


def serve_echo_arguments(tls):
    if not tls:
        return ("--echo", "--port", "0")
    certs = test_certificates()
    return ("--echo", "--port", "0", "--tls-cert", certs.server_cert, "--tls-key", certs.server_key)


def python_client_context(tls):
    """What websockets.connect(ssl=...) needs: None for ws://."""
    return test_certificates().client_context() if tls else None


def python_server_options(tls):
    return {"ssl": test_certificates().server_context()} if tls else {}


def our_client_options(tls):
    return ("--ca", test_certificates().ca) if tls else ()


# ---------------------------------------------------------------- Python client → our server

def check_python_client_against_serve_echo(tls):
    with ToolServer(*serve_echo_arguments(tls)) as server:
        async def client():
            # Python offers permessage-deflate; the handshake must settle without it or with it.
            async with websockets.connect(server.url, max_size=None,
                                          ssl=python_client_context(tls)) as ws:
                for m in MESSAGES:
                    await ws.send(m)
                    await expect_echo(ws, m)
                await ws.send(["frag", "men", "ted"])  # one message in three frames
                await expect_echo(ws, "fragmented")
                latency = await asyncio.wait_for(await ws.ping(b"are you there"), 5)
                assert latency >= 0, latency
                await ws.close(1000, "done here")
                # Our server echoes the close code and reason.
                return ws.close_code, ws.close_reason

        expect_equal(run_async(client()), (1000, "done here"), "close frame answered by serve")
        expect_equal(server.stop(), 0, "serve exit status")


def test_python_client_against_serve_echo():
    check_python_client_against_serve_echo(tls=False)


def test_python_client_against_serve_echo_over_tls():
    check_python_client_against_serve_echo(tls=True)


def check_python_client_sees_serve_shutdown(tls):
    with ToolServer(*serve_echo_arguments(tls)) as server:
        async def client():
            async with websockets.connect(server.url, ssl=python_client_context(tls)) as ws:
                await ws.send("before shutdown")
                await expect_echo(ws, "before shutdown")
                server.proc.terminate()
                await ws.wait_closed()
                return ws.close_code

        expect_equal(run_async(client()), 1001, "close code when serve shuts down")
        expect_equal(server.wait()[0], 0, "serve exit status")


def test_python_client_sees_serve_shutdown():
    check_python_client_sees_serve_shutdown(tls=False)


def test_python_client_sees_serve_shutdown_over_tls():
    check_python_client_sees_serve_shutdown(tls=True)


# ---------------------------------------------------------------- our clients → Python server

def check_echo_client_against_python_server(tls):
    async def handler(ws):
        for m in MESSAGES:
            await ws.send(m)
            await expect_echo(ws, m)
        await ws.send(["frag", "men", "ted"])
        await expect_echo(ws, "fragmented")
        # The server pings every 0.1 s and fails the connection after 1 s without a pong:
        # staying a while proves our client answers.
        await asyncio.sleep(0.5)
        await ws.close(1000, "bye")
        expect_equal(ws.close_code, 1000, "close code answered by echo-client")

    with PythonServer(handler, max_size=None, ping_interval=0.1, ping_timeout=1,
                      **python_server_options(tls)) as server:
        status, out, err = run_tool("echo-client", server.url, *our_client_options(tls))
        server.check()
    expect_equal((status, out, err), (0, "", ""), "echo-client")


def test_echo_client_against_python_server():
    check_echo_client_against_python_server(tls=False)


def test_echo_client_against_python_server_over_tls():
    check_echo_client_against_python_server(tls=True)


def check_connect_against_python_echo_server(tls):
    seen = {}

    async def handler(ws):
        async for m in ws:
            await ws.send(m)
        seen["close"] = (ws.close_code, ws.close_reason)

    with PythonServer(handler, ping_interval=0.1, ping_timeout=1,
                      **python_server_options(tls)) as server, \
            Tool("connect", server.url, *our_client_options(tls)) as client:
        for line in ["first", "second ✓", ""]:
            client.write_line(line)
            expect_equal(client.read_line(), line, "echo")
        client.close_stdin()
        status, rest, err = client.wait()
    server.check()
    expect_equal((status, rest, err), (0, [], ""), "connect")
    expect_equal(seen.get("close"), (1000, ""), "close frame the server received")


def test_connect_against_python_echo_server():
    check_connect_against_python_echo_server(tls=False)


def test_connect_against_python_echo_server_over_tls():
    check_connect_against_python_echo_server(tls=True)


if __name__ == "__main__":
    run_tests([
        test_python_client_against_serve_echo,
        test_python_client_sees_serve_shutdown,
        test_echo_client_against_python_server,
        test_connect_against_python_echo_server,
        test_python_client_against_serve_echo_over_tls,
        test_python_client_sees_serve_shutdown_over_tls,
        test_echo_client_against_python_server_over_tls,
        test_connect_against_python_echo_server_over_tls,
    ])
