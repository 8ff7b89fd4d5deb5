"""Hostile opening requests sent over loopback to `syncws serve --echo`, a process of its
own: too many header fields, a megabyte-long line, huge Sec-WebSocket-Extensions and
Sec-WebSocket-Protocol values. Each gets its HTTP error status, the server's memory
(VmHWM, read from /proc) does not grow with the size of the attack, and the server goes on
serving.

Why the work is linear: the server never holds more than its head limits (16 KiB, 128
fields, 8 KiB per line; README "Defaults"), so any value that reaches the handshake checks is
at most 16 KiB, and a longer one is refused after 8 KiB whatever its length. The parsers
themselves are proven linear on 1 MiB inputs in tests/core/http_test.cpp ("10,000 header
fields fail with 431 at field 129", "a 1 MiB field line fails with 431 after about 8 KiB",
"list and has_token handle a 1 MiB value of commas in one pass") and
tests/core/handshake_test.cpp ("a huge Sec-WebSocket-Protocol/Extensions value is processed
in linear time"). No timing is asserted: the durations are printed for the record.

Usage: hostile_handshake_test.py PATH-TO-SYNCWS
"""

import threading
import time

from reliability_support import (RawClient, echo_server, expect_equal, figure,
                                 opening_request, run_tests)

KIB = 1024
MIB = 1024 * KIB
# Several attackers at once, so that a per-connection cost would show in the memory.
ATTACKERS = 8


def still_serving(server):
    with RawClient(server.port) as c:
        c.open_websocket()
        c.check_echo("still serving")
        c.close_cleanly()


def answer_to(server, request):
    """Sends request on a thread (the server may stop reading it) and returns the status of
    the response and the seconds until it came."""
    with RawClient(server.port) as c:
        def send():
            try:
                c.send(request)
            except OSError:
                pass  # the server answered and closed before taking it all

        sender = threading.Thread(target=send, daemon=True)
        started = time.monotonic()
        sender.start()
        status, headers, body = c.read_response()
        took = time.monotonic() - started
        expect_equal(headers.get("connection", "").lower(), "close", "Connection of an error response")
        c.closed_by_server()
        sender.join(30)
        return status, took


def warm_up(server):
    """ATTACKERS connections at once, so that the server has started the worker threads an
    attack will use (they stay for the next clients): their stacks are not the attack's."""
    clients = [RawClient(server.port) for _ in range(ATTACKERS)]
    for c in clients:
        c.open_websocket()
    for c in clients:
        c.close_cleanly()


def attack(server, request, expected_statuses, name):
    """ATTACKERS clients send request at once; each must get one of expected_statuses.
    Returns the growth of the server's peak memory in KiB (divided by the sanitizer's
    memory factor, so that one bound holds for every build)."""
    warm_up(server)
    server.probe.reset_peak()
    before = server.probe.peak_kib()
    results = [None] * ATTACKERS

    def one(i):
        try:
            results[i] = answer_to(server, request)
        except Exception as e:  # checked below, in the test's thread
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(ATTACKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    grown = (server.probe.peak_kib() - before) // server.probe.memory_factor()
    for r in results:
        if not isinstance(r, tuple):
            raise AssertionError(f"{name}: {r!r}")
        assert r[0] in expected_statuses, f"{name}: status {r[0]}, expected one of {expected_statuses}"
    figure(name, request_bytes=len(request), statuses=sorted({r[0] for r in results}),
           slowest_answer_ms=f"{max(r[1] for r in results) * 1000:.1f}",
           server_peak_growth_kib=grown * server.probe.memory_factor(), attackers=ATTACKERS)
    return grown


# Generous: a few stacks and buffers of 16 KiB per attacker, allocator slack, and a
# sanitizer's quarantine. What is checked is that the growth does not follow the size of
# the attack (8 x 1 MiB here).
MEMORY_BOUND_KIB = 4 * MIB // KIB


def test_ten_thousand_header_fields_get_431_with_bounded_memory():
    fields = b"".join(b"X-Field-%d: value\r\n" % i for i in range(10000))
    with echo_server() as server:
        grown = attack(server, opening_request(fields), {431}, "10,000 fields")
        assert grown < MEMORY_BOUND_KIB, grown
        still_serving(server)


def test_a_one_mib_header_line_gets_431_with_bounded_memory():
    with echo_server() as server:
        grown = attack(server, opening_request(b"X-Long: " + b"a" * MIB + b"\r\n"), {431},
                       "1 MiB field line")
        assert grown < MEMORY_BOUND_KIB, grown
        still_serving(server)


def test_a_one_mib_request_line_gets_an_error_with_bounded_memory():
    request = opening_request(target=b"/" + b"a" * MIB)
    with echo_server() as server:
        grown = attack(server, request, {414, 431, 400}, "1 MiB request line")
        assert grown < MEMORY_BOUND_KIB, grown
        still_serving(server)


def comma_list(element, size):
    """'element0, element1, ...' of at least size bytes."""
    parts, total, i = [], 0, 0
    while total < size:
        part = element % i
        parts.append(part)
        total += len(part) + 2
        i += 1
    return b", ".join(parts)


HUGE_SIZES = [64 * KIB, 256 * KIB, 512 * KIB, MIB]


def test_huge_extension_and_subprotocol_values_get_431_with_memory_independent_of_size():
    # Offers of every size past the limits: the answer and the memory must be the same for
    # 64 KiB and for 1 MiB.
    cases = [
        (b"Sec-WebSocket-Extensions", b"x-ext-%d; a=1; b=\"q,\\\"\""),
        (b"Sec-WebSocket-Extensions", b","),  # commas only: empty elements
        (b"Sec-WebSocket-Protocol", b"proto-%d"),
    ]
    with echo_server() as server:
        for name, element in cases:
            growth = []
            for size in HUGE_SIZES:
                value = comma_list(element, size) if b"%d" in element else element * size
                request = opening_request(name + b": " + value + b"\r\n")
                growth.append(attack(server, request, {431},
                                     f"{name.decode()} {size // KIB} KiB of {element[:8].decode()!r}"))
            assert max(growth) < MEMORY_BOUND_KIB, growth
        still_serving(server)


def fill_fields(name, element, budget):
    """Fields `name: a, b, ...` of about 3 KiB each (the line limit is 8 KiB), together at
    most budget bytes; returns (the field lines, the number of elements)."""
    line_size = 3 * KIB
    lines, count, i = b"", 0, 0
    while len(lines) + line_size <= budget:
        value, parts = b"", []
        while len(name) + 2 + len(value) + 64 < line_size:
            parts.append(element % i)
            value = b", ".join(parts)
            i += 1
        lines += name + b": " + value + b"\r\n"
        count += len(parts)
    return lines, count


def test_as_many_offers_as_the_head_limit_allows_are_all_read_and_the_handshake_succeeds():
    # Up to the limit, the server reads every offer: thousands of unknown extensions before
    # permessage-deflate, which it must still find; thousands of subprotocols it does not
    # support, of which it must choose none.
    with echo_server() as server:
        base = len(opening_request())
        budget = 16 * KIB - base - 200
        extensions, n_ext = fill_fields(b"Sec-WebSocket-Extensions", b"x-%d", budget)
        with RawClient(server.port) as c:
            started = time.monotonic()
            headers = c.open_websocket(extensions + b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
            took = time.monotonic() - started
            assert headers.get("sec-websocket-extensions", "").startswith("permessage-deflate"), headers
            c.check_echo("compressed or not, it echoes")
            c.close_cleanly()
        figure("extension offers within the limits", offers=n_ext + 1,
               head_bytes=base + len(extensions) + 45, handshake_ms=f"{took * 1000:.1f}")

        protocols, n_proto = fill_fields(b"Sec-WebSocket-Protocol", b"p%d", budget)
        with RawClient(server.port) as c:
            started = time.monotonic()
            headers = c.open_websocket(protocols)
            took = time.monotonic() - started
            expect_equal(headers.get("sec-websocket-protocol"), None, "subprotocol chosen")
            c.close_cleanly()
        figure("subprotocol offers within the limits", offers=n_proto,
               head_bytes=base + len(protocols), handshake_ms=f"{took * 1000:.1f}")
        assert n_ext > 1000 and n_proto > 1000, (n_ext, n_proto)


if __name__ == "__main__":
    run_tests([
        test_ten_thousand_header_fields_get_431_with_bounded_memory,
        test_a_one_mib_header_line_gets_431_with_bounded_memory,
        test_a_one_mib_request_line_gets_an_error_with_bounded_memory,
        test_huge_extension_and_subprotocol_values_get_431_with_memory_independent_of_size,
        test_as_many_offers_as_the_head_limit_allows_are_all_read_and_the_handshake_succeeds,
    ])
