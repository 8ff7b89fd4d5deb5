"""ticker_server: every connected client gets the worker thread's ticks, in order."""

import re

from support import Process, Server, check, run, sample, tool


def ticks(client, count):
    """The numbers of the next count "tick N" lines (a first "no tick yet" is skipped)."""
    numbers = []
    while len(numbers) < count:
        line = client.read_line()
        if line == "no tick yet":
            check(not numbers, "'no tick yet' after a tick")
            continue
        match = re.fullmatch(r"tick (\d+)", line)
        check(match is not None, f"unexpected line {line!r}")
        numbers.append(int(match.group(1)))
    return numbers


def test(directory):
    with Server(sample("ticker_server"), "0", "20") as server:
        clients = [Process(tool(), "connect", server.url()) for _ in range(2)]
        try:
            for client in clients:
                numbers = ticks(client, 5)
                # A tick may come twice (snapshot and broadcast), never out of order.
                check(numbers == sorted(numbers), f"ticks out of order: {numbers}")
                check(len(set(numbers)) >= 4, f"too few distinct ticks: {numbers}")
            for client in clients:
                client.close_stdin()
                status, _, err = client.wait()
                check(status == 0, f"client exit status {status}: {err!r}")
        finally:
            for client in clients:
                client.kill()
        check(server.stop() == 0, "the server did not stop cleanly on SIGTERM")


run(test)
