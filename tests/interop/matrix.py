"""The interop matrix: syncws (interop_peer) against real peers, Python `websockets` 10.4
(python_peer.py) and Node `ws` 8 (node_peer.js), with syncws as client and as server, over
ws:// and wss://, with permessage-deflate negotiated and without. Every row plays the whole
of scenario.json (messages of 0 bytes to 16 MiB, fragments, pings, closes from each side
with a code and a reason, subprotocols, a rejected handshake), each side checking what it
sees; a table of rows with their results and durations ends the output.

Without deflate, syncws turns it off and the peer keeps it on, so that the refusal (the
server's) or the missing offer (the client's) is syncws's doing.

Run: /usr/bin/python3 tests/interop/matrix.py PATH-TO-INTEROP_PEER [--peer python|node]...
(meson runs one test per peer). Loopback only, ports chosen by the OS, every wait bounded:
a row whose client does not finish in ROW_TIMEOUT seconds, or whose server does not exit
STOP_TIMEOUT seconds after that, is killed and fails. A missing peer makes the run exit 77
(skipped).
"""

import argparse
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "sync"))
from cli_support import test_certificates  # noqa: E402  (exits 77 without websockets)

SCENARIO = os.path.join(HERE, "scenario.json")
# A row takes a few seconds. The client gets ROW_TIMEOUT, then the server STOP_TIMEOUT to
# report and exit: 8 rows stay within meson's 600 s even when every row hangs.
ROW_TIMEOUT = 50
STOP_TIMEOUT = 15
START_TIMEOUT = 20


def peer_command(peer):
    """How to start a peer, or None when it is missing."""
    if peer == "python":
        return [sys.executable, os.path.join(HERE, "python_peer.py")]
    node = shutil.which("node")
    if node is None or not os.path.isdir(os.path.join(HERE, "node_modules", "ws")):
        return None
    return [node, os.path.join(HERE, "node_peer.js")]


class Program:
    """A running side of a row; stdout lines and stderr are read on threads so that every
    wait has a deadline."""

    def __init__(self, name, command):
        self.name = name
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.output = []  # stdout after the first line, and stderr, for the log
        self.threads = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self.threads:
            t.start()

    def _read_stdout(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self.output.append(raw.decode(errors="replace").rstrip("\n"))

    def first_line(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        return line

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def wait(self, deadline):
        """The exit status, or None if it had to be killed at the deadline."""
        try:
            status = self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            status = None
        for t in self.threads:
            t.join(5)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.output.append(line)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_row(peer, role, transport, deflate, interop_peer):
    """One row: starts the server side, then the client side against it. Returns
    (ok, what each side wrote)."""
    certs = test_certificates() if transport == "wss" else None
    syncws = [interop_peer]
    other = peer_command(peer)
    expect = "yes" if deflate else "no"
    server_args = ["server", SCENARIO]
    client_args = ["client", SCENARIO]
    syncws_options = ["--deflate", "on" if deflate else "off", "--expect-deflate", expect]
    peer_options = ["--deflate", "on", "--expect-deflate", expect]
    server_cmd, client_cmd = (syncws, other) if role == "server" else (other, syncws)
    server_options, client_options = ((syncws_options, peer_options) if role == "server"
                                      else (peer_options, syncws_options))
    if certs:
        server_options = server_options + ["--cert", certs.server_cert, "--key", certs.server_key]
        client_options = client_options + ["--ca", certs.ca]

    deadline = time.monotonic() + ROW_TIMEOUT
    server = Program("server", server_cmd + server_args + server_options)
    client = None
    try:
        line = server.first_line(START_TIMEOUT)
        if not line or not line.startswith("listening on "):
            server.kill()
            server.wait(deadline)
            return False, [f"server did not start (first line {line!r})"] + server.output
        url = line[len("listening on "):]
        client = Program("client", client_cmd + client_args + [url] + client_options)
        client_status = client.wait(deadline)
        # End of stdin tells the server to stop and report, even after a failed client.
        server.close_stdin()
        server_status = server.wait(time.monotonic() + STOP_TIMEOUT)
    finally:
        server.kill()
        if client:
            client.kill()
    def status(code):
        return "killed at its deadline" if code is None else f"exit status {code}"

    log = [f"client {status(client_status)}, server {status(server_status)}"]
    log += ["  " + line for line in client.output + server.output]
    return client_status == 0 and server_status == 0, log


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("interop_peer")
    parser.add_argument("--peer", action="append", choices=["python", "node"])
    args = parser.parse_args()
    peers = args.peer or ["python", "node"]
    missing = [p for p in peers if peer_command(p) is None]
    if missing:
        print(f"skipped: missing peer(s) {', '.join(missing)} (node, or npm ci in tests/interop)")
        sys.exit(77)

    rows = []
    for peer in peers:
        for role in ("client", "server"):
            for transport in ("ws", "wss"):
                for deflate in (True, False):
                    name = (f"{peer:6} syncws {role:6} {transport:3} "
                            f"{'deflate' if deflate else 'no deflate'}")
                    start = time.monotonic()
                    ok, log = run_row(peer, role, transport, deflate,
                                      os.path.abspath(args.interop_peer))
                    seconds = time.monotonic() - start
                    rows.append((peer, role, transport, deflate, ok, seconds))
                    print(f"{'ok  ' if ok else 'FAIL'} {name} ({seconds:.1f} s)", flush=True)
                    for line in log:
                        print("     " + line, flush=True)

    print()
    print(f"{'peer':8} {'syncws':7} {'transport':9} {'permessage-deflate':19} {'result':7} seconds")
    for peer, role, transport, deflate, ok, seconds in rows:
        print(f"{peer:8} {role:7} {transport + '://':9} {'negotiated' if deflate else 'off':19} "
              f"{'OK' if ok else 'FAILED':7} {seconds:7.1f}")
    failed = sum(1 for row in rows if not row[4])
    print(f"{len(rows) - failed} passed, {failed} failed, "
          f"{sum(row[5] for row in rows):.1f} s in all")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
