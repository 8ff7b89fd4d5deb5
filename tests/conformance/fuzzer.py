"""The fuzzing engine: plays one case of the catalogue over one TCP connection, in either
role, and judges it with Autobahn|Testsuite's rules.

It mirrors what Autobahn's fuzzer does (autobahntestsuite/case/case.py and the protocol
of autobahn/websocket/protocol.py), because its verdicts depend on those details:

- the flags Autobahn keeps about the close: closed_by_me (we sent the first close frame),
  dropped_by_me (we closed TCP), failed_by_me, was_clean (close frames both ways, and the
  server closed TCP), the peer's close code;
- the case timers: kill_after (fail the connection if still open), close_after (start the
  closing handshake), pause (wait, then go on only if the connection is still open), and
  Autobahn's protocol timeouts (1 s for the closing handshake, 1 s for a server to drop TCP
  after it, 5 s for the opening handshake);
- the fuzzer's own strictness: it checks what the peer sends (masking, opcodes, UTF-8, close
  codes) and fails the connection itself when the peer breaks a rule, by sending a close
  frame (Autobahn's failByDrop=false) so that the wrong endpoint is seen to close.

Writes that the catalogue asks to "chop" (or to send "sync") go out one write per piece with a
pass through the event loop in between, like Autobahn's queued writes; with TCP_NODELAY each
piece leaves in its own segment.
"""

import base64
import collections
import heapq
import os
import select
import socket
import struct
import time
import zlib
from urllib.parse import parse_qs, urlsplit

import protocol as wire

# Verdicts (Autobahn's Case.*) ---------------------------------------------------------
OK, NON_STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED = (
    "OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
# ...and the close behaviours, judged separately.
WRONG_CODE, UNCLEAN, FAILED_BY_CLIENT = "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT"

OPEN, CLOSING, CLOSED = "open", "closing", "closed"

# Autobahn's protocol defaults (seconds).
OPEN_HANDSHAKE_TIMEOUT = 5.0
CLOSE_HANDSHAKE_TIMEOUT = 1.0
SERVER_DROP_TIMEOUT = 1.0
# When the peer started the close and we (a client) answered, Autobahn waits for the server
# to drop TCP until a case timer fires; we bound that wait the same way.
PEER_CLOSE_DROP_TIMEOUT = 2.0

RECV_SIZE = 1 << 20


# ------------------------------------------------------------------ the steps of a case
# A case is data: a list of these steps, run in order when the connection opens.

class Step:
    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self):
        return f"{type(self).__name__}({self.__dict__})"


class Send(Step):
    """One frame: Autobahn's sendFrame(opcode, payload, fin, rsv, payload_len, chopsize,
    sync). length repeats payload to that many bytes."""

    def __init__(self, opcode, payload=b"", fin=True, rsv=0, length=None, chop=None, sync=False):
        super().__init__(opcode=opcode, payload=payload, fin=fin, rsv=rsv, length=length,
                         chop=chop, sync=sync)


class Message(Step):
    """A message: Autobahn's sendMessage, compressed when permessage-deflate is in force and
    cut into frames of frag bytes (of the compressed payload, if compressed)."""

    def __init__(self, payload, binary=False, frag=None):
        super().__init__(payload=payload, binary=binary, frag=frag)


class BeginFrame(Step):
    """The header of a frame whose payload follows in FrameData pieces (cases 6.4.3/6.4.4)."""

    def __init__(self, opcode, length, fin=True):
        super().__init__(opcode=opcode, length=length, fin=fin)


class FrameData(Step):
    def __init__(self, data):
        super().__init__(data=data)


class Close(Step):
    """Autobahn's sendClose/sendCloseFrame: a close frame with this code and raw reason
    bytes, sent only while the connection is open; it makes us the closing endpoint."""

    def __init__(self, code=None, reason=b""):
        super().__init__(code=code, reason=reason)


class KillAfter(Step):
    def __init__(self, seconds):
        super().__init__(seconds=seconds)


class CloseAfter(Step):
    def __init__(self, seconds):
        super().__init__(seconds=seconds)


class Pause(Step):
    """Autobahn's continueLater + "if still open: record ('timeout', tag)" (cases 6.4.x):
    the rest of the steps run only if the peer has not started closing meanwhile."""

    def __init__(self, seconds, tag):
        super().__init__(seconds=seconds, tag=tag)


class Wait(Step):
    """A plain continueLater (case 5.19): go on unless the connection is closed."""

    def __init__(self, seconds):
        super().__init__(seconds=seconds)


class RoundTrips(Step):
    """The workload of the performance and compression cases (9.x, 12.x, 13.x): send one
    message, wait for its echo, check it, send the next, count times; then close with 1000.
    make(i) gives the payload of message i. send_as "frame" sends each message as one frame
    (with length/chop options), "message" through Message (with frag). compressed: the case
    needs permessage-deflate (UNIMPLEMENTED without). wait bounds the whole workload, like
    Autobahn's closeAfter(WAITSECS)."""

    def __init__(self, make, count, binary, wait, send_as="frame", chop=None, frag=None,
                 compressed=False):
        super().__init__(make=make, count=count, binary=binary, wait=wait, send_as=send_as,
                         chop=chop, frag=frag, compressed=compressed)


# ------------------------------------------------------------------ the connection

class Connection:
    """One WebSocket connection after the opening handshake, driven by an event loop with
    timers. listener gets on_message(payload, binary), on_pong(payload)."""

    def __init__(self, sock, is_server, codec=None, leftover=b"", listener=None):
        self.sock = sock
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.is_server = is_server
        self.codec = codec
        self.listener = listener
        self.state = OPEN
        # Autobahn's close bookkeeping.
        self.closed_by_me = False
        self.failed_by_me = False
        self.dropped_by_me = False
        self.was_clean = False
        self.not_clean_reason = None
        self.close_received = False
        self.remote_close_code = None
        self.remote_close_reason = None
        self.local_close_code = None
        self.notes = []  # what the fuzzer saw the peer do wrong, for the results
        self.tx_frames = collections.Counter()  # opcodes of the data frames we sent
        self._parser = wire.FrameParser()
        self._parser.feed(leftover)
        self._message = None  # [opcode, compressed, [payloads]] of a message being received
        self._txq = collections.deque()  # [memoryview, yield_after]
        self._yield = False
        self._frame_key = None  # mask key and offset of a frame sent in pieces
        self._frame_offset = 0
        self._timers = []
        self._timer_seq = 0
        self._poll = select.poll()
        self._poll.register(self.sock, select.POLLIN)
        self._polling_out = False

    # -------------------------------------------------------------- timers and the loop

    def call_later(self, delay, fn):
        self._timer_seq += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, self._timer_seq, fn))

    def run(self, deadline):
        """Runs until the connection is closed or deadline (monotonic) passes."""
        while self.state != CLOSED:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now and self.state != CLOSED:
                heapq.heappop(self._timers)[2]()
            if self.state == CLOSED:
                break
            if now >= deadline:
                self.notes.append("harness deadline reached: connection dropped")
                self.drop()
                break
            wait = min(self._timers[0][0] if self._timers else deadline, deadline) - now
            yielding, self._yield = self._yield, False
            if yielding:
                wait = 0  # one pass through the loop (reads included) between chops
            self._want_write(bool(self._txq) and not yielding)
            events = self._poll.poll(max(0.0, wait) * 1000)
            for _fd, event in events:
                if event & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    self._read()
                if self.state != CLOSED and event & select.POLLOUT:
                    self._write()
        self._close_socket()

    def _want_write(self, want):
        if want != self._polling_out:
            self._polling_out = want
            self._poll.modify(self.sock, select.POLLIN | (select.POLLOUT if want else 0))

    def _read(self):
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            self._lost(f"receive failed: {e.strerror}")
            return
        if not data:
            self._lost(None)
            return
        self._parser.feed(data)
        for frame in self._parser.frames():
            if self.state == CLOSED:
                return
            self._on_frame(frame)

    def _write(self):
        while self._txq and not self._yield:
            chunk = self._txq[0]
            try:
                sent = self.sock.send(chunk[0])
            except BlockingIOError:
                return
            except OSError as e:
                self._lost(f"send failed: {e.strerror}")
                return
            if sent < len(chunk[0]):
                chunk[0] = chunk[0][sent:]
                return
            self._txq.popleft()
            self._yield = chunk[1]

    def _enqueue(self, data, pieces=None, sync=False):
        """Queues bytes; pieces N cuts them into N-byte writes, sync makes them one write,
        each followed by a pass through the event loop."""
        if self.state == CLOSED:
            return
        view = memoryview(data)
        if pieces:
            for i in range(0, len(view), pieces):
                self._txq.append([view[i:i + pieces], True])
        else:
            self._txq.append([view, sync])
        if not self._yield:
            self._write()

    def _lost(self, reason):
        """The peer closed TCP (or it failed): Autobahn's connectionLost."""
        if self.state == CLOSED:
            return
        if not self.was_clean and self.not_clean_reason is None:
            self.not_clean_reason = reason or "peer dropped the TCP connection without closing handshake"
        self.state = CLOSED

    def drop(self, flush=False):
        """We close TCP (Autobahn's dropConnection). flush sends what is queued first."""
        if self.state == CLOSED:
            return
        self.dropped_by_me = True
        if flush and self._txq:
            self.sock.setblocking(True)
            give_up = time.monotonic() + 1.0
            try:
                while self._txq and time.monotonic() < give_up:
                    self.sock.settimeout(max(0.01, give_up - time.monotonic()))
                    self.sock.sendall(self._txq.popleft()[0])
            except OSError:
                pass
        self.state = CLOSED

    def _close_socket(self):
        try:
            self._poll.unregister(self.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.sock.close()

    # -------------------------------------------------------------- sending

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, length=None, chop=None, sync=False):
        payload = wire.repeat_to(payload, length)
        if opcode in wire.DATA_OPCODES:
            self.tx_frames[opcode] += 1
        self._enqueue(wire.encode_frame(opcode, payload, fin, rsv, mask=not self.is_server), chop, sync)

    def send_message(self, payload, binary=False, frag=None):
        rsv = 0
        if self.codec is not None:
            payload, rsv = self.codec.compress(payload), 4
        opcode = wire.OP_BINARY if binary else wire.OP_TEXT
        if not frag or len(payload) <= frag:
            self.send_frame(opcode, payload, rsv=rsv)
            return
        pieces = [payload[i:i + frag] for i in range(0, len(payload), frag)]
        for i, piece in enumerate(pieces):
            self.send_frame(opcode if i == 0 else wire.OP_CONTINUATION, piece,
                            fin=i == len(pieces) - 1, rsv=rsv if i == 0 else 0)

    def begin_frame(self, opcode, length, fin=True):
        self._frame_key = None if self.is_server else os.urandom(4)
        self._frame_offset = 0
        self._enqueue(wire.frame_header(opcode, length, fin, 0, self._frame_key))

    def frame_data(self, data):
        if self._frame_key is not None:
            # Keep the key's phase across pieces: rotate it to this piece's offset.
            k = self._frame_offset % 4
            data = wire.apply_mask(data, self._frame_key[k:] + self._frame_key[:k])
        self._frame_offset += len(data)
        self._enqueue(data)

    def send_close(self, code=None, reason=b"", is_reply=False):
        """Autobahn's sendCloseFrame: only while open; the first close makes us closing."""
        if self.state != OPEN:
            return
        self._enqueue(wire.encode_frame(wire.OP_CLOSE, wire.encode_close(code, reason),
                                        mask=not self.is_server))
        self.closed_by_me = not is_reply
        self.local_close_code = code
        self.state = CLOSING
        if self.closed_by_me:
            self.call_later(CLOSE_HANDSHAKE_TIMEOUT, self._close_handshake_timeout)

    def fail(self, code, reason):
        """Autobahn's _fail_connection with failByDrop=false."""
        if self.state == CLOSED:
            return
        self.failed_by_me = True
        if self.state == OPEN:
            self.send_close(code, reason.encode()[:123])
        else:
            self.drop(flush=True)

    def _close_handshake_timeout(self):
        if self.state != CLOSED:
            self.was_clean = False
            self.not_clean_reason = "peer did not answer our close frame in time"
            self.drop()

    def _server_drop_timeout(self, reset_clean):
        if self.state != CLOSED:
            if reset_clean:
                self.was_clean = False
                self.not_clean_reason = "server did not drop TCP after the closing handshake"
            self.drop()

    # -------------------------------------------------------------- receiving

    def _violation(self, what, code=1002):
        self.notes.append(what)
        self.fail(code, what)

    def _on_frame(self, f):
        if self.is_server and not f.masked:
            return self._violation("unmasked frame from the client")
        if not self.is_server and f.masked:
            return self._violation("masked frame from the server")
        if f.opcode in wire.CONTROL_OPCODES:
            if not f.fin or len(f.payload) > 125 or f.rsv:
                return self._violation("malformed control frame")
            if f.opcode == wire.OP_CLOSE:
                return self._on_close_frame(f.payload)
            if f.opcode == wire.OP_PING:
                if self.state == OPEN:
                    self._enqueue(wire.encode_frame(wire.OP_PONG, f.payload, mask=not self.is_server))
                return None
            if not self.failed_by_me and self.listener:
                self.listener.on_pong(f.payload)
            return None
        if f.opcode not in wire.DATA_OPCODES:
            return self._violation(f"reserved opcode {f.opcode}")
        first = f.opcode != wire.OP_CONTINUATION
        if f.rsv and not (f.rsv == 4 and first and self.codec is not None):
            return self._violation(f"RSV bits {f.rsv} set without an extension for them")
        if first == (self._message is not None):
            return self._violation("continuation frame without a message" if not first
                                   else "new data frame while a fragmented message is open")
        if first:
            self._message = [f.opcode, f.rsv == 4, []]
        self._message[2].append(f.payload)
        if not f.fin:
            return None
        opcode, compressed, parts = self._message
        self._message = None
        payload = b"".join(parts)
        if compressed:
            try:
                payload = self.codec.decompress(payload)
            except zlib.error as e:
                return self._violation(f"cannot inflate the message: {e}", 1007)
        binary = opcode == wire.OP_BINARY
        if not binary and not wire.is_utf8(payload):
            return self._violation("text message that is not UTF-8", 1007)
        if not self.failed_by_me and self.listener:
            self.listener.on_message(payload, binary)
        return None

    def _on_close_frame(self, payload):
        if len(payload) == 1:
            return self._violation("close frame with a 1-byte payload")
        self.close_received = True
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        reason = payload[2:]
        # The code is recorded as sent, even when invalid: the verdict then names it.
        self.remote_close_code, self.remote_close_reason = code, reason
        if code is not None and code not in wire.VALID_CLOSE_CODES:
            return self._violation(f"close code {code} is not allowed on the wire")
        if not wire.is_utf8(reason):
            return self._violation("close reason that is not UTF-8", 1007)
        if self.state == CLOSING:
            self.was_clean = True
            if self.is_server:
                self.drop()
            else:
                self.call_later(SERVER_DROP_TIMEOUT, lambda: self._server_drop_timeout(True))
        elif self.state == OPEN:
            self.was_clean = True
            self.send_close(1000, is_reply=True)
            if self.is_server:
                self.drop(flush=True)
            else:
                self.call_later(PEER_CLOSE_DROP_TIMEOUT, lambda: self._server_drop_timeout(False))
        return None


# ------------------------------------------------------------------ one case

class Outcome:
    """What a case produced: the verdicts and what led to them."""

    def __init__(self, case_id):
        self.case_id = case_id
        self.behavior = FAILED
        self.behavior_close = FAILED
        self.result = "Actual events differ from any expected."
        self.result_close = "TCP connection was dropped without close handshake"
        self.remote_close_code = None
        self.close_received = False
        self.dropped_by_peer = False
        self.duration_ms = None
        self.report_time = False  # whether the duration belongs in the results
        self.notes = []

    @property
    def verdict(self):
        """One word per case. Autobahn shows two (the events and, beside them, the close);
        a close that is not OK turns an OK or NON-STRICT into FAILED, except a client that
        had to drop TCP itself (Autobahn's "FAILED BY CLIENT", shown as "almost"), which
        makes it NON-STRICT."""
        if self.behavior not in (OK, NON_STRICT) or self.behavior_close in (OK, INFORMATIONAL):
            return self.behavior
        return NON_STRICT if self.behavior_close == FAILED_BY_CLIENT else FAILED

    @property
    def close_text(self):
        """What closed the connection from the peer's side: its close code, "empty" (a close
        frame without code), "drop" (TCP closed without close frame), "none" (we closed TCP
        before it did either)."""
        if self.remote_close_code is not None:
            return str(self.remote_close_code)
        if self.close_received:
            return "empty"
        return "drop" if self.dropped_by_peer else "none"

    def to_json(self):
        """What results.json keeps: the details only where the verdict needs explaining."""
        data = {"verdict": self.verdict, "close": self.close_text}
        if self.report_time:
            data["duration_ms"] = self.duration_ms
        if self.verdict != OK:
            data.update(behavior=self.behavior, behavior_close=self.behavior_close,
                        result=self.result, result_close=self.result_close, notes=self.notes)
        return data


class CaseRun:
    """Plays a case's steps on a connection and judges the outcome (Autobahn's Case)."""

    def __init__(self, case, conn, fuzzer_is_server):
        self.case = case
        self.conn = conn
        self.fuzzer_is_server = fuzzer_is_server
        self.received = []
        self.outcome = Outcome(case.id)
        self.steps = list(case.steps)
        self.workload = None
        self.started = None
        conn.listener = self

    def start(self):
        self.started = time.monotonic()
        self._continue()

    def _continue(self):
        conn = self.conn
        while self.steps:
            step = self.steps.pop(0)
            if isinstance(step, Send):
                conn.send_frame(step.opcode, step.payload, step.fin, step.rsv, step.length,
                                step.chop, step.sync)
            elif isinstance(step, Message):
                conn.send_message(step.payload, step.binary, step.frag)
            elif isinstance(step, BeginFrame):
                conn.begin_frame(step.opcode, step.length, step.fin)
            elif isinstance(step, FrameData):
                conn.frame_data(step.data)
            elif isinstance(step, Close):
                conn.send_close(step.code, step.reason)
            elif isinstance(step, KillAfter):
                conn.call_later(step.seconds, lambda: conn.fail(1001, "Going Away"))
            elif isinstance(step, CloseAfter):
                conn.call_later(step.seconds, conn.send_close)
            elif isinstance(step, Pause):
                conn.call_later(step.seconds, lambda tag=step.tag: self._resume(tag))
                return
            elif isinstance(step, Wait):
                conn.call_later(step.seconds, self._continue)
                return
            elif isinstance(step, RoundTrips):
                self.workload = Workload(step, self)
                self.workload.start()
            else:
                raise TypeError(step)

    def _resume(self, tag):
        if self.conn.state == OPEN:
            self.received.append(("timeout", tag))
            self._continue()

    def on_message(self, payload, binary):
        if self.workload:
            self.workload.on_message(payload, binary)
            return
        self.received.append(("message", payload, binary))
        self._finish_when_done()

    def on_pong(self, payload):
        if self.workload:
            return
        self.received.append(("pong", payload))
        self._finish_when_done()

    def _finish_when_done(self):
        # Autobahn closes once the events match *every* expected list, so a case with
        # both an OK and a NON-STRICT expectation is left to its timers and to the peer.
        if all(self.received == events for events in self.case.expect.values()):
            if self.case.close.by_me and not self.case.suppress_close:
                self.conn.send_close(self.case.close.codes[0])

    def judge(self):
        """Autobahn's Case.onConnectionLost, plus the per-case adjustments."""
        conn, out, case = self.conn, self.outcome, self.case
        if self.workload:
            self.workload.connection_lost()
        out.duration_ms = round(1000 * (time.monotonic() - self.started)) if self.started else None
        out.report_time = case.report_time
        out.remote_close_code = conn.remote_close_code
        out.close_received = conn.close_received
        out.dropped_by_peer = not conn.dropped_by_me and not conn.close_received
        out.notes = list(conn.notes)
        if self.workload is None:
            for verdict, events in case.expect.items():
                if self.received == events:
                    out.behavior, out.result = verdict, "Actual events match at least one expected."
                    break
            else:
                out.result = f"Actual events differ from any expected: got {describe_events(self.received)}"
        expected = case.close
        if expected.by_me != conn.closed_by_me:
            out.behavior_close = FAILED
            out.result_close = "The connection was failed by the wrong endpoint"
        elif expected.clean and not conn.was_clean:
            out.behavior_close = UNCLEAN
            out.result_close = f"The spec requires the connection to be failed cleanly here ({conn.not_clean_reason})"
        elif conn.remote_close_code is not None and conn.remote_close_code not in expected.codes:
            out.behavior_close = WRONG_CODE
            out.result_close = "The close code should have been " + ",".join(map(str, expected.codes)) + " or empty"
        elif not self.fuzzer_is_server and conn.dropped_by_me:
            out.behavior_close = FAILED_BY_CLIENT
            out.result_close = "It is preferred that the server close the TCP connection"
        else:
            out.behavior_close = OK
            out.result_close = "Connection was properly closed"
        if case.wrong_code_fails and out.behavior_close == WRONG_CODE:
            out.behavior, out.result = FAILED, out.result_close
        if case.check_fragments is not None:
            got = (conn.tx_frames[wire.OP_CONTINUATION], conn.tx_frames[wire.OP_TEXT])
            if got != case.check_fragments:
                out.behavior = FAILED
                out.result = f"Frames transmitted {got} do not match the expected {case.check_fragments}."
        if case.informational:
            out.result = f"judged as an ordinary case: {out.behavior} ({out.result})"
            out.result_close = f"judged as an ordinary case: {out.behavior_close} ({out.result_close})"
            out.behavior = out.behavior_close = INFORMATIONAL
        return out


class Workload:
    """RoundTrips in progress (Autobahn's cases 9.1-9.8, 12.x, 13.x)."""

    def __init__(self, spec, run):
        self.spec, self.run, self.conn, self.out = spec, run, run.conn, run.outcome
        self.sent = 0
        self.expected = None

    def start(self):
        if self.spec.compressed and self.conn.codec is None:
            self.out.behavior = UNIMPLEMENTED
            self.out.result = "permessage-deflate was not negotiated"
            self.conn.send_close(1000)
            return
        self.out.behavior = FAILED
        self.conn.call_later(self.spec.wait, self._time_out)
        self._send_next()

    def _time_out(self):
        if self.out.behavior == FAILED and self.conn.state == OPEN:
            self.out.result = f"Did not receive all echoes within {self.spec.wait} seconds."
        self.conn.send_close()

    def connection_lost(self):
        if self.out.behavior == FAILED and not self.out.result.startswith(("Did not", "message")):
            self.out.result = f"The connection ended after {self.sent - 1} of {self.spec.count} echoes."

    def _send_next(self):
        s = self.spec
        self.expected = s.make(self.sent)
        self.sent += 1
        opcode = wire.OP_BINARY if s.binary else wire.OP_TEXT
        if s.send_as == "frame":
            self.conn.send_frame(opcode, self.expected, chop=s.chop)
        else:
            self.conn.send_message(self.expected, s.binary, s.frag)

    def on_message(self, payload, binary):
        if self.out.behavior != FAILED or self.conn.state != OPEN:
            return
        problem = None
        if binary != self.spec.binary:
            problem = f"echo is {'binary' if binary else 'text'}, sent {'binary' if self.spec.binary else 'text'}"
        elif len(payload) != len(self.expected):
            problem = f"echo has {len(payload)} bytes, sent {len(self.expected)}"
        elif payload != self.expected:
            problem = "echo differs from what was sent"
        if problem:
            self.out.result = f"message {self.sent}: {problem}"
            self.conn.send_close(1000)
        elif self.sent < self.spec.count:
            self._send_next()
        else:
            self.out.behavior = OK
            self.out.result = f"Received all {self.spec.count} echoed messages in time."
            self.conn.send_close(1000)


def describe_events(events):
    def short(x):
        return repr(x) if len(x) <= 40 else f"<{len(x)} bytes>"
    return "[" + ", ".join(e[0] + ("(" + ", ".join(short(x) if isinstance(x, bytes) else str(x)
                                                   for x in e[1:]) + ")" if len(e) > 1 else "")
                           for e in events) + "]"


# ------------------------------------------------------------------ the two roles

class HandshakeError(Exception):
    pass


def _read_head(sock, deadline):
    """Reads an HTTP head; returns (head, bytes after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HandshakeError("opening handshake timed out")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise HandshakeError("opening handshake timed out") from None
        except OSError as e:
            raise HandshakeError(f"opening handshake failed: {e}") from None
        if not chunk:
            raise HandshakeError("peer closed the connection during the opening handshake")
        data += chunk
        if len(data) > 65536:
            raise HandshakeError("HTTP head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def play(case, sock, fuzzer_is_server, codec, leftover):
    run = CaseRun(case, Connection(sock, fuzzer_is_server, codec, leftover), fuzzer_is_server)
    run.start()
    run.conn.run(time.monotonic() + case.timeout)
    return run.judge()


def failed(case_id, why):
    out = Outcome(case_id)
    out.result = why
    out.notes.append(why)
    return out


def run_as_client(case, url):
    """Connects to a server at url (ws://host:port/) and plays case (fuzzing client)."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    deadline = time.monotonic() + OPEN_HANDSHAKE_TIMEOUT
    try:
        sock = socket.create_connection((host, port), timeout=OPEN_HANDSHAKE_TIMEOUT)
    except OSError as e:
        return failed(case.id, f"cannot connect to {url}: {e}")
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        offers = case.deflate_offers or []
        sock.sendall(wire.client_request(host, port, parts.path or "/", key,
                                         [o.header() for o in offers]))
        head, rest = _read_head(sock, deadline)
        status, fields = wire.parse_head(head)
        wire.check_response(status, fields, key)
        codec = None
        answer = wire.parse_extensions(fields.get("sec-websocket-extensions", ""))
        if answer:
            if not offers or len(answer) != 1 or answer[0][0] != "permessage-deflate":
                raise HandshakeError(f"unexpected extensions in the response: {answer}")
            codec = wire.DeflateCodec(wire.check_deflate_response(answer[0][1], offers))
    except (HandshakeError, ValueError, OSError) as e:
        sock.close()
        return failed(case.id, f"opening handshake: {e}")
    return play(case, sock, False, codec, rest)


def run_as_server(listener, catalogue_by_index, agent, timeout):
    """Accepts one connection on listener and plays the case its request names
    (/runCase?case=N&agent=A, as with Autobahn's fuzzing server). Returns (case id or None,
    outcome or None, error)."""
    listener.settimeout(timeout)
    try:
        sock, _ = listener.accept()
    except socket.timeout:
        return None, None, "the client did not connect"
    deadline = time.monotonic() + OPEN_HANDSHAKE_TIMEOUT
    case = None
    try:
        head, rest = _read_head(sock, deadline)
        request_line, fields = wire.parse_head(head)
        method, target, _ = request_line.split(" ", 2)
        query = parse_qs(urlsplit(target).query)
        case = catalogue_by_index.get(int(query.get("case", ["0"])[0]))
        if method != "GET" or urlsplit(target).path != "/runCase" or case is None:
            raise HandshakeError(f"unexpected request {request_line!r}")
        if query.get("agent", [agent])[0] != agent:
            raise HandshakeError("agent mismatch")
        extension, codec = None, None
        if case.server_accept is not None:
            offers = []
            for name, params in wire.parse_extensions(fields.get("sec-websocket-extensions", "")):
                if name == "permessage-deflate":
                    try:
                        offers.append(wire.DeflateOffer.parse(params))
                    except ValueError:
                        pass  # an offer we cannot accept is declined (RFC 7692 §5.1)
            accepted = case.server_accept(offers)
            if accepted is not None:
                extension, params = accepted
                codec = wire.DeflateCodec(params)
        sock.sendall(wire.server_response(fields, extension))
    except (HandshakeError, ValueError, OSError) as e:
        try:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        sock.close()
        return (case.id if case else None), None, f"opening handshake: {e}"
    return case.id, play(case, sock, True, codec, rest), None
