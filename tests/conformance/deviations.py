"""Verdicts other than OK that we have looked into: why they happen, with evidence.

An entry explains a verdict in results.md. For syncws it also says whether the verdict is
accepted: run.py --check lets an accepted one pass and fails on everything else, so a
deviation of ours stays visible (and the test red) until it is fixed or someone decides,
here, that it is fine. For the reference peers an entry explains why a peer known to pass
Autobahn does not get OK from this harness: it must point at evidence that the peer really
behaves that way, or the harness is wrong. Cases that are INFORMATIONAL by design (7.1.6,
7.13.x) carry their reason in the catalogue.
"""

import fnmatch

from fuzzer import FAILED, NON_STRICT

ECHO_RACE = ("3.2", "3.3", "3.4", "4.1.3", "4.1.4", "4.1.5", "4.2.3", "4.2.4", "4.2.5", "5.15")


class Deviation:
    def __init__(self, agent, cases, verdicts, reason, role="*", accepted=False):
        self.agent, self.role, self.cases = agent, role, cases
        self.verdicts, self.reason, self.accepted = verdicts, reason, accepted

    def covers(self, agent, role, case_id, verdict):
        return (agent == self.agent and self.role in ("*", role) and verdict in self.verdicts
                and any(fnmatch.fnmatchcase(case_id, p) for p in self.cases))


DEVIATIONS = [
    Deviation("websockets", ECHO_RACE, [NON_STRICT], reason=(
        "websockets notices the protocol error in its reader task and fails the connection "
        "before the application's handler echoes the previous message; its own compliance "
        "notes (compliance/README.rst, \"Conformance notes\", in python-websockets/websockets) "
        "list 3.2, 3.3, 4.1.3, 4.1.4, 4.2.3, 4.2.4 and 5.15 as Non-Strict for exactly this "
        "reason. The byte-by-byte variants (3.4, 4.1.5, 4.2.5) end either way depending on "
        "timing.")),
    Deviation("websockets", ["6.4.*"], [NON_STRICT], reason=(
        "websockets 10.4 decodes text with an incremental UTF-8 decoder fed one complete "
        "frame at a time (legacy/protocol.py, read_message), so bytes that break UTF-8 in "
        "the middle of a frame (6.4.3, 6.4.4: one frame sent in 3 writes) are seen only when "
        "the frame is complete. Its compliance notes list 6.4.x as Non-Strict; its 2013 "
        "compliance report (pull request #3) already showed 6.4.3/6.4.4 not passing.")),
    Deviation("websockets", ["13.3.*", "13.5.*", "13.7.*"], [FAILED], reason=(
        "These cases negotiate an 8-bit window for the peer's compressor. websockets 10.4 "
        "accepts 8 (permessage_deflate.py asserts 8 <= bits <= 15) and then calls "
        "zlib.compressobj(wbits=-8), which zlib >= 1.2.9 refuses (\"Invalid initialization "
        "option\"; Debian has 1.2.13; the traceback is in websockets-*.log): as a server it "
        "answers 500 (13.3) or closes with 1011 at the first message (13.5, 13.7), as a "
        "client it fails at the first message. A known zlib change that broke many "
        "implementations (autobahn-python issues #1018 and #1477, ratchetphp/RFC6455 #22 "
        "about case 13.3.1). Node ws compresses with a 9-bit window instead (zlib keeps its "
        "matches within 250 bytes, so an 8-bit window inflates them) and passes.")),
    Deviation("ws", ["6.4.*"], [NON_STRICT], reason=(
        "ws checks UTF-8 once a text message is complete (lib/receiver.js, dataMessage(): "
        "isValidUTF8() on the concatenated fragments), never fragment by fragment, so it "
        "fails the connection only after the last fragment: Autobahn's NON-STRICT.")),
]


def find(agent, role, case_id, verdict):
    for deviation in DEVIATIONS:
        if deviation.covers(agent, role, case_id, verdict):
            return deviation
    return None
