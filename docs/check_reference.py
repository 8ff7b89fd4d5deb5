#!/usr/bin/env python3
"""Builds the API reference with doxygen into a scratch directory and checks it.

usage: check_reference.py DOXYFILE DOXYGEN SOURCE_ROOT

Fails when
- doxygen fails, or reports any documentation error (a broken reference or link, an unknown
  command, a parameter documented under a wrong name ...);
- a class or struct, or a free function, declared at namespace scope in the public headers
  (syncws, syncws::core, without syncws::detail) has no comment: those are what users
  call, and each must say what it does (and, for a function, its thread-safety). The
  headers write one comment above a set of overloads, so a function counts as documented
  when another overload of its name in the same namespace is;
- the pages of the main classes are missing or lack their thread-safety notes, which would
  mean that the headers' comments did not make it into the reference.

Undocumented members of classes (struct fields such as message::data, iterator typedefs,
an overload documented by the one above it, a protected member), and enums, type aliases
and constants at namespace scope (log_level, close_code::normal ...) are listed, not
failed: their names say what they are, and the headers belong to the people who change the
library.

Doxygen runs once, with EXTRACT_ALL (as the Doxyfile has it) so that its XML output holds
undocumented declarations too: that is how they are found, since doxygen's own "is not
documented" warnings are off with EXTRACT_ALL, and leave out the members of namespaces
without a comment anyway. Exits 77 (skipped) when doxygen is not installed. Standard
library only.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

# Pages doxygen makes for the main classes, and a phrase each must contain.
EXPECTED_PAGES = {
    "classsyncws_1_1connection.html": "Thread-safety",
    "classsyncws_1_1server.html": "Thread-safety",
    "classsyncws_1_1reconnecting__client.html": "Thread-safety",
    "classsyncws_1_1core_1_1protocol.html": "Thread-safety",
    "structsyncws_1_1connection__settings.html": "ping_interval",
}

# Declarations at namespace scope that must be documented (doxygen's kinds).
REQUIRED_COMPOUNDS = {"class", "struct", "union"}
REQUIRED_MEMBERS = {"function"}


def described(element):
    """True when a compounddef or memberdef has a brief or detailed description."""
    return any("".join(element.find(tag).itertext()).strip()
               for tag in ("briefdescription", "detaileddescription", "inbodydescription")
               if element.find(tag) is not None)


def where(element):
    location = element.find("location")
    if location is None:
        return "?"
    return f"{location.get('file')}:{location.get('line')}"


def undocumented(xml_dir):
    """(required, listed): undocumented declarations that fail, and those only listed."""
    index = ET.parse(os.path.join(xml_dir, "index.xml")).getroot()
    namespaces = {c.findtext("name") for c in index.findall("compound")
                  if c.get("kind") == "namespace"}
    required, listed = [], []
    for compound in index.findall("compound"):
        kind = compound.get("kind")
        if kind not in REQUIRED_COMPOUNDS | {"namespace"}:
            continue
        path = os.path.join(xml_dir, compound.get("refid") + ".xml")
        definition = ET.parse(path).getroot().find("compounddef")
        name = definition.findtext("compoundname")
        if "detail" in name.split("::"):
            continue
        at_namespace_scope = name.rpartition("::")[0] in namespaces
        if kind in REQUIRED_COMPOUNDS and not described(definition):
            entry = f"{name} ({kind}, {where(definition)})"
            (required if at_namespace_scope else listed).append(entry)
        members = [m for m in definition.iter("memberdef") if m.get("prot") != "private"]
        documented_names = {m.findtext("name") for m in members if described(m)}
        for member in members:
            if described(member):
                continue
            entry = f"{name}::{member.findtext('name')}{member.findtext('argsstring') or ''} " \
                    f"({member.get('kind')}, {where(member)})"
            if (kind == "namespace" and member.get("kind") in REQUIRED_MEMBERS and
                    member.findtext("name") not in documented_names):
                required.append(entry)
            else:
                listed.append(entry)
    return sorted(set(required)), sorted(set(listed))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    doxyfile, doxygen, source_root = sys.argv[1], sys.argv[2], sys.argv[3]
    if not doxygen or not os.access(doxygen, os.X_OK):
        print("doxygen is not installed: skipped")
        return 77

    problems = []
    with tempfile.TemporaryDirectory(prefix="syncws-docs-") as scratch:
        warnings_file = os.path.join(scratch, "warnings.txt")
        with open(doxyfile) as f:
            config = f.read()
        # Later assignments win: the output goes to the scratch directory, not to the docs
        # target's, the warnings to a file read below, and the XML (with EXTRACT_ALL, as in
        # the Doxyfile) holds every declaration, documented or not.
        config += (f'\nOUTPUT_DIRECTORY = "{scratch}"\nWARN_LOGFILE = "{warnings_file}"\n'
                   "EXTRACT_ALL = YES\nGENERATE_XML = YES\nXML_PROGRAMLISTING = NO\n")
        # Doxygen resolves the README's relative links (tests/conformance/results.md) from
        # its working directory: the source tree, where they point.
        result = subprocess.run([doxygen, "-"], input=config, text=True, capture_output=True,
                                timeout=100, cwd=source_root)
        if result.returncode != 0:
            print(result.stdout, result.stderr, sep="\n")
            print(f"FAIL: doxygen exited with {result.returncode}")
            return 1

        # With EXTRACT_ALL, doxygen warns about documentation errors only.
        with open(warnings_file) as f:
            for line in sorted(set(line.rstrip() for line in f if line.strip())):
                problems.append(f"documentation error: {line}")

        html = os.path.join(scratch, "html")
        if not os.path.isfile(os.path.join(html, "index.html")):
            problems.append("no html/index.html was generated")
        for page, phrase in EXPECTED_PAGES.items():
            path = os.path.join(html, page)
            if not os.path.isfile(path):
                problems.append(f"no page {page}")
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                if phrase not in f.read():
                    problems.append(f"{page} does not mention {phrase!r}")

        required, listed = undocumented(os.path.join(scratch, "xml"))

    problems += [f"no comment on {entry}" for entry in required]
    print(f"{len(listed)} declarations without a comment of their own (listed, not failed):")
    for entry in listed:
        print(f"  {entry}")
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
