"""permessage-deflate interop with Python `websockets` 10.4 (Debian python3-websockets), in
both directions: Python clients with every parameter combination they can offer against
`syncws serve --echo`, and Python servers with every combination they can answer against
`syncws echo-client`. Messages from 0 bytes to 16 MiB, text and binary, compressible and not.

Run: /usr/bin/python3 tests/interop/python_compression_test.py PATH-TO-SYNCWS (meson does).
Loopback only, ports chosen by the OS, every step bounded by a timeout.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sync"))
from cli_support import (PythonServer, ToolServer, expect_equal, run_async, run_tests,
                         run_tool, websockets)
from websockets.extensions import permessage_deflate

MIB = 1024 * 1024


def json_text(size):
    """JSON-like text with some multi-byte UTF-8, of at most size bytes once encoded."""
    parts, n = [], 0
    while n < size:
        part = f'{{"id":{len(parts)},"name":"user{len(parts) % 97}","tags":["αβγ","✓"]}},'
        parts.append(part)
        n += len(part.encode())
    return "".join(parts).encode()[:size].decode(errors="ignore")


def messages(largest):
    """Text and binary from 0 bytes to largest, compressible and random."""
    out = []
    for size in [0, 1, 127, 128, 129, 4096, 65536, MIB, 16 * MIB]:
        if size > largest:
            break
        out.append(json_text(size))
        out.append(os.urandom(size))
    return out


async def exchange(ws, all_messages):
    for m in all_messages:
        await ws.send(m)
        echo = await ws.recv()
        expect_equal((type(echo), len(echo), echo == m), (type(m), len(m), True),
                     f"echo of a {type(m).__name__} message of {len(m)} items")


def negotiated(ws):
    """(our window, their window, our no takeover, their no takeover) as Python sees it."""
    (extension,) = ws.extensions
    assert isinstance(extension, permessage_deflate.PerMessageDeflate), extension
    return (extension.local_max_window_bits, extension.remote_max_window_bits,
            extension.local_no_context_takeover, extension.remote_no_context_takeover)


# What Python clients can offer; each against our server's defaults (12-bit windows).
CLIENT_OFFERS = [
    dict(),
    dict(client_max_window_bits=None),
    dict(server_no_context_takeover=True),
    dict(client_no_context_takeover=True),
    dict(server_no_context_takeover=True, client_no_context_takeover=True),
    dict(server_max_window_bits=9),
    dict(server_max_window_bits=10, client_max_window_bits=9),
    dict(server_max_window_bits=15, client_max_window_bits=15),
    dict(client_max_window_bits=11),
    dict(server_no_context_takeover=True, client_no_context_takeover=True,
         server_max_window_bits=9, client_max_window_bits=9),
]


def expected_for_offer(offer):
    """What our server (window 12, client window 12 when allowed) should settle on, as
    (client window, server window, client no takeover, server no takeover)."""
    server_window = min(12, offer.get("server_max_window_bits") or 15)
    client_bits = offer.get("client_max_window_bits", True)
    if client_bits is None:
        client_window = 15  # not offered: the server cannot limit the client
    elif client_bits is True:
        client_window = 12
    else:
        client_window = min(12, client_bits)
    return (client_window, server_window, offer.get("client_no_context_takeover", False),
            offer.get("server_no_context_takeover", False))


def test_python_clients_with_every_offer_against_serve():
    with ToolServer("--echo", "--port", "0") as server:
        for i, offer in enumerate(CLIENT_OFFERS):
            factory = permessage_deflate.ClientPerMessageDeflateFactory(**offer)

            async def client():
                async with websockets.connect(server.url, extensions=[factory],
                                              compression=None, max_size=None) as ws:
                    expect_equal(negotiated(ws), expected_for_offer(offer), f"offer {offer}")
                    # The largest messages once, for the default offer: they take seconds.
                    await exchange(ws, messages(16 * MIB if i == 0 else MIB))
                    await ws.close(1000, "done")
                    return ws.close_code

            expect_equal(run_async(client(), timeout=120), 1000, f"close after offer {offer}")
        expect_equal(server.stop(), 0, "serve exit status")


# What Python servers can answer; each against our client's default offer
# ("permessage-deflate; client_max_window_bits").
SERVER_ANSWERS = [
    dict(),
    dict(server_no_context_takeover=True),
    dict(client_no_context_takeover=True),
    dict(server_max_window_bits=9),
    dict(client_max_window_bits=9),
    dict(server_max_window_bits=12, client_max_window_bits=12),
    dict(server_no_context_takeover=True, client_no_context_takeover=True,
         server_max_window_bits=10, client_max_window_bits=10),
    dict(require_client_max_window_bits=True, client_max_window_bits=11),
]


def test_echo_client_against_python_servers_with_every_answer():
    for i, answer in enumerate(SERVER_ANSWERS):
        all_messages = messages(16 * MIB if i == 0 else MIB)
        seen = {}

        async def handler(ws):
            seen["negotiated"] = negotiated(ws)
            await exchange(ws, all_messages)
            await ws.close(1000, "bye")

        factory = permessage_deflate.ServerPerMessageDeflateFactory(**answer)
        with PythonServer(handler, extensions=[factory], compression=None,
                          max_size=None) as server:
            status, out, err = run_tool("echo-client", server.url, "--max-size", str(17 * MIB),
                                        timeout=120)
            server.check()
        expect_equal((status, out, err), (0, "", ""), f"echo-client against {answer}")
        server_window = answer.get("server_max_window_bits") or 15
        client_window = answer.get("client_max_window_bits") or 15
        expect_equal(seen.get("negotiated"),
                     (server_window, client_window,
                      answer.get("server_no_context_takeover", False),
                      answer.get("client_no_context_takeover", False)),
                     f"parameters the Python server settled on for {answer}")


if __name__ == "__main__":
    run_tests([
        test_python_clients_with_every_offer_against_serve,
        test_echo_client_against_python_servers_with_every_answer,
    ])
