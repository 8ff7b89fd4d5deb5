"""reconnecting_client: when its server is killed, the client retries with growing delays,
reconnects once a new server listens on the same port, also after a graceful restart, and
stops promptly on SIGTERM."""

import re
import signal

from support import Process, Server, check, run, sample, tool


def retry_delays(lines):
    """The delays (ms) of the "attempt N failed (...); retrying in D ms" lines."""
    return [int(m.group(1)) for line in lines if (m := re.search(r"retrying in (\d+) ms$", line))]


def test(directory):
    first = Server(tool(), "serve", "--echo", "--port", "0")
    port = str(first.port)
    with first, Process(sample("reconnecting_client"), first.url()) as client:
        client.read_until("connected")
        client.read_until("received: hello")

        # A crash: no close frame, so the client sees the connection lost, then refused.
        first.stop(signal.SIGKILL)
        client.read_until(r"disconnected: .*")
        third, before = client.read_until(r"attempt 3 failed \(.*\); retrying in \d+ ms")
        delays = retry_delays(before + [third.group(0)])
        check(len(delays) == 3, f"retry lines: {before}")
        # initial_delay 100 ms, factor 2, jitter 0.5: each delay is in [d/2, d] of its
        # step, so the steps cannot overlap and the delays never shrink.
        check(delays == sorted(delays), f"the delays shrank: {delays}")
        check(50 <= delays[0] <= 100 and 200 <= delays[2] <= 400, f"delays: {delays}")

        with Server(tool(), "serve", "--echo", "--port", port) as second:
            client.read_until("connected")
            client.read_until("received: hello")

            # A graceful restart: the server closes with 1001, the client reconnects.
            second.stop(signal.SIGTERM)
            client.read_until("disconnected")
            with Server(tool(), "serve", "--echo", "--port", port):
                client.read_until("connected")
                client.read_until("received: hello")

                # Stopping while connected closes the connection and ends the loop.
                client.proc.send_signal(signal.SIGTERM)
                status, rest, err = client.wait()
                check(status == 0 and rest[-1:] == ["stopped"], f"status {status}, {rest}, {err!r}")

    # Stopping while it waits between attempts (nothing listens on the port any more).
    with Process(sample("reconnecting_client"), f"ws://127.0.0.1:{port}/") as waiting:
        waiting.read_until(r"attempt 1 failed .*")
        waiting.proc.send_signal(signal.SIGINT)
        status, rest, err = waiting.wait()
        check(status == 0 and rest[-1:] == ["stopped"], f"status {status}, {rest}, {err!r}")


run(test)
