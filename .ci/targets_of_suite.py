#!/usr/bin/env python3
"""Prints the build outputs that the tests of some meson suites run (their executables, and
programs such as the syncws tool passed to them as arguments), so that a build can compile
those alone: `ninja -C DIR $(.ci/targets_of_suite.py DIR SUITE...)`."""
import json
import os
import subprocess
import sys

build_dir, suites = os.path.abspath(sys.argv[1]), set(sys.argv[2:])
tests = json.loads(subprocess.run(["meson", "introspect", build_dir, "--tests"],
                                  check=True, capture_output=True, text=True).stdout)
outputs = set()
for test in tests:
    if not any(s.split(":")[-1] in suites for s in test["suite"]):
        continue
    for arg in test["cmd"]:
        # Built programs appear as absolute paths or relative to the build directory.
        path = os.path.normpath(os.path.join(build_dir, arg))
        if path.startswith(build_dir + os.sep) and (os.path.isabs(arg) or os.sep in arg):
            outputs.add(os.path.relpath(path, build_dir))
print(" ".join(sorted(outputs)))
