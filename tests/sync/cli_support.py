"""Helpers shared by cli_test.py and interop_python_test.py.

Runs the syncws tool with every read bounded by a timeout, runs a Python `websockets`
server on a background thread, and counts test results. Loopback only. Needs Debian's
/usr/bin/python3, where python3-websockets (10.4) is importable; without it the tests are
skipped (exit status 77, which meson reports as a skip).
"""

import asyncio
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# No single step of a test may take longer than this (seconds).
TIMEOUT = 20

try:
    import websockets
except ImportError:
    print("skipped: the websockets module is missing (run with /usr/bin/python3 and "
          "install python3-websockets)")
    sys.exit(77)


def tool_path():
    """The syncws executable, given by meson as the first argument."""
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} PATH-TO-SYNCWS")
    return os.path.abspath(sys.argv[1])


def run_tool(*args, input_text="", timeout=TIMEOUT):
    """Runs syncws to completion; returns (exit status, stdout, stderr)."""
    done = subprocess.run([tool_path(), *args], input=input_text.encode(),
                          capture_output=True, timeout=timeout)
    return (done.returncode, done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"))


class Tool:
    """A running syncws process with pipes. Its stdout and stderr are read on threads, so
    that every wait for a line has a timeout. Use as a context manager: the process is
    killed if the test leaves it running."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([tool_path(), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def read_line(self, timeout=TIMEOUT):
        """The next line printed on stdout."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout} s; stderr: {self.stderr()!r}")
        if line is None:
            self._lines.put(None)
            status, _, err = self.wait()
            raise AssertionError(f"stdout ended (exit status {status}); stderr: {err!r}")
        return line

    def read_until(self, expected, timeout=TIMEOUT):
        """Reads lines until one equals expected; returns the lines before it."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            line = self.read_line(max(0.0, deadline - time.monotonic()))
            if line == expected:
                return before
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
            raise AssertionError(f"syncws still running after {timeout} s; "
                                 f"stderr: {self.stderr()!r}")
        for t in self._threads:
            t.join(timeout)
        rest = []
        while (line := self._lines.get()) is not None:
            rest.append(line)
        self._lines.put(None)
        return status, rest, self.stderr()

    def stderr(self):
        return "".join(self._stderr)


class ToolServer(Tool):
    """`syncws serve ARGS`; url is taken from the line it prints first."""

    def __init__(self, *args):
        super().__init__("serve", *args)
        line = self.read_line()
        match = re.fullmatch(r"listening on (wss?://\S+|unix:\S+)", line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"unexpected first line from serve: {line!r}")
        self.url = match.group(1)

    def stop(self, sig=signal.SIGTERM):
        """Stops it with a signal; returns the exit status."""
        self.proc.send_signal(sig)
        status, _, _ = self.wait()
        return status


class PythonServer:
    """websockets.serve(handler) on its own event loop in a background thread, on
    127.0.0.1 and a port the OS chooses (wss:// when options has ssl=). Exceptions escaping
    the handler (failed checks) are collected, and check() raises the first one in the
    test's thread."""

    def __init__(self, handler, **options):
        self._handler = handler
        self._options = options
        self._errors = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._loop = None
        self.url = None

    async def _guarded(self, ws):
        try:
            await asyncio.wait_for(self._handler(ws), TIMEOUT)
        except Exception as e:  # reported by check()
            self._errors.append(e)

    async def _serve(self):
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with websockets.serve(self._guarded, "127.0.0.1", 0, **self._options) as server:
            scheme = "wss" if self._options.get("ssl") else "ws"
            self.url = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            self._ready.set()
            await self._stop

    def _run(self):
        try:
            asyncio.run(self._serve())
        except Exception as e:
            self._errors.append(e)
            self._ready.set()

    def __enter__(self):
        self._thread.start()
        if not self._ready.wait(TIMEOUT) or self.url is None:
            raise AssertionError(f"the Python server did not start: {self._errors!r}")
        return self

    def __exit__(self, *exc):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(TIMEOUT)

    def check(self):
        if self._errors:
            raise self._errors[0]


class Certificates:
    """Certificates made with the openssl command in a temporary directory, once per test
    run (test_certificates() below): a test CA; a server certificate it signed for
    localhost, 127.0.0.1 and ::1; a client certificate it signed. The C++ tests make the
    same, and more, in tests/sync/test_certificates.hpp. Keys are EC P-256, unencrypted."""

    def __init__(self):
        self._directory = tempfile.TemporaryDirectory(prefix="syncws-certs-")
        self._config = self._path("openssl.cnf")
        with open(self._config, "w") as config:  # req needs a section even with -subj
            config.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n")
        self.ca, _ = self._make("ca", "syncws test CA", [
            "basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"])
        self.server_cert, self.server_key = self._make("server", "localhost", [
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1", "extendedKeyUsage=serverAuth"],
            issuer="ca")
        self.client_cert, self.client_key = self._make("client", "syncws test client", [
            "extendedKeyUsage=clientAuth"], issuer="ca")

    def _path(self, name):
        return os.path.join(self._directory.name, name)

    def _make(self, name, common_name, extensions, issuer=None):
        cert, key = self._path(name + ".pem"), self._path(name + ".key")
        command = ["openssl", "req", "-config", self._config, "-x509", "-days", "3650",
                   "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", cert, "-subj", "/CN=" + common_name]
        for extension in extensions:
            command += ["-addext", extension]
        if issuer:
            command += ["-CA", self._path(issuer + ".pem"), "-CAkey", self._path(issuer + ".key")]
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed: {done.stderr.decode()}")
        return cert, key

    def server_context(self, require_client_certificates=False):
        """For websockets.serve(ssl=...)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_certificates:
            context.load_verify_locations(self.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def client_context(self):
        """For websockets.connect(ssl=...): trusts the test CA only, checks host names."""
        return ssl.create_default_context(cafile=self.ca)


_certificates = None


def test_certificates():
    """The Certificates of this test run, made on the first call."""
    global _certificates
    if _certificates is None:
        _certificates = Certificates()
    return _certificates


def run_async(coroutine, timeout=TIMEOUT):
    """Runs a coroutine (a Python websockets client) to completion, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def expect_equal(actual, expected, what):
    if actual != expected:
        def show(v):
            r = repr(v)
            return r if len(r) <= 200 else f"{r[:200]}... ({len(v)} items)"
        raise AssertionError(f"{what}: expected {show(expected)}, got {show(actual)}")


def run_tests(tests):
    """Runs each test function; prints one line per test and the summary
    "N passed, N failed"; exits non-zero when a test failed."""
    passed = failed = 0
    for test in tests:
        start = time.monotonic()
        try:
            test()
        except Exception:
            failed += 1
            print(f"FAIL {test.__name__}", flush=True)
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {test.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
