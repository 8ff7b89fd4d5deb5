"""Helpers for the reliability tests written in Python: a WebSocket client made of a raw
socket, free to misbehave, and readings of another process's resources from /proc.

The server under test is `syncws serve` from the build (cli_support.ToolServer), a process
of its own, so that its memory, threads, descriptors and CPU time can be read from outside
without the test's own allocations mixing in. Loopback only; every read is bounded.
"""

import base64
import hashlib
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sync"))
from cli_support import (TIMEOUT, ToolServer, expect_equal, run_tests,  # noqa: E402,F401
                         tool_path)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# ---------------------------------------------------------------- another process, from /proc

class Probe:
    """What /proc says about one process: memory, threads, descriptors, CPU time."""

    def __init__(self, pid):
        self.pid = pid

    def _status(self, field):
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")

    def rss_kib(self):
        return self._status("VmRSS")

    def peak_kib(self):
        """Peak resident memory since the last reset_peak() (VmHWM)."""
        return self._status("VmHWM")

    def reset_peak(self):
        # Writing 5 to clear_refs sets VmHWM back to the current RSS (proc(5)).
        with open(f"/proc/{self.pid}/clear_refs", "w") as clear:
            clear.write("5")

    def memory_factor(self):
        """4 if the process runs under AddressSanitizer or ThreadSanitizer (their shadow
        memory and quarantine make every byte touched cost more), else 1: memory bounds are
        multiplied by it, and stay far below what an unbounded buffer would take."""
        with open(f"/proc/{self.pid}/maps") as maps:
            text = maps.read()
        return 4 if "libasan.so" in text or "libtsan.so" in text else 1

    def threads(self):
        return self._status("Threads")

    def descriptors(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self):
        """User + system CPU time used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of stat; fields[0] is field 3 (state).
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def figure(test, **values):
    """Prints what a test measured, one line, for the lead to quote from the test log."""
    shown = ", ".join(f"{k}={v}" for k, v in values.items())
    print(f"     figure {test}: {shown}", flush=True)


def eventually(condition, bound=TIMEOUT, step=0.02):
    """Polls condition until it holds or bound seconds pass; returns whether it held."""
    until = time.monotonic() + bound
    while not condition():
        if time.monotonic() >= until:
            return False
        time.sleep(step)
    return True


# UBSan's vptr check reads a vtable through a pipe when it has not seen it yet; without a
# free descriptor that fails and it reports the object as invalid, memory unprintable.
UNREADABLE_VPTR_REPORT = re.compile(
    r"^\S+: runtime error: [^\n]*?address (0x[0-9a-f]+) which does not point "
    r"to an object of type '[^']*'\n\1: note: object has invalid vptr\n<memory cannot be printed>\n",
    re.MULTILINE)


class EchoServer(ToolServer):
    """`syncws serve --echo` on 127.0.0.1 and a port the OS chooses; .port, .probe. Leaving
    the `with` block kills it and fails the test if a sanitizer reported anything (in a
    sanitizer build UBSan only prints)."""

    def __init__(self, *args, vptr_unreadable_is_false_alarm=False):
        super().__init__("--echo", "--port", "0", *args)
        self.port = int(re.search(r":(\d+)/?$", self.url).group(1))
        self.probe = Probe(self.proc.pid)
        self.vptr_unreadable_is_false_alarm = vptr_unreadable_is_false_alarm

    def __exit__(self, *exc):
        super().__exit__(*exc)
        for reader in self._threads:  # the rest of stderr, up to the end of the pipe
            reader.join(TIMEOUT)
        err = self.stderr()
        if self.vptr_unreadable_is_false_alarm:
            err = UNREADABLE_VPTR_REPORT.sub("", err)
        if exc[0] is None and ("runtime error:" in err or "Sanitizer" in err):
            raise AssertionError(f"the server's sanitizer reported:\n{err}")


def echo_server(*args, **options):
    return EchoServer(*args, **options)


# ---------------------------------------------------------------- a raw client

def opening_request(extra_headers=b"", target=b"/"):
    return (b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + SAMPLE_KEY.encode() + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n" + extra_headers + b"\r\n")


def frame_bytes(opcode, payload, fin=True, masked=True, rsv1=False, length=None):
    """One frame. length, if given, is what the header announces, whatever payload holds."""
    length = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    key = os.urandom(4)
    # bytes XOR in one step through int: fast enough for megabytes.
    pad = (key * (len(payload) // 4 + 1))[:len(payload)]
    masked_payload = (int.from_bytes(payload, "big") ^ int.from_bytes(pad, "big")).to_bytes(
        len(payload), "big") if payload else b""
    return head + key + masked_payload


class RawClient:
    """A client on a plain socket: it sends exactly the bytes a test gives it."""

    def __init__(self, port, timeout=TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        """One read into the buffer; False at the end of the stream (or a reset)."""
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def read_response(self):
        """(status, {lower-case name: value}, body) of one HTTP response."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise AssertionError(f"the server closed before a whole response: {self.buffer[:200]!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0")) if status != 101 else 0
        while len(self.buffer) < length:
            if not self._fill():
                break
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def handshake(self, extra_headers=b""):
        self.send(opening_request(extra_headers))
        return self.read_response()

    def open_websocket(self, extra_headers=b""):
        status, headers, _ = self.handshake(extra_headers)
        expect_equal(status, 101, "handshake status")
        accept = base64.b64encode(hashlib.sha1(SAMPLE_KEY.encode() + GUID).digest()).decode()
        expect_equal(headers.get("sec-websocket-accept"), accept, "Sec-WebSocket-Accept")
        return headers

    def send_frame(self, opcode, payload, **options):
        self.send(frame_bytes(opcode, payload, **options))

    def _take(self, n):
        while len(self.buffer) < n:
            if not self._fill():
                raise AssertionError("the server closed the connection in the middle of a frame")
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_frame(self):
        """(fin, opcode, payload) of the next server frame; pings (keepalive) are answered
        and skipped."""
        while True:
            fin, opcode, payload = self._read_any_frame()
            if opcode != OP_PING:
                return fin, opcode, payload
            self.send_frame(OP_PONG, payload)

    def _read_any_frame(self):
        first, second = self._take(2)
        if second & 0x80:
            raise AssertionError("the server sent a masked frame")
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
        return bool(first & 0x80), first & 0x0F, self._take(length)

    def read_close(self):
        """The server's close frame, skipping data frames before it: (code, reason)."""
        while True:
            _, opcode, payload = self.read_frame()
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:].decode(errors="replace")

    def closed_by_server(self):
        """Reads and drops until the server ends the stream; True on EOF or reset."""
        self.buffer = b""
        while self._fill():
            self.buffer = b""
        return True

    def check_echo(self, text):
        self.send_frame(OP_TEXT, text.encode())
        fin, opcode, payload = self.read_frame()
        expect_equal((fin, opcode, payload.decode()), (True, OP_TEXT, text), "echo")

    def close_cleanly(self):
        self.send_frame(OP_CLOSE, struct.pack("!H", 1000))
        expect_equal(self.read_close()[0], 1000, "close code echoed")
        self.closed_by_server()
        self.close()
