"""The WebSocket wire format as the fuzzer needs it: frames (including the malformed ones a
conforming endpoint would never send), masking, an incremental frame parser, close payloads,
the opening handshake of both roles and permessage-deflate (RFC 7692) negotiation and
compression. Bytes in, bytes out: no sockets here (fuzzer.py owns those).

Everything is written for speed on large payloads (group 9 sends 16 MiB messages): masking
XORs the payload as one big integer instead of byte by byte, and the parser keeps a read
offset into its buffer instead of deleting consumed bytes from the front.
"""

import base64
import hashlib
import os
import re
import struct
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0, 1, 2
OP_CLOSE, OP_PING, OP_PONG = 8, 9, 10
DATA_OPCODES = (OP_CONTINUATION, OP_TEXT, OP_BINARY)
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)

# Close codes a peer may put on the wire (RFC 6455 §7.4, IANA registry), as Autobahn's
# fuzzer checks them: 1004-1006 and 1015 are reserved, 1016-2999 unassigned, 5000+ invalid.
VALID_CLOSE_CODES = frozenset([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                               1013, 1014]) | frozenset(range(3000, 5000))

# The four bytes every deflate block flushed with Z_SYNC_FLUSH ends with; RFC 7692 §7.2.1
# removes them from the wire and the receiver appends them again.
DEFLATE_TAIL = b"\x00\x00\xff\xff"


def repeat_to(pattern, length):
    """pattern repeated (and cut) to length bytes: Autobahn's payload_len."""
    if length is None:
        return pattern
    if not pattern:
        return b"\x00" * length
    return (pattern * (length // len(pattern) + 1))[:length]


def apply_mask(data, key):
    """data XOR the repeated 4-byte key. Python ints make this one C-speed operation on
    16 MiB, where a per-byte loop would take seconds."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def frame_header(opcode, length, fin=True, rsv=0, mask_key=None):
    first = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)
    mask_bit = 0x80 if mask_key is not None else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    return head + (mask_key or b"")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=False):
    """One frame; anything goes (reserved opcodes, RSV bits, oversized control frames), since
    the fuzzer's job is to send what a peer must reject. A client masks with a fresh key."""
    key = os.urandom(4) if mask else None
    body = apply_mask(payload, key) if mask else payload
    return frame_header(opcode, len(payload), fin, rsv, key) + body


def encode_close(code=None, reason=b""):
    """A close frame payload. code None with a reason gives a payload of the reason alone
    (case 7.3.2 sends a 1-byte close payload that way)."""
    return (struct.pack("!H", code) if code is not None else b"") + (reason or b"")


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload")

    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload


class FrameParser:
    """Incremental parser: feed() bytes as they come, then take frames(). Unmasks."""

    def __init__(self):
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data):
        if self._pos and self._pos > len(self._buf) // 2:
            del self._buf[:self._pos]  # compact now and then, not per frame
            self._pos = 0
        self._buf += data

    def frames(self):
        while True:
            frame = self._next()
            if frame is None:
                return
            yield frame

    def _next(self):
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if available < 2:
            return None
        b0, b1 = buf[pos], buf[pos + 1]
        length, offset = b1 & 0x7F, 2
        if length == 126:
            if available < 4:
                return None
            length, offset = struct.unpack_from("!H", buf, pos + 2)[0], 4
        elif length == 127:
            if available < 10:
                return None
            length, offset = struct.unpack_from("!Q", buf, pos + 2)[0], 10
        masked = bool(b1 & 0x80)
        key_at = offset
        if masked:
            offset += 4
        if available < offset + length:
            return None
        payload = bytes(buf[pos + offset:pos + offset + length])
        if masked:
            payload = apply_mask(payload, bytes(buf[pos + key_at:pos + key_at + 4]))
        self._pos = pos + offset + length
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, payload)


def is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ------------------------------------------------------------------ opening handshake

def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def parse_head(head):
    """(first line, {lower-case name: value}) of an HTTP head (bytes without the blank line);
    repeated fields are joined with ', ' (RFC 7230 §3.2.2)."""
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        name, value = name.strip().lower(), value.strip()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return lines[0], fields


def client_request(host, port, resource, key, extensions=None):
    lines = [f"GET {resource} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             "User-Agent: syncws-conformance-fuzzer"]
    if extensions:
        lines.append("Sec-WebSocket-Extensions: " + ", ".join(extensions))
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def check_response(status_line, fields, key):
    """Raises ValueError unless this is a valid 101 answer to our request."""
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        raise ValueError(f"expected status 101, got {status_line!r}")
    if fields.get("upgrade", "").lower() != "websocket":
        raise ValueError("missing Upgrade: websocket")
    if "upgrade" not in [t.strip().lower() for t in fields.get("connection", "").split(",")]:
        raise ValueError("missing Connection: Upgrade")
    if fields.get("sec-websocket-accept") != accept_key(key):
        raise ValueError("wrong Sec-WebSocket-Accept")


def server_response(fields, extension=None):
    """The 101 response to a request head's fields; ValueError for a bad request."""
    if fields.get("upgrade", "").lower() != "websocket":
        raise ValueError("missing Upgrade: websocket")
    if fields.get("sec-websocket-version") != "13":
        raise ValueError("Sec-WebSocket-Version is not 13")
    key = fields.get("sec-websocket-key")
    if not key:
        raise ValueError("missing Sec-WebSocket-Key")
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept_key(key)}", "Server: syncws-conformance-fuzzer"]
    if extension:
        lines.append("Sec-WebSocket-Extensions: " + extension)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"


def parse_extensions(header):
    """[(name, {param: value or True})] of a Sec-WebSocket-Extensions value. Raises
    ValueError for a repeated parameter or bad syntax."""
    result = []
    for element in filter(None, (e.strip() for e in header.split(","))):
        name, *params = [p.strip() for p in element.split(";")]
        if not re.fullmatch(_TOKEN, name):
            raise ValueError(f"bad extension name {name!r}")
        values = {}
        for param in params:
            pname, sep, pvalue = (x.strip() for x in param.partition("="))
            if pname in values or not re.fullmatch(_TOKEN, pname):
                raise ValueError(f"bad or repeated parameter {pname!r}")
            values[pname] = pvalue.strip('"') if sep else True
        result.append((name, values))
    return result


# ------------------------------------------------------------------ permessage-deflate

class DeflateOffer:
    """A client's permessage-deflate offer, in Autobahn's terms (compress_deflate.py):
    accept_* say what the client lets the server ask of it, request_* what it asks of the
    server. request_max_window_bits 0 means "not requested"."""

    def __init__(self, accept_no_context_takeover=True, accept_max_window_bits=True,
                 request_no_context_takeover=False, request_max_window_bits=0):
        self.accept_no_context_takeover = accept_no_context_takeover
        self.accept_max_window_bits = accept_max_window_bits
        self.request_no_context_takeover = request_no_context_takeover
        self.request_max_window_bits = request_max_window_bits

    def header(self):
        text = "permessage-deflate"
        if self.accept_no_context_takeover:
            text += "; client_no_context_takeover"
        if self.accept_max_window_bits:
            text += "; client_max_window_bits"
        if self.request_no_context_takeover:
            text += "; server_no_context_takeover"
        if self.request_max_window_bits:
            text += f"; server_max_window_bits={self.request_max_window_bits}"
        return text

    def describe(self):
        return (self.request_no_context_takeover, self.request_max_window_bits)

    @classmethod
    def parse(cls, params):
        """The offer a peer client made. Like Autobahn, accept_no_context_takeover is always
        true: RFC 7692 §7.1.1.2 lets a server ask for client_no_context_takeover whether or
        not the client mentioned it."""
        offer = cls(True, False, False, 0)
        for name, value in params.items():
            if name == "client_max_window_bits":
                if value is not True and _window_bits(value) is None:
                    raise ValueError(f"client_max_window_bits={value}")
                offer.accept_max_window_bits = True
            elif name == "client_no_context_takeover" and value is True:
                pass
            elif name == "server_no_context_takeover" and value is True:
                offer.request_no_context_takeover = True
            elif name == "server_max_window_bits":
                bits = _window_bits(value)
                if bits is None:
                    raise ValueError(f"server_max_window_bits={value}")
                offer.request_max_window_bits = bits
            else:
                raise ValueError(f"unknown parameter {name}={value}")
        return offer


def _window_bits(value):
    if value is True or not re.fullmatch(r"[1-9][0-9]?", str(value)):
        return None
    bits = int(value)
    return bits if 8 <= bits <= 15 else None


class DeflateParameters:
    """What is in force on a connection from the fuzzer's side: the window we compress with,
    the peer's window (what our decompressor must hold) and who resets after each message."""

    def __init__(self, our_window=15, peer_window=15, our_no_context=False, peer_no_context=False):
        self.our_window, self.peer_window = our_window, peer_window
        self.our_no_context, self.peer_no_context = our_no_context, peer_no_context

    def __repr__(self):
        return (f"our window {self.our_window}{' no-context' if self.our_no_context else ''}, "
                f"peer window {self.peer_window}{' no-context' if self.peer_no_context else ''}")


def accept_offer(offer, request_no_context_takeover=False, request_max_window_bits=0):
    """A server accepting offer (Autobahn's PerMessageDeflateOfferAccept): the response
    element and the parameters in force for the server."""
    text = "permessage-deflate"
    if offer.request_no_context_takeover:
        text += "; server_no_context_takeover"
    if offer.request_max_window_bits:
        text += f"; server_max_window_bits={offer.request_max_window_bits}"
    if request_no_context_takeover:
        text += "; client_no_context_takeover"
    if request_max_window_bits:
        text += f"; client_max_window_bits={request_max_window_bits}"
    params = DeflateParameters(our_window=offer.request_max_window_bits or 15,
                               peer_window=request_max_window_bits or 15,
                               our_no_context=offer.request_no_context_takeover,
                               peer_no_context=request_no_context_takeover)
    return text, params


def check_deflate_response(params, offers):
    """The parameters in force for a client that made offers and got this response element.
    The response must fit one of the offers (RFC 7692 §5, §7.1): a requested server window
    or server_no_context_takeover must be granted, client_max_window_bits only comes back if
    offered. Raises ValueError naming the mismatch."""
    problems = []
    for offer in offers:
        try:
            return _fit_response(params, offer)
        except ValueError as e:
            problems.append(str(e))
    raise ValueError("; ".join(problems))


def _fit_response(params, offer):
    server_window, client_window = 15, 15
    for name, value in params.items():
        if name == "server_max_window_bits":
            server_window = _window_bits(value)
            if server_window is None:
                raise ValueError(f"invalid server_max_window_bits={value}")
            if offer.request_max_window_bits and server_window > offer.request_max_window_bits:
                raise ValueError(f"server_max_window_bits={value} above the offered "
                                 f"{offer.request_max_window_bits}")
        elif name == "client_max_window_bits":
            client_window = _window_bits(value)
            if not offer.accept_max_window_bits or client_window is None:
                raise ValueError(f"client_max_window_bits={value} not offered or invalid")
        elif name not in ("server_no_context_takeover", "client_no_context_takeover") or value is not True:
            raise ValueError(f"unknown parameter {name}={value}")
    if offer.request_max_window_bits and "server_max_window_bits" not in params:
        raise ValueError("server_max_window_bits was requested but not granted")
    if offer.request_no_context_takeover and "server_no_context_takeover" not in params:
        raise ValueError("server_no_context_takeover was requested but not granted")
    return DeflateParameters(our_window=client_window, peer_window=server_window,
                             our_no_context="client_no_context_takeover" in params,
                             peer_no_context="server_no_context_takeover" in params)


class DeflateCodec:
    """Compresses the messages we send and inflates those we receive. The decompressor uses
    exactly the peer's negotiated window and is reset after every message when the peer
    promised no context takeover, so a peer that breaks either promise produces data we
    cannot inflate (zlib: "invalid distance too far back") and is caught."""

    def __init__(self, params):
        self.params = params
        if params.our_window < 9:
            # zlib >= 1.2.9 refuses raw deflate with an 8-bit window; nothing we negotiate
            # asks this of the fuzzer, so this is a harness limit, reported as such.
            raise ValueError("the harness cannot compress with an 8-bit window")
        self._compressor = None
        self._decompressor = None

    def compress(self, data):
        if self._compressor is None or self.params.our_no_context:
            self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED,
                                                -self.params.our_window)
        out = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(DEFLATE_TAIL)
        return out[:-4]

    def decompress(self, data):
        """Raises zlib.error for data that is not a valid continuation of the stream."""
        if self._decompressor is None or self.params.peer_no_context:
            self._decompressor = zlib.decompressobj(-self.params.peer_window)
        out = self._decompressor.decompress(data + DEFLATE_TAIL)
        if self._decompressor.eof:
            # A block with BFINAL set ends the stream (RFC 7692 §7.2.3.3 allows it); only
            # our own appended tail may follow, and the next message starts a new stream.
            if self._decompressor.unused_data not in (b"", DEFLATE_TAIL):
                raise zlib.error("data after the final deflate block")
            self._decompressor = None
        return out
