#!/usr/bin/env python3
"""Runs every libFuzzer target for a fixed time, as many at once as there are CPUs (each one
fuzzing process), and reports per target the executions, executions per second, coverage,
corpus size and findings.

Each target starts from its seed corpus (tests/fuzz/corpus/<target>, only read) and writes the
inputs it discovers into a working corpus under --work-dir (a fresh temporary directory unless
given; pass the same directory again to continue a run). Crashes, leaks, timeouts and broken
invariants are saved there as artifacts. Exit status: 0 when no target found anything, 1
otherwise, 2 for a usage problem (a missing target binary).

    python3 tests/fuzz/run_fuzzers.py --build-dir build-fuzz/tests/fuzz --seconds 30
    python3 tests/fuzz/run_fuzzers.py --build-dir build-fuzz/tests/fuzz --seconds 600 \\
        --targets uri --work-dir /tmp/fuzz-work --log-dir /tmp/fuzz-logs
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# In the order of tests/fuzz/meson.build; the dictionary each one uses, if any.
TARGETS = {
    "frame_protocol": None,
    "server_session": None,
    "http_request": "http.dict",
    "http_response": "http.dict",
    "uri": "uri.dict",
    "deflate_negotiation": "deflate.dict",
    "inflate": None,
}

# A target that has not finished this long after its time is up is hung.
GRACE_SECONDS = 60

ARTIFACT_KINDS = ("crash-", "leak-", "timeout-", "oom-")

STATUS_LINE = re.compile(
    r"^#(\d+)\s+(?:DONE|NEW|REDUCE|pulse|INITED)\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")
STAT_LINE = re.compile(r"^stat::(\w+):\s+(\d+)")
PROBLEM_LINE = re.compile(r"invariant violated|undocumented exception|ERROR: |runtime error: ")
FUNCTION_LINE = re.compile(r"^(?:UN)?COVERED_FUNC: hits: \d+ edges: (\d+)/(\d+) .* (\S+):\d+$")


def parse_log(text):
    """The last status line's figures and the final statistics of a libFuzzer log."""
    result = {"cov": "?", "ft": "?", "units": "?", "bytes": "?", "problem": None}
    for line in text.splitlines():
        m = STATUS_LINE.match(line)
        if m:
            result.update(cov=m.group(2), ft=m.group(3), units=m.group(4), bytes=m.group(5))
        m = STAT_LINE.match(line)
        if m:
            result[m.group(1)] = int(m.group(2))
        if result["problem"] is None and PROBLEM_LINE.search(line):
            result["problem"] = line.strip()
    return result


def run_target(name, binary, seconds, work_dir, log_dir, extra_args):
    target_dir = os.path.join(work_dir, name)
    corpus = os.path.join(target_dir, "corpus")
    artifacts = os.path.join(target_dir, "artifacts")
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    seeds = os.path.join(HERE, "corpus", name)
    command = [
        binary,
        f"-max_total_time={seconds}",
        "-print_final_stats=1",
        "-timeout=10",           # one input running 10 s is a hang
        "-rss_limit_mb=2048",    # and 2 GiB is unbounded memory
        # No -jobs/-workers: one fuzzing process per target; --parallel runs targets side
        # by side instead, each with its own log.
        f"-artifact_prefix={artifacts}/",
    ]
    if TARGETS[name]:
        command.append("-dict=" + os.path.join(HERE, TARGETS[name]))
    command += extra_args + [corpus, seeds]

    env = dict(os.environ)
    # Undefined behaviour must stop the run so that the input is saved.
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    log_path = os.path.join(log_dir, name + ".log")
    started = time.monotonic()
    with open(log_path, "w") as log:
        try:
            rc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                timeout=seconds + GRACE_SECONDS).returncode
        except subprocess.TimeoutExpired:
            rc = "hung"
    elapsed = time.monotonic() - started
    with open(log_path, errors="replace") as log:
        figures = parse_log(log.read())
    found = sorted(f for f in os.listdir(artifacts) if f.startswith(ARTIFACT_KINDS))
    figures.update(name=name, rc=rc, elapsed=elapsed, log=log_path,
                   artifacts=[os.path.join(artifacts, f) for f in found])
    figures["ok"] = rc == 0 and not found
    return figures


def core_coverage(binary, corpus_dirs):
    """Edges covered per lib/core file when the corpus is replayed (-print_coverage=1).
    Edges include exception clean-up paths, so 100 % is out of reach."""
    replay = subprocess.run([binary, "-runs=0", "-print_coverage=1"] + corpus_dirs,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", check=False).stdout
    files = {}
    for line in replay.splitlines():
        m = FUNCTION_LINE.match(line)
        if m and "/lib/core/" in m.group(3):
            name = m.group(3).split("/lib/core/")[1]
            covered, total = files.get(name, (0, 0))
            files[name] = (covered + int(m.group(1)), total + int(m.group(2)))
    return {name: c for name, c in files.items() if c[0] > 0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", required=True,
                        help="directory holding the <target>_fuzzer binaries")
    parser.add_argument("--seconds", type=int, default=30, help="time per target")
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1,
                        help="targets fuzzed at once (default: one per CPU)")
    parser.add_argument("--work-dir", help="working corpora and artifacts (default: a new "
                        "temporary directory, kept when something is found)")
    parser.add_argument("--log-dir", help="where each target's log goes (default: work dir)")
    parser.add_argument("--coverage", action="store_true",
                        help="afterwards, replay each working corpus and print the edges "
                        "covered per lib/core file")
    parser.add_argument("fuzzer_args", nargs="*", help="passed to libFuzzer (after --)")
    args = parser.parse_args()

    binaries = {t: os.path.join(args.build_dir, t + "_fuzzer") for t in args.targets}
    missing = [b for b in binaries.values() if not os.access(b, os.X_OK)]
    if missing:
        print("missing fuzz target binaries (configure with -Dfuzzing=true and build them):",
              *missing, sep="\n  ", file=sys.stderr)
        return 2
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="syncws-fuzz-")
    log_dir = args.log_dir or work_dir
    os.makedirs(log_dir, exist_ok=True)

    def fuzz(target):
        print(f"fuzzing {target} for {args.seconds} s ...", flush=True)
        return run_target(target, binaries[target], args.seconds, work_dir, log_dir,
                          args.fuzzer_args)

    with concurrent.futures.ThreadPoolExecutor(max(1, args.parallel)) as pool:
        results = list(pool.map(fuzz, args.targets))
    for target, r in zip(args.targets, results):
        if not r["ok"]:
            print(f"  FOUND: {r['problem'] or 'exit status ' + str(r['rc'])}")
            for a in r["artifacts"]:
                print(f"  reproduce: {binaries[target]} {a}")
            print(f"  log: {r['log']}")

    header = ("target", "runs", "exec/s", "cov", "ft", "corpus", "rss MB", "findings")
    rows = [header]
    for r in results:
        rows.append((r["name"], str(r.get("number_of_executed_units", "?")),
                     str(r.get("average_exec_per_sec", "?")), r["cov"], r["ft"],
                     f"{r['units']} ({r['bytes']})", str(r.get("peak_rss_mb", "?")),
                     "none" if r["ok"] else f"{len(r['artifacts'])} ({r['rc']})"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    if args.coverage:
        for r in results:
            corpora = [os.path.join(work_dir, r["name"], "corpus"),
                       os.path.join(HERE, "corpus", r["name"])]
            covered = core_coverage(binaries[r["name"]], corpora)
            print(f"{r['name']}: " + ", ".join(
                f"{name} {c}/{t} ({100 * c // t}%)" for name, (c, t) in sorted(covered.items())))

    failed = [r["name"] for r in results if not r["ok"]]
    if not failed and not args.work_dir:
        # Nothing to look at: do not leave the corpora of every CI run behind.
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        print(f"working corpora, artifacts and logs: {work_dir}"
              + (f" (logs: {log_dir})" if log_dir != work_dir else ""))
    if failed:
        print("findings in: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
