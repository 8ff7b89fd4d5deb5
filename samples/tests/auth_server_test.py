"""auth_server: /healthz answers without credentials; WebSocket clients without valid Basic
credentials get 401; with them they are greeted by name and echoed."""

import os
import urllib.error
import urllib.request

from support import Process, Server, TIMEOUT, check, run, run_program, sample, tool


def test(directory):
    status, _, err = run_program(sample("auth_server"), "0", env={})
    check(status == 2 and "usage" in err, f"without credentials: status {status}, {err!r}")

    env = dict(os.environ, AUTH_USER="alice", AUTH_PASSWORD="open:sesame")
    with Server(sample("auth_server"), "0", env=env) as server:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(base + "/healthz", timeout=TIMEOUT) as response:
            check(response.status == 200, f"healthz status {response.status}")
            check(response.read() == b"ok\n", "healthz body")

        try:
            urllib.request.urlopen(base + "/feed", timeout=TIMEOUT)
            check(False, "a plain request without credentials got through")
        except urllib.error.HTTPError as e:
            check(e.code == 401, f"status {e.code}")
            check(e.headers["WWW-Authenticate"].startswith("Basic "), "no Basic challenge")

        for who in ["", "alice:wrong@", "bob:open:sesame@"]:
            status, _, err = run_program(tool(), "connect", f"ws://{who}127.0.0.1:{server.port}/")
            check(status == 1 and "401" in err, f"{who!r}: status {status}, {err!r}")

        # The password holds ':', which Basic auth allows (the user name ends at the first).
        with Process(tool(), "connect", f"ws://alice:open:sesame@127.0.0.1:{server.port}/") as client:
            check(client.read_line() == "hello, alice", "no greeting")
            client.write_line("authenticated")
            check(client.read_line() == "authenticated", "no echo")
            client.close_stdin()
            status, _, err = client.wait()
            check(status == 0, f"client exit status {status}: {err!r}")
        check(server.stop() == 0, "the server did not stop cleanly on SIGTERM")


run(test)
