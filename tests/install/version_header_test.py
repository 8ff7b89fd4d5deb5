#!/usr/bin/env python3
"""include/syncws/version.hpp agrees with the meson project version (meson.build's
project(version : ...)), which also versions syncws.pc, the CMake package and the shared
library's file name. The header is kept in the source tree, not generated, so that
`#include <syncws/version.hpp>` works from include/ as well as installed; this test is
what keeps the two in step. The macros are read through the preprocessor, as a
consumer's compiler sees them.

usage: see install_support.py
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from install_support import check, parse_args, run


def main():
    args = parse_args()
    header = args.source_dir / "include" / "syncws" / "version.hpp"
    macros = {}
    for line in run([*args.compiler, "-std=c++17", "-E", "-dM", header]).splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("SYNCWS_"):
            macros[parts[1]] = parts[2]
    major, minor, patch = args.version.split(".")
    expected = {
        "SYNCWS_VERSION": f'"{args.version}"',
        "SYNCWS_VERSION_MAJOR": major,
        "SYNCWS_VERSION_MINOR": minor,
        "SYNCWS_VERSION_PATCH": patch,
    }
    for name, value in expected.items():
        check(macros.get(name) == value,
              f"{name} is {value}, as meson.project_version() {args.version} says "
              f"(version.hpp has {macros.get(name)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
