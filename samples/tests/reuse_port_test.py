"""reuse_port_server: two processes listen on one port and both get clients; when one
stops, the other takes every client."""

import re

from support import Server, check, run, run_program, sample

# Linux picks the listener by a hash of each client's address and port, so a few clients
# reach both; the bound only stops a broken build from looping for ever.
MAX_CLIENTS = 200


def greeting(url):
    """The first message a client gets: "NAME (pid N)" (echo_client prints it)."""
    status, out, err = run_program(sample("echo_client"), url)
    check(status == 0, f"echo_client: status {status}, {err!r}")
    match = re.fullmatch(r"(\w+) \(pid \d+\)\n", out)
    check(match is not None, f"unexpected greeting {out!r}")
    return match.group(1)


def test(directory):
    with Server(sample("reuse_port_server"), "alpha", "0") as alpha:
        with Server(sample("reuse_port_server"), "beta", str(alpha.port)) as beta:
            check(beta.port == alpha.port, f"ports {alpha.port} and {beta.port}")
            reached = set()
            for _ in range(MAX_CLIENTS):
                reached.add(greeting(alpha.url()))
                if reached == {"alpha", "beta"}:
                    break
            check(reached == {"alpha", "beta"}, f"only {reached} reached in {MAX_CLIENTS} clients")

            check(alpha.stop() == 0, "alpha did not stop cleanly on SIGTERM")
            for _ in range(10):
                check(greeting(beta.url()) == "beta", "a client reached the stopped process")
            check(beta.stop() == 0, "beta did not stop cleanly on SIGTERM")


run(test)
