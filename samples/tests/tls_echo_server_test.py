"""tls_echo_server: a client that trusts the CA gets its messages echoed over wss://; one
that does not trust it is refused; a certificate file that cannot be read fails at start."""

import os

from support import Process, Server, check, make_certificates, run, run_program, sample, tool


def test(directory):
    ca, cert, key = make_certificates(directory)

    status, _, err = run_program(sample("tls_echo_server"), os.path.join(directory, "missing.pem"), key, "0")
    check(status == 1 and "missing.pem" in err, f"a missing certificate: status {status}, {err!r}")

    with Server(sample("tls_echo_server"), cert, key, "0") as server:
        check(server.address.startswith("wss://"), f"not wss: {server.address}")
        url = server.url("wss", "localhost")

        # The echo is awaited before stdin ends, so that the close does not overtake it.
        with Process(tool(), "connect", url, "--ca", ca) as client:
            client.write_line("over TLS")
            check(client.read_line() == "over TLS", "no echo")
            client.close_stdin()
            status, _, err = client.wait()
            check(status == 0, f"client exit status {status}: {err!r}")

        # Verification is on by default: the system store does not know this CA.
        status, _, err = run_program(tool(), "connect", url, input_text="never sent\n")
        check(status == 1 and "certificate" in err, f"an untrusted server: status {status}, {err!r}")

        check(server.stop() == 0, "the server did not stop cleanly on SIGTERM")


run(test)
