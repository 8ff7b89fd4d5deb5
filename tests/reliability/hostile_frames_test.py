"""Hostile frames sent over loopback to `syncws serve --echo`, a process of its own: each gets
its close code as soon as the offending bytes are in, without the server waiting for the rest,
and the server's memory (VmHWM, read from /proc) stays bounded. After each, the server still
serves a well-behaved client.

The same rules are proven byte by byte on the core in tests/core/protocol_test.cpp (2^63-1
bytes, MSB set, fail-fast UTF-8, unmasked frames) and tests/core/deflate_test.cpp (bombs);
here they are checked on a real socket against the shipped tool. The client-side bomb test is
tests/sync/compression_test.cpp ("a 1 MiB frame that inflates to 1 GiB fails with 1009 and
memory stays bounded").

Usage: hostile_frames_test.py PATH-TO-SYNCWS
"""

import struct
import threading
import time
import zlib

from reliability_support import (OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_TEXT, RawClient,
                                 echo_server, expect_equal, figure, frame_bytes, run_tests)

MIB = 1024 * 1024


def still_serving(server):
    with RawClient(server.port) as c:
        c.open_websocket()
        c.check_echo("still serving")
        c.close_cleanly()


def expect_close(client, code, what):
    """The server's close frame has this code; we answer it and the server ends TCP."""
    got, reason = client.read_close()
    expect_equal(got, code, f"{what}: close code (reason {reason!r})")
    try:
        client.send_frame(OP_CLOSE, struct.pack("!H", got))
    except OSError:
        pass  # the server may already have closed: it owes us nothing more
    client.closed_by_server()
    return reason


def test_a_frame_announcing_2_63_minus_1_bytes_fails_with_1009_before_any_payload():
    # Only the header and the mask key are sent: a server that waited for the payload, or
    # tried to allocate it, would never answer (the read is bounded) or die.
    with echo_server() as server, RawClient(server.port) as c:
        c.open_websocket()
        c.send(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 2**63 - 1) + b"\x01\x02\x03\x04")
        reason = expect_close(c, 1009, "2^63-1 bytes announced")
        figure("2^63-1", close_reason=repr(reason))
        still_serving(server)


def test_a_frame_announcing_2_63_bytes_fails_with_1002_because_the_top_bit_must_be_zero():
    # RFC 6455 §5.2: "the most significant bit MUST be 0". 2^63 is a protocol error, not
    # merely too big.
    with echo_server() as server, RawClient(server.port) as c:
        c.open_websocket()
        c.send(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 2**63) + b"\x01\x02\x03\x04")
        expect_close(c, 1002, "2^63 bytes announced")
        still_serving(server)


def test_a_frame_one_byte_over_the_limit_fails_with_1009_before_its_payload():
    with echo_server("--max-size", str(MIB)) as server, RawClient(server.port) as c:
        c.open_websocket()
        c.send(frame_bytes(OP_BINARY, b"", length=MIB + 1)[:14])  # header + mask key only
        expect_close(c, 1009, "limit + 1 announced")
        still_serving(server)


def deflate_bomb(size):
    """Raw deflate of size zero bytes (a multiple of 64 MiB) without the 00 00 ff ff tail.
    64 MiB are compressed once from a fresh stream, ending on a sync flush, so the piece
    refers to nothing before it and may simply be repeated."""
    piece_size = 64 * MIB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    zeros = bytes(MIB)
    piece = b"".join(compressor.compress(zeros) for _ in range(piece_size // MIB))
    piece += compressor.flush(zlib.Z_SYNC_FLUSH)
    return (piece * (size // piece_size))[:-4]


def test_a_client_deflate_bomb_fails_with_1009_and_the_server_memory_stays_bounded():
    bomb = deflate_bomb(1024 * MIB)  # 1 GiB once inflated
    assert len(bomb) < 2 * MIB, len(bomb)
    with echo_server() as server, RawClient(server.port) as c:  # the default limit: 16 MiB
        headers = c.open_websocket(b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        assert headers.get("sec-websocket-extensions", "").startswith("permessage-deflate"), headers
        server.probe.reset_peak()
        before = server.probe.peak_kib()
        wire = frame_bytes(OP_BINARY, bomb, rsv1=True)
        # Sent on a thread: the server stops reading once it has failed the connection.
        sender = threading.Thread(target=lambda: _send_quietly(c, wire), daemon=True)
        started = time.monotonic()
        sender.start()
        reason = expect_close(c, 1009, "deflate bomb")
        took = time.monotonic() - started
        sender.join(30)
        grown = server.probe.peak_kib() - before
        figure("deflate bomb", compressed_bytes=len(bomb), inflates_to=f"{1024} MiB",
               server_peak_growth_kib=grown, seconds_to_1009=f"{took:.3f}", reason=repr(reason))
        # The 16 MiB message limit, the buffer growing to it and allocator slack: far below
        # the gigabyte the bomb asks for.
        assert grown < 40 * 1024 * server.probe.memory_factor(), f"the server grew by {grown} KiB"
        still_serving(server)


def _send_quietly(client, data):
    try:
        client.send(data)
    except OSError:
        pass


def test_invalid_utf8_split_across_fragments_fails_with_1007_before_the_message_ends():
    # The first fragment ends inside a code point (valid so far); the first byte of the
    # second cannot continue it. The close must come although the message never ends.
    with echo_server() as server, RawClient(server.port) as c:
        c.open_websocket()
        c.send_frame(OP_TEXT, "κόσμε".encode() + b"\xce", fin=False)
        c.send_frame(OP_CONTINUATION, b"A and more text that will never be finished", fin=False)
        expect_close(c, 1007, "bad byte at the start of the second fragment")
        still_serving(server)


def test_a_bad_byte_fails_with_1007_in_the_middle_of_a_frame_whose_rest_never_comes():
    # A text frame announcing 1 MiB; 1,000 valid bytes, one 0xff, and then nothing.
    with echo_server() as server, RawClient(server.port) as c:
        c.open_websocket()
        sent = b"a" * 1000 + b"\xff"
        wire = frame_bytes(OP_TEXT, sent + b"b" * (MIB - len(sent)))
        header_size = len(wire) - MIB
        c.send(wire[:header_size + len(sent)])
        expect_close(c, 1007, "0xff after 1000 bytes of a 1 MiB frame")
        figure("utf-8 mid-frame", payload_bytes_sent=len(sent), payload_bytes_never_sent=MIB - len(sent))
        still_serving(server)


def test_an_unmasked_client_frame_fails_with_1002_and_others_go_on():
    with echo_server() as server, RawClient(server.port) as bystander, RawClient(server.port) as c:
        bystander.open_websocket()
        c.open_websocket()
        c.send_frame(OP_TEXT, b"not masked", masked=False)
        expect_close(c, 1002, "unmasked frame")
        bystander.check_echo("unaffected")
        bystander.close_cleanly()
        still_serving(server)


if __name__ == "__main__":
    run_tests([
        test_a_frame_announcing_2_63_minus_1_bytes_fails_with_1009_before_any_payload,
        test_a_frame_announcing_2_63_bytes_fails_with_1002_because_the_top_bit_must_be_zero,
        test_a_frame_one_byte_over_the_limit_fails_with_1009_before_its_payload,
        test_a_client_deflate_bomb_fails_with_1009_and_the_server_memory_stays_bounded,
        test_invalid_utf8_split_across_fragments_fails_with_1007_before_the_message_ends,
        test_a_bad_byte_fails_with_1007_in_the_middle_of_a_frame_whose_rest_never_comes,
        test_an_unmasked_client_frame_fails_with_1002_and_others_go_on,
    ])
