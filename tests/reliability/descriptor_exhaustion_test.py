"""`syncws serve --echo`, its RLIMIT_NOFILE lowered from outside (prlimit(2)), runs out of file
descriptors: it keeps serving the connections it has, does not spin while clients wait in the
listen backlog (its CPU time, read from /proc, stays small), warns once, and accepts the
waiting clients as soon as descriptors are free again.

tests/sync/server_test.cpp ("running out of descriptors makes the server back off and accept
again, serving the rest") proves the same in-process by lowering the test's own limit; this
one runs the shipped tool in a process of its own, where the limit and the CPU time belong to
the server alone.

Usage: descriptor_exhaustion_test.py PATH-TO-SYNCWS
"""

import resource
import time

from reliability_support import (RawClient, echo_server, eventually, expect_equal, figure,
                                 opening_request, run_tests)

# Low enough to reach quickly, high enough for the server's own descriptors (standard
# streams, listener, eventfd, the monitor's epoll).
LIMIT = 24
WAITING = 3
# While the clients wait, the server's CPU time is measured over this many seconds.
WINDOW = 2.0


def test_out_of_descriptors_the_server_keeps_serving_backs_off_and_accepts_again():
    # In a sanitizer build, UBSan's vptr check needs a pipe to look at a vtable it has not
    # seen yet; with no descriptor left it reports "invalid vptr, <memory cannot be
    # printed>" for sound objects (a ten-line program calling a virtual function with its
    # descriptors used up shows the same). Those reports, and only those, are not failures.
    with echo_server(vptr_unreadable_is_false_alarm=True) as server:
        resource.prlimit(server.proc.pid, resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
        held = []
        # Open connections until every descriptor the server may have is in use.
        while server.probe.descriptors() < LIMIT:
            c = RawClient(server.port)
            c.open_websocket()
            held.append(c)
            assert len(held) <= LIMIT, "the server never ran out of descriptors"
        figure("descriptor exhaustion", rlimit_nofile=LIMIT, connections_held=len(held),
               server_descriptors=server.probe.descriptors())

        # These connect (the kernel completes TCP in the backlog) but cannot be accepted.
        waiting = []
        for _ in range(WAITING):
            c = RawClient(server.port)
            c.send(opening_request())
            waiting.append(c)
        assert eventually(lambda: "cannot accept connections" in server.stderr()), server.stderr()

        # The server is neither spinning nor stuck: its CPU time stays small while the
        # clients wait, and the connections it has still echo.
        cpu_before, wall_before = server.probe.cpu_seconds(), time.monotonic()
        time.sleep(WINDOW)
        cpu = server.probe.cpu_seconds() - cpu_before
        wall = time.monotonic() - wall_before
        for c in held:
            c.check_echo("served meanwhile")
        figure("descriptor exhaustion", server_cpu_seconds=f"{cpu:.3f}", over_seconds=f"{wall:.2f}",
               warnings=server.stderr().count("cannot accept connections"))
        # A loop retrying accept() at once would burn a whole CPU: WINDOW seconds of it.
        assert cpu < WINDOW / 4, f"the server used {cpu:.2f} s of CPU in {wall:.2f} s: spinning"
        # Storms are logged once per interval, not once per try.
        assert server.stderr().count("cannot accept connections") <= 2, server.stderr()

        # Each freed descriptor lets one waiting client in.
        for c in waiting:
            held.pop().close_cleanly()
            status, _, _ = c.read_response()
            expect_equal(status, 101, "a waiting client, once a descriptor is free")
            c.check_echo("accepted at last")
        for c in held + waiting:
            c.close_cleanly()
        expect_equal(server.proc.poll(), None, "the server is still running")


if __name__ == "__main__":
    run_tests([test_out_of_descriptors_the_server_keeps_serving_backs_off_and_accepts_again])
