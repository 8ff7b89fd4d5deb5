"""unix_socket_server and unix_socket_client: a message is echoed over a Unix-domain
socket, and the socket file is gone once the server stops."""

import os

from support import Server, check, run, run_program, sample


def test(directory):
    path = os.path.join(directory, "echo.sock")
    with Server(sample("unix_socket_server"), path) as server:
        check(server.unix_path == path, f"listening on {server.address}")
        status, out, err = run_program(sample("unix_socket_client"), path, "over a Unix socket")
        check(status == 0 and out == "over a Unix socket\n", f"status {status}, {out!r}, {err!r}")
        check(server.stop() == 0, "the server did not stop cleanly on SIGTERM")
    check(not os.path.exists(path), "the socket file is left behind")

    status, _, err = run_program(sample("unix_socket_client"), path, "nobody there")
    check(status == 1 and path in err, f"no server: status {status}, {err!r}")


run(test)
