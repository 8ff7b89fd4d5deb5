#!/usr/bin/env python3
"""An installed syncws is usable through pkg-config: syncws.pc gives the version, the
include directory and the libraries, for the shared library (`pkg-config --libs`) and the
static one (`pkg-config --static --libs`, which adds libssl, libcrypto, zlib and threads).
The consumer program is compiled with -std=c++17 against the staged install and run.

usage: see install_support.py
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from install_support import (check, check_consumer_output, clean_env, needed_libraries,
                             parse_args, run, soversion, staged_install)


def main():
    args = parse_args()
    with staged_install(args) as (staged, scratch):
        env = clean_env()
        env["PKG_CONFIG_PATH"] = str(staged.pkgconfig_dir)
        # syncws.pc names the real prefix; the sysroot maps its paths into the stage, the
        # way a DESTDIR install is meant to be read. (pkg-config maps the system packages'
        # -L and -I too, to directories that do not exist; the linker then finds libssl,
        # libcrypto and libz where it always does.)
        env["PKG_CONFIG_SYSROOT_DIR"] = str(staged.destdir)

        def pkg_config(*options):
            return run(["pkg-config", *options, "syncws"], env=env).split()

        check(pkg_config("--modversion") == [args.version],
              f"pkg-config --modversion syncws is the project version {args.version}")
        check(sorted(pkg_config("--print-requires-private")) == ["libcrypto", "libssl", "zlib"],
              "syncws.pc lists libssl, libcrypto and zlib as private requirements")
        check(pkg_config("--print-requires") == [],
              "syncws.pc has no public requirements (the public headers include none)")
        cflags = pkg_config("--cflags")
        check(f"-I{staged.includedir}" in cflags,
              f"pkg-config --cflags points at the installed headers ({cflags})")

        compiler = args.compiler + ["-std=c++17", *args.flag]
        consumer_o = scratch / "consumer.o"
        run([*compiler, *cflags, "-c", args.consumer_dir / "consumer.cpp", "-o", consumer_o])

        if args.default_library != "static":
            libs = pkg_config("--libs")
            check("-lsyncws" in libs and "-lssl" not in libs,
                  f"pkg-config --libs links syncws alone for the shared library ({libs})")
            shared_exe = scratch / "consumer_shared"
            run([*compiler, consumer_o, "-o", shared_exe, *libs])
            check(f"libsyncws.so.{soversion(args.version)}" in needed_libraries(shared_exe),
                  "the consumer needs the shared library by its soname")
            check_consumer_output(run([shared_exe], env=staged.library_env()), args,
                                  "pkg-config, shared library")

        if args.default_library != "shared":
            static_libs = pkg_config("--static", "--libs")
            for needed in ["-lsyncws", "-lssl", "-lcrypto", "-lz", "-pthread"]:
                check(needed in static_libs,
                      f"pkg-config --static --libs has {needed} ({static_libs})")
            # Next to libsyncws.so the linker would take the shared library; -Bstatic picks
            # the archive for syncws alone, the way an application links it statically.
            static_libs = [part for lib in static_libs for part in (
                ["-Wl,-Bstatic", lib, "-Wl,-Bdynamic"] if lib == "-lsyncws" else [lib])]
            static_exe = scratch / "consumer_static"
            run([*compiler, consumer_o, "-o", static_exe, *static_libs])
            check(not any(n.startswith("libsyncws") for n in needed_libraries(static_exe)),
                  "the statically linked consumer needs no libsyncws.so")
            check_consumer_output(run([static_exe]), args, "pkg-config --static")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
