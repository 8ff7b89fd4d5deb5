#!/usr/bin/env python3
"""Compiles every public header alone as C++17, so a legacy C++17 application can include
any of them without including something else first.

usage: compile_headers.py INCLUDE_DIR COMPILER [COMPILER_ARGS...]
"""
import pathlib
import subprocess
import sys
import tempfile


def main() -> int:
    include_dir = pathlib.Path(sys.argv[1])
    compiler = sys.argv[2:]
    headers = sorted(include_dir.rglob("*.hpp"))
    if not headers:
        print("no public headers found under", include_dir)
        return 1
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for header in headers:
            name = header.relative_to(include_dir).as_posix()
            source = pathlib.Path(tmp) / "one_header.cpp"
            # Twice, to prove the include guard works too.
            source.write_text(f"#include <{name}>\n#include <{name}>\nint main() {{ return 0; }}\n")
            cmd = compiler + ["-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic",
                              "-Werror", "-I", str(include_dir), str(source)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                failures += 1
                print(f"FAIL {name}\n{result.stdout}{result.stderr}")
            else:
                print(f"ok   {name}")
    print(f"{len(headers) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
