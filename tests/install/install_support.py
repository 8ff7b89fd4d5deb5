"""Helpers shared by the install tests (tests/install/*_test.py).

Each test stages `meson install` of the build tree under test into a temporary directory
(DESTDIR), so nothing outside it is touched, then looks at or builds against the staged
files. Every command runs under a deadline, so a test can fail but never hang.

meson passes the same arguments to every test (see meson.build):
  --meson PATH --build-dir DIR --source-dir DIR --version X.Y.Z
  --prefix DIR --libdir DIR --includedir DIR --bindir DIR --default-library both|shared|static
  [--flag=FLAG]... -- COMPILER...
--flag is an instrumentation flag the library was built with (-fsanitize=..., --coverage):
a program that links the library needs it too. (Written --flag=FLAG, since FLAG starts
with a dash.)
"""

import argparse
import contextlib
import os
import pathlib
import subprocess
import sys
import tempfile

# No single command (an install, a compile, a CMake configure, a run) may take longer.
TIMEOUT = 300
# The message the consumer program sends and expects back (tests/install/consumer).
CONSUMER_ECHO = "echo: hello from an installed syncws"


def parse_args():
    parser = argparse.ArgumentParser()
    for name in ("meson", "build-dir", "source-dir", "version", "prefix", "libdir",
                 "includedir", "bindir", "default-library"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--flag", action="append", default=[])
    parser.add_argument("compiler", nargs="+")
    args = parser.parse_args()
    args.source_dir = pathlib.Path(args.source_dir)
    args.build_dir = pathlib.Path(args.build_dir)
    args.consumer_dir = args.source_dir / "tests" / "install" / "consumer"
    return args


def soversion(version):
    """The soname's version: MAJOR.MINOR while MAJOR is 0 (every 0.x may break the ABI),
    then MAJOR alone."""
    major, minor = version.split(".")[:2]
    return f"0.{minor}" if major == "0" else major


def clean_env():
    """The environment without LD_LIBRARY_PATH: meson test points it at the build tree, whose
    libsyncws.so has the same soname as the installed one and would be loaded instead."""
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    return env


def run(cmd, env=None, cwd=None):
    """Runs a command to completion under TIMEOUT, by default in clean_env(); returns its
    stdout. Fails the test, with the command and its output, if it fails or takes too long."""
    if env is None:
        env = clean_env()
    printable = " ".join(str(c) for c in cmd)
    print("$", printable, flush=True)
    try:
        done = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        fail(f"timed out after {TIMEOUT} s: {printable}\n{e.stdout or ''}{e.stderr or ''}")
    if done.returncode != 0:
        fail(f"exit status {done.returncode}: {printable}\n{done.stdout}{done.stderr}")
    return done.stdout


def fail(message):
    print("FAIL:", message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok  ", message, flush=True)


class Staged:
    """A `meson install --destdir` of the build tree; paths of the installed files."""

    def __init__(self, args, destdir):
        self.destdir = pathlib.Path(destdir)
        self.prefix = self._under_destdir(args.prefix)
        self.libdir = self._installed(args, args.libdir)
        self.includedir = self._installed(args, args.includedir)
        self.bindir = self._installed(args, args.bindir)
        self.pkgconfig_dir = self.libdir / "pkgconfig"
        self.cmake_dir = self.libdir / "cmake" / "syncws"

    def _under_destdir(self, path):
        return self.destdir / pathlib.PurePosixPath(path).relative_to("/")

    def _installed(self, args, option_value):
        # meson keeps libdir etc. relative to the prefix unless they lie outside it.
        if os.path.isabs(option_value):
            return self._under_destdir(option_value)
        return self.prefix / option_value

    def library_env(self):
        """The environment for running a program linked to the staged shared library."""
        env = clean_env()
        env["LD_LIBRARY_PATH"] = str(self.libdir)
        return env


@contextlib.contextmanager
def staged_install(args):
    """Yields (Staged, a scratch directory); both are deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="syncws-install-") as tmp:
        destdir = pathlib.Path(tmp) / "destdir"
        run([args.meson, "install", "-C", args.build_dir, "--no-rebuild", "--quiet",
             "--destdir", destdir])
        scratch = pathlib.Path(tmp) / "scratch"
        scratch.mkdir()
        yield Staged(args, destdir), scratch


def check_consumer_output(output, args, how):
    """The consumer prints the version it was compiled with and the echo it got."""
    lines = output.splitlines()
    check(len(lines) >= 1 and lines[0] == f"syncws {args.version} {args.version}",
          f"{how}: the consumer saw SYNCWS_VERSION and its parts as {args.version} "
          f"(printed {lines[:1]})")
    check(CONSUMER_ECHO in lines,
          f"{how}: the consumer's message came back from its in-process server")


def needed_libraries(binary):
    """The DT_NEEDED entries of an ELF file."""
    out = run(["readelf", "-d", binary])
    return [line.split("[", 1)[1].split("]", 1)[0]
            for line in out.splitlines() if "(NEEDED)" in line]
