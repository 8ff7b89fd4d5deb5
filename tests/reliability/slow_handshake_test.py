"""A swarm of clients sending their opening request one byte per second (slowloris) against
`syncws serve --echo` with its defaults: each is dropped by the open timeout (10 s for the
whole handshake, not per read) long before its request is complete, and other clients are
served the whole time.

tests/sync/server_test.cpp ("a client slow with its handshake blocks no other client and is
dropped at open_timeout") proves the rule in-process with one client and a short timeout;
this one runs the shipped tool with its default timeout against many slow clients at once and
records what they cost the server (threads, memory) and when they were dropped.

Usage: slow_handshake_test.py PATH-TO-SYNCWS
"""

import socket
import threading
import time

from reliability_support import (RawClient, echo_server, eventually, figure, opening_request,
                                 run_tests)

SLOW_CLIENTS = 40
# Far beyond the 10 s open timeout; a slow client not dropped by then fails the test.
GIVE_UP_AFTER = 40


def trickle(port, result):
    """Sends the opening request one byte per second until the server drops us. Fills in
    result: bytes sent, seconds from connect to the end of the stream, how it ended."""
    request = opening_request()
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP_AFTER) as sock:
        connected = time.monotonic()
        result["connected"] = True
        sock.settimeout(1.0)
        sent = 0
        while sent < len(request) and time.monotonic() - connected < GIVE_UP_AFTER:
            try:
                sock.sendall(request[sent:sent + 1])
                sent += 1
                data = sock.recv(4096)  # waits up to a second: our pace
            except socket.timeout:
                continue
            except OSError as e:
                data, result["how"] = b"", type(e).__name__
            if not data:
                result.setdefault("how", "end of stream")
                break
            result["how"] = f"unexpected answer {data[:40]!r}"
            break
        result["sent"] = sent
        result["seconds"] = time.monotonic() - connected
        result["request"] = len(request)


def test_clients_sending_one_byte_per_second_are_dropped_at_the_open_timeout_and_others_served():
    with echo_server() as server:
        threads_before = server.probe.threads()
        server.probe.reset_peak()
        memory_before = server.probe.peak_kib()
        results = [{} for _ in range(SLOW_CLIENTS)]
        slow = [threading.Thread(target=trickle, args=(server.port, r), daemon=True) for r in results]
        for t in slow:
            t.start()
        assert eventually(lambda: all(r.get("connected") for r in results)), "slow clients connect"

        # Others come and go the whole time, the first while every slow client holds on.
        served, most_threads = 0, threads_before
        while any(t.is_alive() for t in slow):
            with RawClient(server.port) as c:
                c.open_websocket()
                c.check_echo(f"prompt client {served}")
                c.close_cleanly()
            served += 1
            most_threads = max(most_threads, server.probe.threads())
            time.sleep(0.25)
        for t in slow:
            t.join(GIVE_UP_AFTER)

        seconds = sorted(r["seconds"] for r in results)
        figure("slowloris", slow_clients=SLOW_CLIENTS, request_bytes=results[0]["request"],
               most_bytes_sent=max(r["sent"] for r in results),
               dropped_after_s=f"{seconds[0]:.1f}..{seconds[-1]:.1f}",
               prompt_clients_served=served, server_threads=f"{threads_before}->{most_threads}",
               server_peak_growth_kib=server.probe.peak_kib() - memory_before)
        for r in results:
            assert r["how"] in ("end of stream", "ConnectionResetError", "BrokenPipeError"), r
            # Dropped by the deadline, not by reaching the end of the request.
            assert r["sent"] < r["request"], r
        assert served >= 1, served
        with RawClient(server.port) as c:
            c.open_websocket()
            c.check_echo("after the swarm")
            c.close_cleanly()


if __name__ == "__main__":
    run_tests([test_clients_sending_one_byte_per_second_are_dropped_at_the_open_timeout_and_others_served])
