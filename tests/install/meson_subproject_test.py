#!/usr/bin/env python3
"""syncws works as a meson subproject: a small project whose subprojects/syncws is the
source tree gets the library through dependency('syncws', fallback : ['syncws',
'syncws_dep']), builds only the library for it (none of syncws's tool, samples, tests or
benchmarks), compiles the consumer with -std=c++17 and runs it. This builds the library
from source, so it takes a while; nothing is installed.

usage: see install_support.py
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from install_support import check, check_consumer_output, clean_env, parse_args, run


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="syncws-subproject-") as tmp:
        project = Path(tmp) / "consumer"
        project.mkdir()
        for name in ["meson.build", "consumer.cpp"]:
            shutil.copy(args.consumer_dir / name, project / name)
        (project / "subprojects").mkdir()
        (project / "subprojects" / "syncws").symlink_to(args.source_dir.resolve())

        build = Path(tmp) / "build"
        env = clean_env()
        env["CXX"] = " ".join(args.compiler)
        # Unoptimised: this test is about the build description, not speed.
        run([args.meson, "setup", build, project, "--buildtype=plain"], env=env)

        targets = json.loads(run([args.meson, "introspect", "--targets", build]))
        names = {t["name"] for t in targets}
        check(names == {"consumer", "syncws"},
              f"the subproject defines only the library for the consumer (targets: "
              f"{sorted(names)})")
        consumer = next(t for t in targets if t["name"] == "consumer")
        parameters = [p for source in consumer["target_sources"] for p in source["parameters"]]
        check("-std=c++17" in parameters, "the consumer is compiled with -std=c++17")

        run([args.meson, "compile", "-C", build, "consumer"], env=env)
        check_consumer_output(run([build / "consumer"]), args, "meson subproject")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
