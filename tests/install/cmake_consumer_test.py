#!/usr/bin/env python3
"""An installed syncws is usable from CMake: find_package(syncws X.Y.Z EXACT REQUIRED)
finds the staged package through CMAKE_PREFIX_PATH, and the imported targets syncws::syncws
(shared) and syncws::syncws_static carry the include directory and the libraries (OpenSSL,
zlib, threads) that a C++17 consumer needs. The consumer is built with CMake and run.
The version check follows semantic versioning with the 0.x rule: while the major version
is 0, a different minor version is incompatible.

usage: see install_support.py
"""

import pathlib
import shutil
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from install_support import (check, check_consumer_output, needed_libraries, parse_args,
                             run, staged_install)

HERE = pathlib.Path(__file__).resolve().parent


def version_verdicts(version):
    """(request, compatible, exact) for requests around version X.Y.Z."""
    major, minor, patch = (int(p) for p in version.split("."))
    cases = [
        ("", True, False),
        (version, True, True),
        (f"{major}.{minor}", True, False),
        (f"{major}.{minor}.{patch + 1}", False, False),   # newer than what is installed
        (f"{major}.{minor + 1}", False, False),
        (f"{major + 1}", False, False),
        (f"{major}.{minor}...{major}.{minor + 1}", True, False),
        (f"{major}.{minor}...<{version}", False, False),  # the range excludes it
    ]
    if major == 0:
        # 0.x: a minor release may break the API, so an older minor does not accept this one.
        if minor > 0:
            cases.append((f"0.{minor - 1}", False, False))
    elif minor > 0:
        cases.append((f"{major}.{minor - 1}", True, False))
    if major > 0:
        cases.append((f"{major - 1}.{minor}", False, False))
    return cases


def check_version_file(staged, version):
    version_file = staged.cmake_dir / "syncwsConfigVersion.cmake"
    for request, compatible, exact in version_verdicts(version):
        out = run(["cmake", f"-DVERSION_FILE={version_file}", f"-DREQUEST={request}",
                   "-P", HERE / "find_package_version.cmake"])
        verdict = dict(part.split("=") for part in out.split() if "=" in part)
        seen = (verdict["compatible"] == "TRUE", verdict["exact"] == "TRUE")
        check(seen == (compatible, exact),
              f"find_package(syncws {request or '(no version)'}) against {version}: "
              f"compatible={compatible}, exact={exact} (got {out.strip()})")


def main():
    args = parse_args()
    if shutil.which("cmake") is None:
        print("skipped: cmake is not installed (Debian package cmake)")
        return 77
    with staged_install(args) as (staged, scratch):
        check_version_file(staged, args.version)

        compiler = shutil.which(args.compiler[-1]) or args.compiler[-1]
        configure = ["cmake", "-S", args.consumer_dir, "-B", scratch / "build", "-G", "Ninja",
                     f"-DCMAKE_PREFIX_PATH={staged.prefix}",
                     f"-DSYNCWS_VERSION={args.version}",
                     f"-DCONSUMER_STATIC={'OFF' if args.default_library == 'shared' else 'ON'}",
                     f"-DCMAKE_CXX_COMPILER={compiler}",
                     f"-DCMAKE_CXX_FLAGS={' '.join(args.flag)}"]
        if len(args.compiler) > 1:  # ccache c++
            configure.append(f"-DCMAKE_CXX_COMPILER_LAUNCHER={';'.join(args.compiler[:-1])}")
        run(configure)
        cache = (scratch / "build" / "CMakeCache.txt").read_text()
        check(f"syncws_DIR:PATH={staged.cmake_dir}" in cache,
              f"find_package found the staged package in {staged.cmake_dir}")

        out = run(["cmake", "--build", scratch / "build", "--verbose"])
        check("-std=c++17" in out, "the consumer was compiled with -std=c++17")
        check(f"{staged.includedir}" in out,
              "syncws::syncws gave the compiler the installed include directory")

        # syncws::syncws is the shared library unless only the static one was installed.
        # It finds the staged library through the build RPATH that CMake adds for an imported
        # SHARED library (run() clears LD_LIBRARY_PATH).
        exe = scratch / "build" / "consumer"
        links_shared = any(n.startswith("libsyncws.so") for n in needed_libraries(exe))
        check(links_shared == (args.default_library != "static"),
              f"syncws::syncws links the {'shared' if links_shared else 'static'} library "
              f"(default_library={args.default_library})")
        check_consumer_output(run([exe]), args, "CMake, syncws::syncws")

        if args.default_library != "shared":
            static_exe = scratch / "build" / "consumer_static"
            check(not any(n.startswith("libsyncws") for n in needed_libraries(static_exe)),
                  "syncws::syncws_static links the static library")
            check_consumer_output(run([static_exe]), args, "CMake, syncws::syncws_static")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
