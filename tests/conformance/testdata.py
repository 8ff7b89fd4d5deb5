"""The payloads of cases 12.x and 13.x.

Autobahn cuts the messages of its compression cases out of five files it ships (a JSON and
an HTML file of its own reports, a 512x512 grey-scale bitmap, Goethe's Faust from Project
Gutenberg, a PDF). We do not copy those; we generate stand-ins of the same sizes and kinds,
deterministically (fixed seeds), so that every run and every peer sees the same bytes:
report-like JSON and HTML (ASCII, so that any slice is valid UTF-8 for the text cases),
a smooth image with noise behind a BMP header, German-like verse, and a PDF-like mix of
text and incompressible binary streams.
"""

import functools
import math
import random
import struct
import zlib

# (key, description, binary, size in bytes): Autobahn's subgroup order and file sizes.
DATA_SETS = [
    ("json", "Large JSON data file", False, 194056),
    ("image", "Bitmap 512x512 grey-scale (BMP)", True, 263222),
    ("verse", "Human readable text, German verse", True, 222218),
    ("html", "Large HTML file", False, 191055),
    ("pdf", "A larger PDF", True, 1042328),
]


def _fit(parts, size):
    data = b"".join(parts)
    assert len(data) >= size
    return data[:size]


def _json(size):
    rng = random.Random(12_1)
    verdicts = ["OK", "OK", "OK", "NON-STRICT", "INFORMATIONAL", "FAILED"]
    parts, n, agent = [b'{\n'], 0, 0
    while n < size:
        agent += 1
        parts.append(f'   "Agent{agent}/0.{rng.randrange(20)}.{rng.randrange(9)}": {{\n'.encode())
        for group in range(1, 14):
            for case in range(1, rng.randrange(4, 30)):
                code = rng.choice([1000, 1000, 1002, 1007, "null"])
                text = (f'      "{group}.{case}.{rng.randrange(1, 20)}": {{\n'
                        f'         "behavior": "{rng.choice(verdicts)}",\n'
                        f'         "behaviorClose": "{rng.choice(verdicts[:2])}",\n'
                        f'         "duration": {rng.randrange(1, 5000)},\n'
                        f'         "remoteCloseCode": {code},\n'
                        f'         "reportfile": "agent{agent}_case_{group}_{case}.json"\n'
                        f'      }},\n').encode()
                parts.append(text)
                n += len(text)
        parts.append(b'   },\n')
    return _fit(parts, size)


def _html(size):
    rng = random.Random(12_4)
    parts, n = [b"<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"/></head>\n<body>\n<table>\n"], 0
    while n < size:
        case = f"{rng.randrange(1, 14)}.{rng.randrange(1, 20)}.{rng.randrange(1, 30)}"
        cls = rng.choice(["case_ok", "case_ok", "case_non_strict", "case_info", "case_failed"])
        text = (f'   <tr class="agent_case_result_row">\n'
                f'      <td class="case"><a href="#case_desc_{case.replace(".", "_")}">Case {case}</a></td>\n'
                f'      <td class="{cls}"><a href="agent_case_{case.replace(".", "_")}.html">Pass</a></td>'
                f'<td class="close close_hide {cls}"><span class="close_code">{rng.choice([1000, 1002, 1007])}</span></td>\n'
                f'   </tr>\n').encode()
        parts.append(text)
        n += len(text)
    return _fit(parts, size)


def _image(size):
    rng = random.Random(12_2)
    width = height = 512
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    header = (b"BM" + struct.pack("<IHHI", size, 0, 0, 54 + 1024) +
              struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 0, width * height, 2835, 2835, 256, 0))
    noise = rng.randbytes(width * height)
    rows = []
    for y in range(height):
        base = 128 + 60 * math.sin(y / 37.0)
        row = bytes(int(base + 50 * math.cos((x + y) / 23.0)) & 0xF8 | noise[y * width + x] & 7
                    for x in range(width))
        rows.append(row)
    return _fit([header, palette] + rows, size)


def _verse(size):
    rng = random.Random(12_3)
    words = ("Habe nun ach Philosophie Juristerei und Medizin leider auch Theologie durchaus "
             "studiert mit heißem Bemühn da steh ich nun ich armer Tor und bin so klug als wie "
             "zuvor heiße Magister heiße Doktor gar und ziehe schon an die zehen Jahr herauf "
             "herab und quer und krumm meine Schüler an der Nase herum und sehe daß wir nichts "
             "wissen können das will mir schier das Herz verbrennen Geist Mephistopheles Faust "
             "Gretchen Welt Natur Kraft Samen Wirken Kram Worten Nacht Mondenschein Bücherhauf "
             "Würme nagen Staub bedeckt Papier umsteckt Gläser Büchsen Instrumente Väter Hausrat "
             "Frühling Straßen Tür Grün Glück Mühe Öde Übermut").split()
    parts, n = [], 0
    while n < size:
        if rng.random() < 0.08:
            line = rng.choice(["FAUST:", "MEPHISTOPHELES:", "WAGNER:", "MARGARETE:", ""]) + "\r\n"
        else:
            line = " ".join(rng.choice(words) for _ in range(rng.randrange(4, 10)))
            line = line[0].upper() + line[1:] + rng.choice([",", ".", ";", "!", "?", ""]) + "\r\n"
        data = line.encode()
        parts.append(data)
        n += len(data)
    return _fit(parts, size)


def _pdf(size):
    rng = random.Random(12_5)
    parts, n, obj = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"], 0, 0
    while n < size:
        obj += 1
        text = "BT /F1 10 Tf 72 %d Td (%s) Tj ET\n" % (rng.randrange(800), " ".join(
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(2, 9)))
            for _ in range(12)))
        stream = zlib.compress(rng.randbytes(2048) + text.encode() * 20, 9)
        chunk = (f"{obj} 0 obj\n<< /Length {len(text)} >>\nstream\n{text}endstream\nendobj\n"
                 f"{obj + 1000} 0 obj\n<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n").encode()
        chunk += stream + b"\nendstream\nendobj\n"
        parts.append(chunk)
        n += len(chunk)
    return _fit(parts, size)


_MAKERS = {"json": _json, "html": _html, "image": _image, "verse": _verse, "pdf": _pdf}


@functools.lru_cache(maxsize=None)
def data(key):
    size = next(s for k, _, _, s in DATA_SETS if k == key)
    return _MAKERS[key](size)


def slicer(key, length):
    """make(i) for a RoundTrips: message i is the next length bytes of the data set,
    wrapping around at its end, as Autobahn's sendOne does."""
    blob = data(key)
    doubled = blob + blob[:length]

    def make(i):
        start = (i * length) % len(blob)
        return doubled[start:start + length]
    return make
