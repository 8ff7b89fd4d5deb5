"""The case catalogue of Autobahn|Testsuite, groups 1-7, 9, 10, 12 and 13, as data.

Each case keeps Autobahn's number, the frames it sends (payloads, fragment boundaries,
chop sizes, timers), the outcomes it accepts and the close it expects, taken from the
Autobahn case descriptions and sources (autobahntestsuite/case/case*.py). The wording of the
descriptions is ours.

Expected events are tuples: ("message", payload, is_binary), ("pong", payload) and
("timeout", tag), the marker the fail-fast cases record when the peer is still open after a
pause. Autobahn's verdict: the events received equal one of the expected lists (OK or
NON-STRICT); the close is judged separately against `close` (see fuzzer.CaseRun.judge).
"""

import fnmatch

import protocol as wire
import testdata
from fuzzer import (OK, NON_STRICT, BeginFrame, Close, CloseAfter, FrameData, KillAfter,
                    Message, Pause, RoundTrips, Send, Wait)

KIB, MIB = 1 << 10, 1 << 20


class CloseExpectation:
    """Autobahn's expectedClose: who sends the first close frame, the close codes the peer
    may send, and whether the closing handshake must be complete."""

    def __init__(self, by_me, codes, clean):
        self.by_me, self.codes, self.clean = by_me, codes, clean


NORMAL = CloseExpectation(True, [1000], True)          # echo, then we close with 1000
FAIL_1002 = CloseExpectation(False, [1002], False)     # the peer must fail the connection
FAIL_1007 = CloseExpectation(False, [1007], False)


class Case:
    def __init__(self, id, description, steps, expect=None, close=NORMAL, suppress_close=False,
                 wrong_code_fails=False, informational=None, check_fragments=None, timeout=15,
                 deflate_offers=None, server_accept=None, report_time=False):
        self.id = id
        self.description = description
        self.steps = steps
        self.expect = expect if expect is not None else {}
        self.close = close
        self.suppress_close = suppress_close      # the steps close; no close when events match
        self.wrong_code_fails = wrong_code_fails  # group 7: a wrong close code fails the case
        self.informational = informational        # why the case is INFORMATIONAL by design
        self.check_fragments = check_fragments    # case 10.1.1
        self.timeout = timeout                    # harness cap on the whole case (seconds)
        self.deflate_offers = deflate_offers      # what we offer as a client (12.x, 13.x)
        self.server_accept = server_accept        # how we answer offers as a server
        self.report_time = report_time            # durations belong in the results

    @property
    def group(self):
        return int(self.id.split(".")[0])

    @property
    def key(self):
        return tuple(int(x) for x in self.id.split("."))


def echo(payload, binary=False):
    return {OK: [("message", payload, binary)]}


NOTHING = {OK: []}

HELLO = b"Hello, world!"
BINARY_PAYLOAD = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
# "κόσμε": Markus Kuhn's UTF-8 test text, 11 bytes of 2- and 3-byte sequences.
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
UTF8_TEXT = "Hello-µ@ßöäüàá-UTF-8!!".encode()


def group1():
    sizes = [0, 125, 126, 127, 128, 65535, 65536, 65536]
    cases = []
    for sub, (binary, pattern) in enumerate([(False, b"*"), (True, b"\xfe")], start=1):
        kind = "binary" if binary else "text"
        for i, size in enumerate(sizes, start=1):
            chop = 997 if i == 8 else None
            payload = pattern * size
            cases.append(Case(
                f"1.{sub}.{i}",
                f"Send a {kind} message of {size} bytes" + (", written in chops of 997 bytes" if chop else ""),
                [Send(2 if binary else 1, payload, chop=chop), KillAfter(10)],
                echo(payload, binary)))
    return cases


def group2():
    def pong_case(n, what, payload, chop=None, close_after=1):
        return Case(f"2.{n}", what, [Send(wire.OP_PING, payload, chop=chop), CloseAfter(close_after)],
                    {OK: [("pong", payload)]})

    ten = [f"payload-{i}".encode() for i in range(10)]
    return [
        pong_case(1, "Send a ping without payload", b""),
        pong_case(2, "Send a ping with a small text payload", HELLO),
        pong_case(3, "Send a ping with a small binary payload", BINARY_PAYLOAD),
        pong_case(4, "Send a ping with a 125-byte payload", b"\xfe" * 125),
        Case("2.5", "Send a ping with a 126-byte payload (control frames hold at most 125)",
             [Send(wire.OP_PING, b"\xfe" * 126), KillAfter(1)], NOTHING, FAIL_1002),
        pong_case(6, "Send a ping with a 125-byte payload, written byte by byte", b"\xfe" * 125,
                  chop=1, close_after=2),
        Case("2.7", "Send an unsolicited pong without payload, then close",
             [Send(wire.OP_PONG), Close(1000), CloseAfter(1)], NOTHING),
        Case("2.8", "Send an unsolicited pong with payload, then close",
             [Send(wire.OP_PONG, b"unsolicited pong payload"), Close(1000), CloseAfter(1)], NOTHING),
        Case("2.9", "Send an unsolicited pong, then a ping: only the ping is answered",
             [Send(wire.OP_PONG, b"unsolicited pong payload"), Send(wire.OP_PING, b"ping payload"),
              CloseAfter(1)], {OK: [("pong", b"ping payload")]}),
        Case("2.10", "Send 10 pings: every one is answered",
             [Send(wire.OP_PING, p) for p in ten] + [CloseAfter(3)], {OK: [("pong", p) for p in ten]}),
        Case("2.11", "Send 10 pings, written byte by byte: every one is answered",
             [Send(wire.OP_PING, p, chop=1) for p in ten] + [CloseAfter(3)],
             {OK: [("pong", p) for p in ten]}),
    ]


def _echo_then_bad(bad_frame, write=None):
    """A text message, a bad frame, a ping: the message is echoed, then the connection
    failed before the ping is answered. Autobahn accepts a peer that failed before echoing
    as NON-STRICT."""
    opts = {"sync": True} if write == "sync" else {"chop": 1} if write == "chop" else {}
    return ([Send(1, HELLO, **opts), bad_frame(opts), Send(wire.OP_PING, **opts), KillAfter(1)],
            {OK: [("message", HELLO, False)], NON_STRICT: []})


def group3():
    steps2, expect2 = _echo_then_bad(lambda o: Send(1, HELLO, rsv=2, **o))
    steps3, expect3 = _echo_then_bad(lambda o: Send(1, HELLO, rsv=3, **o), "sync")
    steps4, expect4 = _echo_then_bad(lambda o: Send(1, HELLO, rsv=4, **o), "chop")
    return [
        Case("3.1", "Send a small text message with RSV = 1", [Send(1, HELLO, rsv=1), KillAfter(1)],
             NOTHING, FAIL_1002),
        Case("3.2", "Send a text message, then one with RSV = 2, then a ping", steps2, expect2, FAIL_1002),
        Case("3.3", "As 3.2 with RSV = 3, written frame by frame", steps3, expect3, FAIL_1002),
        Case("3.4", "As 3.2 with RSV = 4, written byte by byte", steps4, expect4, FAIL_1002),
        Case("3.5", "Send a small binary message with RSV = 5",
             [Send(2, BINARY_PAYLOAD, rsv=5), KillAfter(1)], NOTHING, FAIL_1002),
        # Autobahn's description says "Ping"; its code sends a binary frame. We send its bytes.
        Case("3.6", "Send a frame with RSV = 6 (a binary frame, as Autobahn's code does)",
             [Send(2, HELLO, rsv=6), KillAfter(1)], NOTHING, FAIL_1002),
        Case("3.7", "Send a close frame with RSV = 7", [Send(wire.OP_CLOSE, rsv=7), KillAfter(1)],
             NOTHING, FAIL_1002),
    ]


def group4():
    cases = []
    for sub, opcodes in [(1, [3, 4, 5, 6, 7]), (2, [11, 12, 13, 14, 15])]:
        kind = "non-control" if sub == 1 else "control"
        for i, op in enumerate(opcodes, start=1):
            payload = b"reserved opcode payload" if i == 2 else HELLO if i in (4, 5) else b""
            if i <= 2:
                cases.append(Case(f"4.{sub}.{i}", f"Send a frame with reserved {kind} opcode {op}",
                                  [Send(op, payload), KillAfter(1)], NOTHING, FAIL_1002))
            else:
                write = "chop" if i == 5 else None
                steps, expect = _echo_then_bad(lambda o, op=op, p=payload: Send(op, p, **o), write)
                cases.append(Case(f"4.{sub}.{i}", f"Send a text message, then a frame with reserved "
                                  f"{kind} opcode {op}, then a ping" + (", byte by byte" if write else ""),
                                  steps, expect, FAIL_1002))
    return cases


def group5():
    f1, f2 = b"fragment1", b"fragment2"
    two = {OK: [("message", f1 + f2, False)]}
    ping_between = {OK: [("pong", b"ping payload"), ("message", f1 + f2, False)]}

    def fragmented(o):
        return [Send(1, f1, fin=False, **o), Send(0, f2, **o), CloseAfter(1)]

    def with_ping(o):
        return [Send(1, f1, fin=False, **o), Send(wire.OP_PING, b"ping payload", **o),
                Send(0, f2, **o), CloseAfter(1)]

    def nothing_to_continue(fin, o):
        return [Send(0, b"non-continuation payload", fin=fin, **o), Send(1, HELLO, **o), KillAfter(1)]

    sync, chop = {"sync": True}, {"chop": 1}
    cases = [
        Case("5.1", "Send a ping in 2 fragments", [Send(wire.OP_PING, f1, fin=False), Send(0, f2),
                                                   KillAfter(1)], NOTHING, FAIL_1002),
        Case("5.2", "Send a pong in 2 fragments", [Send(wire.OP_PONG, f1, fin=False), Send(0, f2),
                                                   KillAfter(1)], NOTHING, FAIL_1002),
        Case("5.3", "Send a text message in 2 fragments", fragmented({}), two),
        Case("5.4", "As 5.3, written frame by frame", fragmented(sync), two),
        Case("5.5", "As 5.3, written byte by byte", fragmented(chop), two),
        Case("5.6", "Send a text message in 2 fragments with a ping between them", with_ping({}), ping_between),
        Case("5.7", "As 5.6, written frame by frame", with_ping(sync), ping_between),
        Case("5.8", "As 5.6, written byte by byte", with_ping(chop), ping_between),
    ]
    for n, fin in [(9, True), (12, False)]:
        for k, (opts, how) in enumerate([({}, "in one write"), (sync, "frame by frame"),
                                         (chop, "byte by byte")]):
            cases.append(Case(f"5.{n + k}", f"Send a continuation frame with FIN = {str(fin).lower()} "
                              f"that continues nothing, then a text message, {how}",
                              nothing_to_continue(fin, opts), NOTHING, FAIL_1002))
    cases += [
        Case("5.15", "Send a text message in 2 fragments, then a continuation frame with FIN = false "
             "that continues nothing, then a text message",
             [Send(1, f1, fin=False), Send(0, f2), Send(0, b"fragment3", fin=False),
              Send(1, b"fragment4"), KillAfter(1)],
             {OK: [("message", f1 + f2, False)], NON_STRICT: []}, FAIL_1002),
    ]
    for n, fin in [(16, False), (17, True)]:
        steps = []
        for _ in range(2):
            steps += [Send(0, f1, fin=fin), Send(1, f2, fin=False), Send(0, b"fragment3")]
        cases.append(Case(f"5.{n}", f"Twice: a continuation frame with FIN = {str(fin).lower()} that "
                          "continues nothing, then a text message in 2 fragments",
                          steps + [KillAfter(1)], NOTHING, FAIL_1002))
    cases.append(Case("5.18", "Send a text message in 2 fragments, both with opcode text",
                      [Send(1, f1, fin=False), Send(1, f2), KillAfter(1)], NOTHING, FAIL_1002))
    frags = [f"fragment{i}".encode() for i in range(1, 6)]
    pings = [b"pongme 1!", b"pongme 2!"]
    for n, opts in [(19, {}), (20, sync)]:
        cases.append(Case(
            f"5.{n}", "Send a text message in 5 fragments with a ping after the 2nd and the 4th, "
            "waiting 1 s after the first ping" + (", written frame by frame" if opts else ""),
            [Send(1, frags[0], fin=False, **opts), Send(0, frags[1], fin=False, **opts),
             Send(wire.OP_PING, pings[0], **opts), Wait(1),
             Send(0, frags[2], fin=False, **opts), Send(0, frags[3], fin=False, **opts),
             Send(wire.OP_PING, pings[1], **opts), Send(0, frags[4], **opts), CloseAfter(1)],
            {OK: [("pong", pings[0]), ("pong", pings[1]), ("message", b"".join(frags), False)]},
            timeout=20))
    return cases


def utf8_sequences():
    """Autobahn's 6.5-6.23: (subgroup title, [(valid, bytes)]), from Markus Kuhn's UTF-8
    decoder stress test (UTF-8-test.txt), in Autobahn's order."""
    k = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
         b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    lonely = []
    for lo, hi in [(0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD)]:
        lonely.append((False, b"".join(bytes((i, 0x20)) for i in range(lo, hi))))
    noncharacters = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in b"\xf0\xf1\xf2\xf3\xf4":
        for z2 in b"\x8f\x9f\xaf\xbf":
            if z1 == 0xF4 and z2 != 0x8F:
                continue  # above U+10FFFF
            for z3 in b"\xbe\xbf":
                seq = bytes((z1, z2, 0xBF, z3))
                if seq not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):  # overlong
                    noncharacters.append((True, seq))
    surrogates = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
                  b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]
    paired = [a + b for a in surrogates[:4] for b in (b"\xed\xb0\x80", b"\xed\xbf\xbf")]
    return [
        ("Some valid UTF-8 sequences", [(True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
                                        (True, b"hello\xe2\x82\xacworld"),
                                        (True, b"hello\xf0\xa4\xad\xa2world"), (True, KOSME)]),
        ("All prefixes of a valid UTF-8 string that contains multi-byte code points",
         [(wire.is_utf8(KOSME[:i]), KOSME[:i]) for i in range(1, len(KOSME) + 1)]),
        ("First possible sequence of a certain length",
         [(True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"), (True, b"\xf0\x90\x80\x80")]),
        ("First possible sequence length 5/6 (invalid codepoints)",
         [(False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]),
        ("Last possible sequence of a certain length",
         [(True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"), (True, b"\xf4\x8f\xbf\xbf")]),
        ("Last possible sequence length 4/5/6 (invalid codepoints)",
         [(False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"), (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]),
        ("Other boundary conditions",
         [(True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
          (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]),
        ("Unexpected continuation bytes",
         [(False, s) for s in (b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
                               b"\x80\xbf\x80\xbf\x80", b"\x80\xbf\x80\xbf\x80\xbf")]
         + [(False, bytes(range(0x80, 0xBF)))]),
        ("Lonely start characters", lonely),
        ("Sequences with last continuation byte missing", [(False, s) for s in k]),
        ("Concatenation of incomplete sequences", [(False, b"".join(k))]),
        ("Impossible bytes", [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]),
        ("Examples of an overlong ASCII character",
         [(False, s) for s in (b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
                               b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf")]),
        ("Maximum overlong sequences",
         [(False, s) for s in (b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
                               b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf")]),
        ("Overlong representation of the NUL character",
         [(False, s) for s in (b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
                               b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80")]),
        ("Single UTF-16 surrogates", [(False, s) for s in surrogates]),
        ("Paired UTF-16 surrogates", [(False, s) for s in paired]),
        ("Non-character code points (valid UTF-8)", noncharacters),
        ("Unicode specials (i.e. replacement char)",
         [(True, b"\xef\xbf" + bytes((c,))) for c in range(0xB9, 0xC0)]),
    ]


def group6():
    invalid = KOSME + b"\xed\xa0\x80" + b"edited"     # invalid at byte 12 (\xa0)
    fail_fast = KOSME + b"\xf4\x90\x80\x80" + b"edited"  # invalid at byte 12 (\x90)
    fail_fast_expect = {OK: [("timeout", "A")], NON_STRICT: [("timeout", "A"), ("timeout", "B")]}
    p1, p2 = "Hello-µ@ßöä".encode(), "üàá-UTF-8!!".encode()  # cut on a code point

    def fail_fast_frames(cuts):
        a, b = cuts
        return [Send(1, fail_fast[:a], fin=False), Pause(1, "A"), Send(0, fail_fast[a:b], fin=False),
                Pause(1, "B"), Send(0, fail_fast[b:]), KillAfter(1)]

    def fail_fast_chops(cuts):
        a, b = cuts
        return [BeginFrame(1, len(fail_fast), fin=False), FrameData(fail_fast[:a]), Pause(1, "A"),
                FrameData(fail_fast[a:b]), Pause(1, "B"), FrameData(fail_fast[b:]), Send(0, b""),
                KillAfter(1)]

    assert p1 + p2 == UTF8_TEXT
    cases = [
        Case("6.1.1", "Send a text message of length 0", [Send(1, b""), CloseAfter(1)], echo(b"")),
        Case("6.1.2", "Send a text message in 3 fragments of length 0",
             [Send(1, b"", fin=False), Send(0, b"", fin=False), Send(0, b""), CloseAfter(1)], echo(b"")),
        Case("6.1.3", "Send a text message in 3 fragments, only the middle one non-empty",
             [Send(1, b"", fin=False), Send(0, b"middle frame payload", fin=False), Send(0, b""),
              CloseAfter(1)], echo(b"middle frame payload")),
        Case("6.2.1", "Send a valid UTF-8 text message in one frame",
             [Message(UTF8_TEXT), CloseAfter(1)], echo(UTF8_TEXT)),
        Case("6.2.2", "Send a valid UTF-8 text message in 2 fragments cut on a code point",
             [Send(1, p1, fin=False), Send(0, p2), CloseAfter(1)], echo(UTF8_TEXT)),
        Case("6.2.3", "Send a valid UTF-8 text message in 1-byte fragments (cutting code points)",
             [Message(UTF8_TEXT, frag=1), CloseAfter(1)], echo(UTF8_TEXT)),
        Case("6.2.4", "Send \"κόσμε\" in 1-byte fragments (cutting code points)",
             [Message(KOSME, frag=1), CloseAfter(1)], echo(KOSME)),
        Case("6.3.1", "Send an invalid UTF-8 text message in one frame",
             [Message(invalid), KillAfter(1)], NOTHING, FAIL_1007),
        Case("6.3.2", "Send an invalid UTF-8 text message in 1-byte fragments",
             [Message(invalid, frag=1), KillAfter(1)], NOTHING, FAIL_1007),
        Case("6.4.1", "Fail fast: 3 fragments 1 s apart, the 2nd makes the text invalid (\\xf4\\x90\\x80\\x80)",
             fail_fast_frames((11, 15)), fail_fast_expect, FAIL_1007),
        Case("6.4.2", "As 6.4.1, the 2nd fragment is just the byte that makes the text invalid",
             fail_fast_frames((12, 13)), fail_fast_expect, FAIL_1007),
        Case("6.4.3", "As 6.4.1, in 3 writes of one frame instead of 3 frames",
             fail_fast_chops((11, 15)), fail_fast_expect, FAIL_1007),
        Case("6.4.4", "As 6.4.2, in 3 writes of one frame instead of 3 frames",
             fail_fast_chops((12, 13)), fail_fast_expect, FAIL_1007),
    ]
    for sub, (title, sequences) in enumerate(utf8_sequences(), start=5):
        for i, (valid, payload) in enumerate(sequences, start=1):
            cases.append(Case(
                f"6.{sub}.{i}", f"{title}: send a text message of 0x{payload.hex()} "
                f"({'valid' if valid else 'invalid'} UTF-8) in one frame",
                [Message(payload), KillAfter(0.5)],
                echo(payload) if valid else NOTHING, NORMAL if valid else FAIL_1007))
    return cases


def group7():
    def close_case(id, description, steps, expect_close, **kw):
        return Case(id, description, steps + [KillAfter(1)], NOTHING, expect_close,
                    suppress_close=True, wrong_code_fails=True, **kw)

    kosme_invalid = KOSME + b"\xed\xa0\x80" + b"edited"
    err = CloseExpectation(True, [1002], False)
    cases = [
        Case("7.1.1", "Send a text message, then close", [Send(1, b"Hello World!"), KillAfter(1)],
             echo(b"Hello World!"), wrong_code_fails=True),
        close_case("7.1.2", "Send two close frames", [Close(1000), Send(wire.OP_CLOSE)], NORMAL),
        close_case("7.1.3", "Send a ping after the close frame", [Close(1000), Send(wire.OP_PING)], NORMAL),
        close_case("7.1.4", "Send a text message after the close frame",
                   [Close(1000), Send(1, b"Hello World!")], NORMAL),
        close_case("7.1.5", "Send the 1st fragment of a message, a close frame, then the 2nd fragment",
                   [Send(1, b"fragment1", fin=False), Close(1000), Send(0, b"fragment2")], NORMAL),
        Case("7.1.6", "Send a 256 KiB text message, a small one, a close frame and a ping, back to back",
             [Send(1, b"BAsd7&jh23", length=256 * KIB), Send(1, b"Hello World!"), Close(1000),
              Send(wire.OP_PING), KillAfter(1)],
             {OK: [("message", b"Hello World!", False)], NON_STRICT: []}, suppress_close=True,
             informational="Autobahn: the outcome depends on implementation-defined close behaviour"),
        close_case("7.3.1", "Send a close frame with an empty payload", [Close()], NORMAL),
        close_case("7.3.2", "Send a close frame with a 1-byte payload", [Close(None, b"a")], err),
        close_case("7.3.3", "Send a close frame with code 1000 and no reason", [Close(1000)], NORMAL),
        close_case("7.3.4", "Send a close frame with code and reason", [Close(1000, b"Hello World!")], NORMAL),
        close_case("7.3.5", "Send a close frame with a reason of the maximum length (123 bytes)",
                   [Close(1000, b"*" * 123)], NORMAL),
        close_case("7.3.6", "Send a close frame with a reason too long (124 bytes: payload 126)",
                   [Close(1000, b"*" * 124)], err),
        close_case("7.5.1", "Send a close frame whose reason is not UTF-8",
                   [Close(1000, kosme_invalid)], CloseExpectation(True, [1002, 1007], False)),
    ]
    for i, code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                              4000, 4999], start=1):
        cases.append(close_case(f"7.7.{i}", f"Send a close frame with valid code {code}", [Close(code)],
                                CloseExpectation(True, [1000, code], True)))
    for i, code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999], start=1):
        cases.append(close_case(f"7.9.{i}", f"Send a close frame with invalid code {code}", [Close(code)], err))
    for i, code in enumerate([5000, 65535], start=1):
        cases.append(Case(f"7.13.{i}", f"Send a close frame with code {code}", [Close(code), KillAfter(1)],
                          NOTHING, CloseExpectation(True, [1000, code, 1002], False), suppress_close=True,
                          informational="Autobahn: the spec leaves the reaction to this code open"))
    return cases


def _big(id, description, payload, binary, wait, **send):
    return Case(id, description,
                [RoundTrips(lambda i: payload, 1, binary, wait, **send)], timeout=wait + 10,
                report_time=True)


def group9():
    cases = []
    text_pattern, binary_pattern = b"BAsd7&jh23", b"\x00\xfe\x23\xfa\xf0"
    sizes = [(64 * KIB, "64 KiB", 10), (256 * KIB, "256 KiB", 10), (1 * MIB, "1 MiB", 20),
             (4 * MIB, "4 MiB", 40), (8 * MIB, "8 MiB", 60), (16 * MIB, "16 MiB", 100)]
    for sub, binary, pattern in [(1, False, text_pattern), (2, True, binary_pattern)]:
        kind = "binary" if binary else "text"
        for i, (size, label, wait) in enumerate(sizes, start=1):
            cases.append(_big(f"9.{sub}.{i}", f"Send a {kind} message of {label}",
                              wire.repeat_to(pattern, size), binary, wait))
    frags = [64, 256, KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB]
    for sub, binary, byte in [(3, False, b"*"), (4, True, b"\xfe")]:
        kind = "binary" if binary else "text"
        for i, frag in enumerate(frags, start=1):
            cases.append(_big(f"9.{sub}.{i}", f"Send a {kind} message of 4 MiB in fragments of {frag} bytes",
                              byte * (4 * MIB), binary, 100, send_as="message", frag=frag))
    for sub, binary, pattern in [(5, False, text_pattern), (6, True, binary_pattern)]:
        kind = "binary" if binary else "text"
        for i, chop in enumerate([64, 128, 256, 512, 1024, 2048], start=1):
            cases.append(_big(f"9.{sub}.{i}", f"Send a {kind} message of 1 MiB, written in chops of {chop} bytes",
                              wire.repeat_to(pattern, MIB), binary, 100, chop=chop))
    for sub, binary, byte in [(7, False, b"*"), (8, True, b"\xfe")]:
        kind = "binary" if binary else "text"
        for i, (size, wait) in enumerate([(0, 60), (16, 60), (64, 60), (256, 120), (1024, 240),
                                          (4096, 480)], start=1):
            payload = byte * size
            cases.append(Case(f"9.{sub}.{i}", f"Send 1000 {kind} messages of {size} bytes, one at a time "
                              "(round-trip time)", [RoundTrips(lambda i, p=payload: p, 1000, binary, wait)],
                              timeout=wait + 10, report_time=True))
    return cases


def group10():
    payload = b"*" * 65536
    # Autobahn's autoFragmentSize 1300: 65536 bytes go out in 51 frames, 1 text + 50 continuations.
    return [Case("10.1.1", "Send a text message of 64 KiB cut into frames of 1300 bytes",
                 [Message(payload, frag=1300), KillAfter(10)], echo(payload),
                 check_fragments=(65536 // 1300, 1))]


# ------------------------------------------------------------------ permessage-deflate

# Autobahn's (payload size, message count, timeout, auto-fragment size) of cases x.y.1-18.
DEFLATE_SIZES = [
    (16, 1000, 60, 0), (64, 1000, 60, 0), (256, 1000, 120, 0), (1024, 1000, 240, 0),
    (4096, 1000, 480, 0), (8192, 1000, 480, 0), (16384, 1000, 480, 0), (32768, 1000, 480, 0),
    (65536, 1000, 480, 0), (131072, 1000, 480, 0),
    (8192, 1000, 480, 256), (16384, 1000, 480, 256), (32768, 1000, 480, 256), (65536, 1000, 480, 256),
    (131072, 1000, 480, 256), (131072, 1000, 480, 1024), (131072, 1000, 480, 4096),
    (131072, 1000, 480, 32768),
]

# Autobahn sends 1000 messages in every compression case: 10.9 GB over the 216 cases, hours
# of work on this machine. By default we send 1000 messages only while that stays under
# DEFLATE_BUDGET bytes per case and fewer (but at least DEFLATE_MIN_COUNT) above: the
# larger messages still cross the 32 KiB window and every message after the first relies on
# the context of the previous ones. run.py --full-deflate restores Autobahn's counts.
DEFLATE_BUDGET = 2 * MIB
DEFLATE_MIN_COUNT = 4


def deflate_count(size, full):
    return 1000 if full else min(1000, max(DEFLATE_MIN_COUNT, DEFLATE_BUDGET // size))


def _accept_first(pick):
    """A server answer (Autobahn's accept1-7): the first offer pick() agrees to, accepted with
    what pick() asks of the client: (request_no_context_takeover, request_max_window_bits)."""
    def accept(offers):
        for offer in offers:
            ask = pick(offer)
            if ask is not None:
                return wire.accept_offer(offer, *ask)
        return None
    return accept


ACCEPT_DEFAULT = _accept_first(lambda o: (False, 0))
ACCEPT_NO_CONTEXT = _accept_first(lambda o: (True, 0) if o.accept_no_context_takeover else None)
ACCEPT_WINDOW_8 = _accept_first(lambda o: (False, 8) if o.accept_max_window_bits else None)
ACCEPT_WINDOW_15 = _accept_first(lambda o: (False, 15) if o.accept_max_window_bits else None)
ACCEPT_BOTH_8 = _accept_first(lambda o: (True, 8) if o.accept_no_context_takeover and o.accept_max_window_bits else None)
ACCEPT_BOTH_15 = _accept_first(lambda o: (True, 15) if o.accept_no_context_takeover and o.accept_max_window_bits else None)


def ACCEPT_FALLBACK(offers):
    return ACCEPT_BOTH_8(offers) or ACCEPT_NO_CONTEXT(offers) or ACCEPT_DEFAULT(offers)


Offer = wire.DeflateOffer
# Subgroups 13.1-13.7: (what we offer as a client, how we answer as a server, descriptions).
DEFLATE_PARAMETERS = [
    ([Offer()], ACCEPT_DEFAULT, "[(False, 0)]"),
    ([Offer(request_no_context_takeover=True)], ACCEPT_NO_CONTEXT, "[(True, 0)]"),
    ([Offer(request_max_window_bits=8)], ACCEPT_WINDOW_8, "[(False, 8)]"),
    ([Offer(request_max_window_bits=15)], ACCEPT_WINDOW_15, "[(False, 15)]"),
    ([Offer(request_no_context_takeover=True, request_max_window_bits=8)], ACCEPT_BOTH_8, "[(True, 8)]"),
    ([Offer(request_no_context_takeover=True, request_max_window_bits=15)], ACCEPT_BOTH_15, "[(True, 15)]"),
    ([Offer(request_no_context_takeover=True, request_max_window_bits=8),
      Offer(request_no_context_takeover=True), Offer()], ACCEPT_FALLBACK, "[(True, 8), (True, 0), (False, 0)]"),
]


def _deflate_cases(prefix, key, offers, accept, full, label):
    _, _, binary, _ = next(d for d in testdata.DATA_SETS if d[0] == key)
    cases = []
    for i, (size, _count, wait, frag) in enumerate(DEFLATE_SIZES, start=1):
        count = deflate_count(size, full)
        cases.append(Case(
            f"{prefix}.{i}", f"{label}: {count} compressed {'binary' if binary else 'text'} messages "
            f"of {size} bytes" + (f", auto-fragmented to {frag} bytes" if frag else ""),
            [RoundTrips(testdata.slicer(key, size), count, binary, wait, send_as="message",
                        frag=frag or None, compressed=True)],
            timeout=wait + 10, deflate_offers=offers, server_accept=accept, report_time=True))
    return cases


def group12(full=False):
    cases = []
    for j, (key, title, binary, size) in enumerate(testdata.DATA_SETS, start=1):
        cases += _deflate_cases(f"12.{j}", key, [Offer()], ACCEPT_DEFAULT, full,
                                f"{title} ({'binary' if binary else 'utf8'}, {size} bytes), default offer")
    return cases


def group13(full=False):
    cases = []
    for j, (offers, accept, params) in enumerate(DEFLATE_PARAMETERS, start=1):
        cases += _deflate_cases(f"13.{j}", "json", offers, accept, full,
                                f"JSON; client offers and server requests "
                                f"(no_context_takeover, max_window_bits) {params}")
    return cases


# ------------------------------------------------------------------ the whole catalogue

SUBGROUP_TITLES = {
    "1.1": "Text Messages", "1.2": "Binary Messages", "2": "Pings/Pongs", "3": "Reserved Bits",
    "4.1": "Non-control Opcodes", "4.2": "Control Opcodes", "5": "Fragmentation",
    "6.1": "Valid UTF-8 with zero payload fragments",
    "6.2": "Valid UTF-8 unfragmented, fragmented on code-points and within code-points",
    "6.3": "Invalid UTF-8 differently fragmented", "6.4": "Fail-fast on invalid UTF-8",
    "7.1": "Basic close behavior (fuzzer initiated)",
    "7.3": "Close frame structure: payload length (fuzzer initiated)",
    "7.5": "Close frame structure: payload value (fuzzer initiated)",
    "7.7": "Close frame structure: valid close codes (fuzzer initiated)",
    "7.9": "Close frame structure: invalid close codes (fuzzer initiated)",
    "7.13": "Informational close information (fuzzer initiated)",
    "9.1": "Text Message (increasing size)", "9.2": "Binary Message (increasing size)",
    "9.3": "Fragmented Text Message (fixed size, increasing fragment size)",
    "9.4": "Fragmented Binary Message (fixed size, increasing fragment size)",
    "9.5": "Text Message (fixed size, increasing chop size)",
    "9.6": "Binary Message (fixed size, increasing chop size)",
    "9.7": "Text Message Roundtrip Time (fixed number, increasing size)",
    "9.8": "Binary Message Roundtrip Time (fixed number, increasing size)",
    "10.1": "Auto-Fragmentation",
}
SUBGROUP_TITLES.update({f"6.{i}": title for i, (title, _) in enumerate(utf8_sequences(), start=5)})
SUBGROUP_TITLES.update({f"12.{j}": f"{title} ({'binary' if b else 'utf8'}, {size} bytes)"
                        for j, (_, title, b, size) in enumerate(testdata.DATA_SETS, start=1)})
SUBGROUP_TITLES.update({f"13.{j}": f"JSON, (no_context_takeover, max_window_bits) offered and requested: {p}"
                        for j, (_, _, p) in enumerate(DEFLATE_PARAMETERS, start=1)})

GROUP_TITLES = {1: "Framing", 2: "Pings/Pongs", 3: "Reserved Bits", 4: "Opcodes", 5: "Fragmentation",
                6: "UTF-8 Handling", 7: "Close Handling", 9: "Limits/Performance", 10: "Misc",
                12: "WebSocket Compression (different payloads)",
                13: "WebSocket Compression (different parameters)"}


def subgroup_of(case_id):
    parts = case_id.split(".")
    two = ".".join(parts[:2])
    return two if two in SUBGROUP_TITLES else parts[0]


def all_cases(full_deflate=False):
    cases = (group1() + group2() + group3() + group4() + group5() + group6() + group7() +
             group9() + group10() + group12(full_deflate) + group13(full_deflate))
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return sorted(cases, key=lambda c: c.key)


def select(cases, patterns):
    """Cases whose id matches one of the comma-separated patterns (Autobahn style: "1.*",
    "6.4.*", "12.1.1"; "*" is any text, so "1.*" is all of group 1)."""
    if not patterns:
        return cases
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in wanted)]
