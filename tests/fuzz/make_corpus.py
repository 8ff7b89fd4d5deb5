#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into corpus/<target>/.

Each seed is a small, valid (or deliberately borderline) input laid out as the target reads
it: the settings bytes documented at the top of <target>_fuzzer.cpp, then the payload. The
RFC 6455 and RFC 7692 examples are written byte for byte. Run it again after changing a
target's input layout; the files it writes are committed so that a run needs no Python step.

    python3 tests/fuzz/make_corpus.py
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# Chunk size tables (fuzz_support.hpp: entry + 1 bytes, or (entry - 240) KiB above 240).
WHOLE = bytes([0xFF] * 4)       # 15 KiB pieces: every seed arrives in one read
BYTEWISE = bytes([0] * 4)       # one byte at a time
MIXED = bytes([2, 0, 6, 0xF1])  # 3, 1, 7 bytes, then 1 KiB

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 §5.7's mask key


def frame(opcode, payload=b"", fin=True, rsv1=False, mask=None):
    """A frame as RFC 6455 §5.2 lays it out; masked when a key is given."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head = bytes([first, bit | n])
    elif n <= 0xFFFF:
        head = bytes([first, bit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([first, bit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def deflate_message(data, window_bits=15):
    """RFC 7692 §7.2.1: a raw deflate stream, flushed, without its final 00 00 ff ff."""
    c = zlib.compressobj(6, zlib.DEFLATED, -window_bits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


# RFC 7692 §7.2.3: compressed payloads of "Hello".
HELLO = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])              # §7.2.3.1
HELLO_AGAIN = bytes([0xF2, 0x00, 0x11, 0x00, 0x00])                    # §7.2.3.2, shared window
HELLO_STORED = bytes([0x00, 0x05, 0x00, 0xFA, 0xFF]) + b"Hello" + b"\x00"  # §7.2.3.3
HELLO_BFINAL = bytes([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00])  # §7.2.3.4
HELLO_TWO_BLOCKS = bytes([0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF,
                          0xCA, 0xC9, 0xC9, 0x07, 0x00])                # §7.2.3.5

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


def data_phase_frames(mask):
    """Named frame sequences a peer may send, masked when mask is given (from a client)."""
    m = {"mask": mask}
    return {
        "text-hello": frame(TEXT, b"Hello", **m),
        "fragmented-text": frame(TEXT, b"Hel", fin=False, **m) + frame(CONT, b"lo", **m),
        "ping-inside-fragments": frame(TEXT, b"Hel", fin=False, **m) + frame(PING, b"!", **m)
        + frame(CONT, b"lo", **m),
        "ping-pong": frame(PING, b"Hello", **m) + frame(PONG, b"Hello", **m),
        "binary-300": frame(BINARY, bytes(range(256)) + bytes(44), **m),
        "utf8-text": frame(TEXT, "κόσμε €𝄞".encode(), **m),
        "utf8-split": frame(TEXT, "é€".encode()[:3], fin=False, **m)
        + frame(CONT, "é€".encode()[3:], **m),
        "invalid-utf8": frame(TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", **m),
        "close-normal": frame(CLOSE, close_payload(1000, b"bye"), **m),
        "close-empty": frame(CLOSE, b"", **m),
        "close-bad-code": frame(CLOSE, close_payload(1005), **m),
        "reserved-opcode": frame(0x3, b"x", **m),
        "long-header-partial": frame(BINARY, bytes(70000), **m)[:200],
        "empty-messages": frame(TEXT, b"", **m) + frame(BINARY, b"", **m),
    }


def deflate_frames(mask):
    m = {"mask": mask}
    zeros = deflate_message(bytes(100000))
    return {
        "pmd-hello": frame(TEXT, HELLO, rsv1=True, **m),
        "pmd-shared-window": frame(TEXT, HELLO, rsv1=True, **m)
        + frame(TEXT, HELLO_AGAIN, rsv1=True, **m),
        "pmd-fragmented": frame(TEXT, HELLO[:3], fin=False, rsv1=True, **m)
        + frame(CONT, HELLO[3:], **m),
        "pmd-stored": frame(TEXT, HELLO_STORED, rsv1=True, **m),
        "pmd-bfinal": frame(TEXT, HELLO_BFINAL, rsv1=True, **m)
        + frame(TEXT, HELLO_AGAIN, rsv1=True, **m),
        "pmd-two-blocks": frame(TEXT, HELLO_TWO_BLOCKS, rsv1=True, **m),
        "pmd-uncompressed-and-compressed": frame(BINARY, b"plain", **m)
        + frame(BINARY, deflate_message(b"packed " * 40), rsv1=True, **m),
        "pmd-zeros-100k": frame(BINARY, zeros, rsv1=True, **m),
    }


def frame_protocol():
    # flags, windows, max_message (x32), max_frame (x32), codec, actions, close, chunk table
    def seed(flags, wire, chunks=WHOLE, windows=0x77, message=0, frame_limit=0, codec=0x04,
             actions=0, close=0):
        return bytes([flags, windows, message, frame_limit, codec, actions, close]) + chunks + wire

    seeds = {}
    for role_flag, role, mask in ((0x00, "server", KEY), (0x01, "client", None)):
        for name, wire in data_phase_frames(mask).items():
            seeds[f"{role}-{name}"] = seed(role_flag | 0x20, wire)
        for name, wire in deflate_frames(mask).items():
            seeds[f"{role}-{name}"] = seed(role_flag | 0x22, wire)
        wire = data_phase_frames(mask)["fragmented-text"]
        seeds[f"{role}-fragments-streamed-bytewise"] = seed(role_flag | 0x24, wire, BYTEWISE)
        seeds[f"{role}-prepare-commit"] = seed(role_flag | 0x08 | 0x20,
                                               frame(BINARY, bytes(5000), mask=mask), MIXED)
        seeds[f"{role}-small-limits"] = seed(role_flag | 0x10, frame(BINARY, bytes(100), mask=mask),
                                             message=2, frame_limit=1)
        seeds[f"{role}-pmd-limit"] = seed(role_flag | 0x12 | 0x04,
                                          deflate_frames(mask)["pmd-zeros-100k"], MIXED, message=40)
        seeds[f"{role}-pmd-no-context-takeover-8-bits"] = seed(
            role_flag | 0x22 | 0xC0, frame(TEXT, deflate_message(b"abcabcabc", 9), rsv1=True,
                                          mask=mask), windows=0x00)
        frames = data_phase_frames(mask)
        # We ping after each chunk; the peer answers the first one, late.
        seeds[f"{role}-keepalive-pings"] = seed(
            role_flag, frames["text-hello"] + frame(PONG, b"ping 0", mask=mask), MIXED, actions=1)
        # We close (1000 "bye") after the first chunk; the peer sends data, then its close.
        seeds[f"{role}-we-close-first"] = seed(
            role_flag | 0x20, frames["text-hello"] + frames["binary-300"] + frames["close-normal"],
            MIXED, actions=0x02, close=0x10)
        # send_close(1006) must be refused; the data phase goes on.
        seeds[f"{role}-refused-close-code"] = seed(role_flag, frames["ping-pong"], MIXED,
                                                   actions=0x12, close=11)
    return seeds


REQUEST = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")  # RFC 6455 §1.3

RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            b"Sec-WebSocket-Protocol: chat\r\n\r\n")  # RFC 6455 §1.3


def server_session():
    def seed(flags, untrusted, server=0x3F, client=0x07, limits=0, chunks=WHOLE):
        return bytes([flags, server, client, limits]) + chunks + untrusted

    frames = data_phase_frames(KEY)
    pmd = deflate_frames(KEY)
    return {
        "echo-text": seed(0x20, frames["text-hello"] + frames["close-normal"]),
        "echo-fragments-streamed": seed(0x24, frames["fragmented-text"]),
        "early-frames": seed(0x60, frames["ping-pong"], chunks=MIXED),
        "subprotocols-bytewise": seed(0xA0, frames["utf8-split"], chunks=BYTEWISE),
        "pmd-echo": seed(0x23, pmd["pmd-shared-window"] + frames["close-empty"]),
        "pmd-early": seed(0x63, pmd["pmd-hello"], chunks=MIXED),
        "pmd-client-only": seed(0x22, frames["text-hello"]),
        "pmd-prepare-commit": seed(0x2B, pmd["pmd-zeros-100k"], chunks=MIXED),
        "small-limits": seed(0x33, pmd["pmd-zeros-100k"], limits=4),
        "protocol-error": seed(0x20, frames["reserved-opcode"]),
    }


def http_request():
    def seed(text, flags=0, head=0, headers=0, line=0, chunks=WHOLE):
        return bytes([flags, head, headers, line]) + chunks + text

    offer = REQUEST.replace(
        b"\r\n\r\n",
        b"\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, "
        b"permessage-deflate; server_max_window_bits=\"10\"\r\n\r\n")
    return {
        "rfc6455-request": seed(REQUEST),
        "rfc6455-request-bytewise": seed(REQUEST, chunks=BYTEWISE),
        "deflate-offers": seed(offer, chunks=MIXED),
        "frame-after-head": seed(REQUEST + frame(TEXT, b"Hello", mask=KEY)),
        "http10": seed(REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0")),
        "http2-version": seed(REQUEST.replace(b"HTTP/1.1", b"HTTP/2.0")),
        "content-length": seed(REQUEST.replace(b"\r\n\r\n", b"\r\nContent-Length: 0, 0\r\n\r\n")),
        "quoted-list": seed(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: \"x, y\", Upgrade\r\n\r\n"),
        "obs-fold": seed(b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"),
        "bare-lf": seed(b"GET / HTTP/1.1\nHost: a\n\n"),
        "small-limits": seed(REQUEST, flags=1, head=20, headers=40, line=8, chunks=MIXED),
    }


def http_response():
    def seed(text, flags=0, head=0, headers=0, body=0, chunks=WHOLE):
        return bytes([flags, head, headers, body]) + chunks + text

    pmd = RESPONSE.replace(b"\r\n\r\n",
                           b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    return {
        "rfc6455-101": seed(RESPONSE, flags=0x08),
        "rfc6455-101-bytewise": seed(RESPONSE, flags=0x08, chunks=BYTEWISE),
        "101-with-frames": seed(RESPONSE + frame(TEXT, b"Hello") + frame(CLOSE, close_payload(1000)),
                                flags=0x0A),
        "101-deflate": seed(pmd + frame(TEXT, HELLO, rsv1=True), flags=0x0C, chunks=MIXED),
        "content-length": seed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope\n"),
        "chunked": seed(b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"4;ext=1\r\nWiki\r\n0\r\nTrailer: x\r\n\r\n", chunks=MIXED),
        "until-eof": seed(b"HTTP/1.0 500 Oops\r\nServer: x\r\n\r\nbody until the end", flags=0x02),
        "no-reason": seed(b"HTTP/1.1 204\r\n\r\n", flags=0x02),
        "small-limits": seed(b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + bytes(300),
                             flags=0x03, head=4, headers=16, body=10),
    }


def uri():
    texts = [
        "ws://example.com/chat",
        "wss://user:p%40ss@Example.COM:8443/a/b?x=1&y=%2F",
        "ws://[::1]:9001/",
        "ws://[2001:db8::192.0.2.33]/path",
        "ws://127.0.0.1",
        "ws://host?query",
        "ws://h/caf\u00e9{x}|",
        "ws://h/#fragment",
        "http://example.com/",
        "ws://a%3Ab:c@h/",
        "ws://host:65535/",
        "ws://host:0/",
    ]
    return {f"uri-{i:02d}": t.encode() for i, t in enumerate(texts)}


def deflate_negotiation():
    # server options (2 bytes), client options (2 bytes), then lines (see the target)
    def seed(lines, messages=(), server=(0x1B, 0x2C), client=(0x3F, 0x37)):
        text = "\n".join(lines)
        if messages:
            text += "\n--\n" + "\n".join(messages)
        return bytes(server + client) + text.encode()

    hello = ["Hello", "Hello", "", "x" * 300]
    return {
        "defaults": seed(["permessage-deflate", "permessage-deflate; client_max_window_bits"],
                         hello),
        "rfc7692-offers": seed([
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=\"10\"",
            "x-webkit-deflate-frame",
            "permessage-deflate"], hello),
        "window-8": seed(["permessage-deflate; server_max_window_bits=8",
                          "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"],
                         ["aaaaaaaaaaaaaaaabbbbbbbbbbbb", "abcabcabcabc"],
                         server=(0x00, 0x08), client=(0xC0, 0x08)),
        "bad-values": seed(["permessage-deflate; server_max_window_bits=08",
                            "permessage-deflate; server_max_window_bits",
                            "permessage-deflate; unknown=1; client_no_context_takeover",
                            "permessage-deflate; client_no_context_takeover; "
                            "client_no_context_takeover",
                            "permessage-deflate; client_max_window_bits=\"1\\0\""]),
        "disabled-server": seed(["permessage-deflate"], ["abc"], server=(0x00, 0x80)),
    }


def inflate():
    # settings, limit, chunk table, then messages with 2-byte little-endian lengths
    def seed(messages, settings=0x07, limit=0xFF, chunks=MIXED):
        body = b"".join(struct.pack("<H", len(m)) + m for m in messages)
        return bytes([settings, limit]) + chunks + body

    text = b"The quick brown fox jumps over the lazy dog. " * 20
    return {
        "rfc7692-hello": seed([HELLO, HELLO_AGAIN]),
        "rfc7692-stored-bfinal-blocks": seed([HELLO_STORED, HELLO_BFINAL, HELLO_AGAIN,
                                              HELLO_TWO_BLOCKS]),
        "text": seed([deflate_message(text)], chunks=BYTEWISE),
        "no-context-takeover": seed([HELLO, HELLO], settings=0x0F),
        "window-9": seed([deflate_message(text, 9)], settings=0x01),
        "bomb-limited": seed([deflate_message(bytes(1 << 20))], limit=16),
        "empty": seed([b"", b"\x00"]),
        "truncated-block": seed([HELLO[:4]]),
        # A peer that agreed to an 8-bit window but refers 259 bytes back.
        "window-violated": seed([deflate_message((bytes(range(256)) + b"xyz") * 2)],
                                settings=0x00),
    }


TARGETS = {
    "frame_protocol": frame_protocol,
    "server_session": server_session,
    "http_request": http_request,
    "http_response": http_response,
    "uri": uri,
    "deflate_negotiation": deflate_negotiation,
    "inflate": inflate,
}


def main():
    for target, make in TARGETS.items():
        # Seeds are overwritten; other files (reproducers of fixed bugs) are kept.
        directory = os.path.join(CORPUS, target)
        os.makedirs(directory, exist_ok=True)
        for name, data in make().items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)
    print(f"wrote {sum(len(make()) for make in TARGETS.values())} seeds under {CORPUS}")


if __name__ == "__main__":
    main()
