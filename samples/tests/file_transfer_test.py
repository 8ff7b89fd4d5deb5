"""file_sender and file_receiver: files larger than the default 16 MiB message limit, an
empty one and an odd-sized one arrive intact (the server's SHA-256 matches)."""

import hashlib
import os

from support import Server, check, run, run_program, sample


def test(directory):
    files = {"large": 20 * 1024 * 1024 + 123, "empty": 0, "one chunk and a byte": 64 * 1024 + 1}
    with Server(sample("file_receiver"), "0") as server:
        for name, size in files.items():
            path = os.path.join(directory, name)
            data = os.urandom(size)
            with open(path, "wb") as f:
                f.write(data)
            status, out, err = run_program(sample("file_sender"), server.url(), path, timeout=120)
            expected = f"sha256 {hashlib.sha256(data).hexdigest()} bytes {size}\n"
            check(status == 0 and out == expected, f"{name}: status {status}, {out!r}, {err!r}")

        status, _, err = run_program(sample("file_sender"), server.url(), os.path.join(directory, "nothing"))
        check(status == 1 and "cannot open" in err, f"a missing file: status {status}, {err!r}")
        check(server.stop() == 0, "the server did not stop cleanly on SIGTERM")


run(test)
