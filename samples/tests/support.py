"""Helpers for the sample tests: run the built samples and the syncws tool with every wait
bounded, and read the address a server prints. Standard library only; loopback only.

Each test script is run by meson as `python3 SCRIPT BUILD_DIR` and calls run(test).
"""

import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# No single step of a test may take longer than this (seconds).
TIMEOUT = 20


def build_dir():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} BUILD_DIR")
    return os.path.abspath(sys.argv[1])


def sample(name):
    """The path of a built sample program."""
    return os.path.join(build_dir(), "samples", name)


def tool():
    """The path of the syncws command-line tool."""
    return os.path.join(build_dir(), "tools", "syncws")


def run_program(*argv, input_text="", env=None, timeout=TIMEOUT):
    """Runs a program to completion; returns (exit status, stdout, stderr)."""
    done = subprocess.run(list(argv), input=input_text.encode(), capture_output=True,
                          timeout=timeout, env=env)
    return (done.returncode, done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"))


class Process:
    """A running program with pipes. stdout and stderr are read on threads, so that every
    wait for a line has a deadline. As a context manager it kills the program if the test
    leaves it running."""

    def __init__(self, *argv, env=None):
        self.argv = argv
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self._lines = queue.Queue()
        self._stderr = []
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_stdout(self):
        for raw in self.proc.stdout:
            self._lines.put(raw.decode(errors="replace").rstrip("\n"))
        self._lines.put(None)

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode(errors="replace"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def name(self):
        return os.path.basename(self.argv[0])

    def read_line(self, timeout=TIMEOUT):
        """The next line printed on stdout."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.name()}: no output within {timeout} s; "
                                 f"stderr: {self.stderr()!r}")
        if line is None:
            self._lines.put(None)
            status = self.proc.wait(timeout)
            raise AssertionError(f"{self.name()}: stdout ended (exit status {status}); "
                                 f"stderr: {self.stderr()!r}")
        return line

    def read_until(self, pattern, timeout=TIMEOUT):
        """Reads lines until one matches the regular expression; returns the match and the
        lines read before it."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            line = self.read_line(max(0.0, deadline - time.monotonic()))
            match = re.fullmatch(pattern, line)
            if match:
                return match, before
            before.append(line)

    def write_line(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def close_stdin(self):
        self.proc.stdin.close()

    def wait(self, timeout=TIMEOUT):
        """Waits for the exit; returns (status, the rest of stdout as lines, stderr)."""
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"{self.name()} still running after {timeout} s; "
                                 f"stderr: {self.stderr()!r}")
        for t in self._threads:
            t.join(timeout)
        rest = []
        while (line := self._lines.get()) is not None:
            rest.append(line)
        self._lines.put(None)
        return status, rest, self.stderr()

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        """Sends a signal and waits for the exit; returns the exit status."""
        self.proc.send_signal(sig)
        status, _, _ = self.wait(timeout)
        return status

    def stderr(self):
        return "".join(self._stderr)


class Server(Process):
    """A sample server (or `syncws serve`). The samples print "listening on ws://HOST:PORT"
    (wss://, or unix:PATH) once they accept clients; address and port are taken from it."""

    def __init__(self, *argv, env=None):
        super().__init__(*argv, env=env)
        match, _ = self.read_until(r"listening on ((wss?)://([^/\s]+):(\d+)|unix:(\S+))")
        self.address = match.group(1)
        self.port = int(match.group(4)) if match.group(4) else None
        self.unix_path = match.group(5)

    def url(self, scheme="ws", host="127.0.0.1"):
        return f"{scheme}://{host}:{self.port}/"


def make_certificates(directory):
    """A test CA and a server certificate it signed for localhost and 127.0.0.1, made with
    the openssl command as tests/sync/test_certificates.hpp does. Returns the paths
    (ca, cert, key)."""
    def openssl(*args):
        done = subprocess.run(["openssl", *args], capture_output=True, timeout=TIMEOUT)
        if done.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr.decode()}")

    ca, ca_key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    cert, key = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-days", "30",
            "-subj", "/CN=syncws sample test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-x509", *new_key, "-keyout", key, "-out", cert, "-days", "30",
            "-subj", "/CN=localhost", "-CA", ca, "-CAkey", ca_key,
            "-addext", "basicConstraints=CA:FALSE", "-addext", "extendedKeyUsage=serverAuth",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    return ca, cert, key


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def run(test):
    """Runs test() and turns an exception into a failure report and exit status 1."""
    try:
        with tempfile.TemporaryDirectory(prefix="syncws-sample-") as directory:
            test(directory)
    except Exception:
        traceback.print_exc()
        print("FAIL")
        sys.exit(1)
    print("PASS")
