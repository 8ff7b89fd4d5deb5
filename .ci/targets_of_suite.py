#!/usr/bin/env python3
"""Prints the build outputs that the tests of some meson suites need (their executables,
programs such as the syncws tool passed to them as arguments, and what they declare in
`depends`), so that a build can compile those alone:
`ninja -C DIR $(.ci/targets_of_suite.py DIR SUITE...)`."""
import json
import os
import subprocess
import sys

build_dir, suites = os.path.abspath(sys.argv[1]), set(sys.argv[2:])


def introspect(what):
    return json.loads(subprocess.run(["meson", "introspect", build_dir, what],
                                     check=True, capture_output=True, text=True).stdout)


files_of_target = {t["id"]: t["filename"] for t in introspect("--targets")}
built = {f for names in files_of_target.values() for f in names}
outputs = set()
for test in introspect("--tests"):
    if not any(s.split(":")[-1] in suites for s in test["suite"]):
        continue
    for arg in test["cmd"]:
        # Built programs appear as absolute paths or relative to the build directory.
        path = os.path.normpath(os.path.join(build_dir, arg))
        if path in built:
            outputs.add(os.path.relpath(path, build_dir))
    for target in test.get("depends", []):
        outputs.update(os.path.relpath(f, build_dir) for f in files_of_target.get(target, []))
print(" ".join(sorted(outputs)))
