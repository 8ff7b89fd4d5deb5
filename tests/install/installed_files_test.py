#!/usr/bin/env python3
"""`meson install` puts exactly the public files under the prefix: the public headers
(include/syncws, none of the private lib/ headers), the shared library with its soname
links and/or the static library (as default_library says), syncws.pc, the CMake package and
the syncws tool, which runs against the installed library. Nothing else: no test, sample or
benchmark program.

usage: see install_support.py
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from install_support import (check, needed_libraries, parse_args, run, soversion,
                             staged_install)


def installed_files(destdir):
    """Every file and symlink under destdir, as absolute paths."""
    found = set()
    for root, dirs, files in os.walk(destdir):
        found.update(os.path.join(root, name) for name in files)
        # os.walk lists a symlink to a directory among dirs; none is expected.
        found.update(os.path.join(root, d) for d in dirs if os.path.islink(os.path.join(root, d)))
    return found


def main():
    args = parse_args()
    version, so = args.version, soversion(args.version)
    shared = args.default_library in ("shared", "both")
    static = args.default_library in ("static", "both")
    with staged_install(args) as (staged, _):
        public_headers = sorted(p.relative_to(args.source_dir / "include")
                                for p in (args.source_dir / "include" / "syncws").rglob("*"))
        public_headers = [h for h in public_headers
                          if (args.source_dir / "include" / h).is_file()]
        expected = {staged.includedir / h for h in public_headers}
        if shared:
            expected |= {staged.libdir / name for name in
                         ["libsyncws.so", f"libsyncws.so.{so}", f"libsyncws.so.{version}"]}
        if static:
            expected.add(staged.libdir / "libsyncws.a")
        expected |= {staged.pkgconfig_dir / "syncws.pc",
                     staged.cmake_dir / "syncwsConfig.cmake",
                     staged.cmake_dir / "syncwsConfigVersion.cmake",
                     staged.bindir / "syncws"}
        expected = {str(p) for p in expected}
        actual = installed_files(staged.destdir)
        check(actual - expected == set(),
              f"nothing is installed beyond the public files (extra: {sorted(actual - expected)})")
        check(expected - actual == set(),
              f"every public file is installed (missing: {sorted(expected - actual)})")

        check(all(h.suffix == ".hpp" for h in public_headers),
              "include/syncws holds only .hpp headers, so only headers are installed from it")
        private = {p.name for p in (args.source_dir / "lib").rglob("*.hpp")}
        leaked = sorted(str(h) for h in public_headers if h.name in private)
        check(not leaked, f"no private header from lib/ is installed ({leaked})")

        if shared:
            check(os.readlink(staged.libdir / "libsyncws.so") == f"libsyncws.so.{so}"
                  and os.readlink(staged.libdir / f"libsyncws.so.{so}")
                  == f"libsyncws.so.{version}",
                  f"libsyncws.so -> libsyncws.so.{so} -> libsyncws.so.{version}")
            dynamic = run(["readelf", "-d", staged.libdir / f"libsyncws.so.{version}"])
            check(f"Library soname: [libsyncws.so.{so}]" in dynamic,
                  f"the shared library's soname is libsyncws.so.{so}")

        tool = staged.bindir / "syncws"
        if shared:
            check(f"libsyncws.so.{so}" in needed_libraries(tool),
                  "the installed tool uses the shared library")
        tool_dynamic = run(["readelf", "-d", tool])
        check(str(args.build_dir.resolve()) not in tool_dynamic,
              "the installed tool has no RPATH into the build directory")
        usage = run([tool, "--help"], env=staged.library_env())
        check(usage.startswith("usage: syncws"), "the installed tool runs (syncws --help)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
