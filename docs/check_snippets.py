#!/usr/bin/env python3
"""Checks that every C++ block of the README and of the guides is code that is compiled.

usage: check_snippets.py SOURCE_ROOT COMPILED_EXAMPLE...

COMPILED_EXAMPLE are the files of docs/examples/ that docs/meson.build compiles. A ```cpp
block of docs/GUIDE.md must appear, line for line, in docs/examples/GUIDE.cpp, which must be
one of them; a block of README.md in a file of samples/ (built by samples/meson.build) or in
one of them. Lines are compared without their leading and trailing white space, so a
snippet may be indented differently from its place in the file, but every other character
counts, comments included. A file in docs/examples/ that is not compiled fails too: the
guides could quote it without the build ever checking it.

Standard library only.
"""

import glob
import os
import re
import sys

FENCE = re.compile(r"^```(\S*)\s*$")


def cpp_blocks(markdown_path):
    """(line number, lines) of each ```cpp block."""
    blocks, current, language, start = [], None, None, 0
    with open(markdown_path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            stripped = line.strip()
            if current is None:
                fence = FENCE.match(stripped)
                if fence:
                    current, language, start = [], fence.group(1), number
            elif stripped == "```":
                if language in ("cpp", "c++"):
                    blocks.append((start, current))
                current = None
            else:
                current.append(line)
    return blocks


def normalized(lines):
    return [line.strip() for line in lines]


def contains(haystack, needle):
    """True when needle is a contiguous run of haystack."""
    return any(haystack[i:i + len(needle)] == needle
               for i in range(len(haystack) - len(needle) + 1))


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return normalized(f.readlines())


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    compiled = {os.path.realpath(path) for path in sys.argv[2:]}
    examples = os.path.join(root, "docs", "examples")
    failures = []

    for path in sorted(glob.glob(os.path.join(examples, "*.cpp"))):
        if os.path.realpath(path) not in compiled:
            failures.append(f"{os.path.relpath(path, root)} is not compiled: add it to "
                            f"doc_guides in docs/meson.build")

    samples = sorted(glob.glob(os.path.join(root, "samples", "**", "*.cpp"), recursive=True))
    documents = [(os.path.join(root, "README.md"), samples + sorted(compiled))]
    for guide in sorted(glob.glob(os.path.join(root, "docs", "*.md"))):
        name = os.path.splitext(os.path.basename(guide))[0]
        example = os.path.realpath(os.path.join(examples, name + ".cpp"))
        documents.append((guide, [example] if example in compiled else []))

    checked = 0
    for document, sources in documents:
        texts = [read_lines(path) for path in sources if os.path.isfile(path)]
        for line_number, block in cpp_blocks(document):
            checked += 1
            snippet = normalized(block)
            if not any(contains(text, snippet) for text in texts):
                failures.append(f"{os.path.relpath(document, root)}:{line_number}: this block "
                                "is in no compiled file it may come from:\n    " +
                                "\n    ".join(snippet))
    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"{checked} C++ blocks checked, {len(failures)} problems")
    if checked == 0:
        print("FAIL: no C++ block found; did the documents move?")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
