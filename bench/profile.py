#!/usr/bin/env python3
"""Where each server spends its time per echo: the profiling companion of run.py.

    bench/profile.py --build-dir build a-pinned               # CPU and context switches
    bench/profile.py --build-dir build b --syscalls           # + system calls by name (strace)
    bench/profile.py --build-dir build c --perf               # + hottest symbols (perf record)
    bench/profile.py --build-dir build a-pinned --callgrind   # + instructions by function

One run of a run.py scenario per server, and per echo (or per connection for (e)): the
server's CPU time split into user space and kernel, its context switches (voluntary:
it blocked; involuntary: it was preempted), and with the options system calls, perf's
hottest symbols, or callgrind's instruction counts (the server then runs under valgrind,
some 50x slower: compare instructions, not rates). strace and perf follow the threads a
server starts per connection. Not run by CI; perf, strace and valgrind are dev tools.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the scenarios and servers are run.py's)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", help="a scenario id of run.py (a-pinned, b, c, d-text ...)")
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--servers", help="comma-separated peers (default: the scenario's)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--syscalls", action="store_true", help="count system calls (strace -f -c)")
    parser.add_argument("--perf", action="store_true", help="perf record -g; top symbols")
    parser.add_argument("--callgrind", action="store_true", help="instructions per function")
    parser.add_argument("--top", type=int, default=25, help="lines of perf/callgrind output")
    return parser.parse_args()


def start_tracer(args, pid, out):
    if args.syscalls:
        return subprocess.Popen(["strace", "-f", "-c", "-o", out, "-p", str(pid)],
                                stderr=subprocess.DEVNULL)
    if args.perf:
        return subprocess.Popen(["perf", "record", "-g", "-o", out, "-p", str(pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return None


def stop_tracer(tracer):
    if tracer:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)


def syscalls_per_echo(path, echoes):
    """strace -c's table as 'name N.NN' per echo, most frequent first."""
    counts = {}
    with open(path) as table:
        for line in table:
            cells = line.split()
            if len(cells) >= 5 and cells[0][0].isdigit() and cells[-1] != "total":
                counts[cells[-1]] = int(cells[3])
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {n / echoes:.2f}" for name, n in ranked if n / echoes >= 0.01)


def perf_top(path, top):
    report = subprocess.run(["perf", "report", "-i", path, "--no-children", "--stdio", "-g", "none",
                             "--percent-limit", "0.5", "--sort", "dso,symbol"],
                            capture_output=True, text=True)
    lines = [l for l in report.stdout.splitlines() if l.strip() and not l.startswith("#")]
    return "\n".join(lines[:top])


def callgrind_top(path, echoes, top):
    report = subprocess.run(["callgrind_annotate", "--inclusive=no", path],
                            capture_output=True, text=True)
    lines, total = [], None
    for line in report.stdout.splitlines():
        match = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$", line)
        if not match:
            continue
        count = int(match.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = count
        elif total and len(lines) < top:
            lines.append(f"{count / echoes:10.0f}  {match.group(2)[:150]}")
    header = f"instructions per echo: {total / echoes:.0f}" if total else "no callgrind totals"
    return header + "\n" + hot_code_lines(path, echoes) + "\n" + "\n".join(lines)


def hot_code_lines(path, echoes):
    """How many 64-byte lines of code run on (nearly) every echo, by object: a line counts
    when its most-executed instruction ran at least 0.9 times per echo.

    Pinned on one CPU, server and load generator take turns in the same caches, so the
    code a server touches per echo slows the generator as well (docs/performance.md); the
    instruction count alone does not show that. Needs callgrind's per-instruction dump
    with absolute addresses (--dump-instr=yes --dump-line=no --compress-pos=no)."""
    executions, names, obj, skip_next = {}, {}, "?", False
    with open(path) as dump:
        for line in dump:
            if skip_next:  # the call's inclusive cost, not this instruction's
                skip_next = False
            elif line.startswith(("ob=", "cob=")):  # "(id) name" once, then "(id)"
                ref, _, name = line.split("=", 1)[1].strip().partition(" ")
                names.setdefault(ref, os.path.basename(name or ref))
                if line.startswith("ob="):
                    obj = names[ref]
            elif line.startswith("calls="):
                skip_next = True
            elif line.startswith("0x"):
                address, _, cost = line.partition(" ")
                key = (obj, int(address, 16) // 64)
                executions[key] = max(executions.get(key, 0), int(cost.split()[0] or 0))
    by_object = {}
    for (name, _), count in executions.items():
        if count >= 0.9 * echoes:
            by_object[name] = by_object.get(name, 0) + 1
    ranked = sorted(by_object.items(), key=lambda kv: -kv[1])
    return (f"code lines (64 B) run per echo: {sum(by_object.values())} ("
            + ", ".join(f"{name} {n}" for name, n in ranked) + ")")


def profile(args, programs, scenario, peer, cert, scratch):
    argv = run.server_argv(programs, scenario, peer, cert)
    if argv is None:
        return f"{peer}: not available", None
    out = os.path.join(scratch, peer.replace(">", "-") + (".callgrind" if args.callgrind else ".out"))
    if args.callgrind:
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=yes",
                "--dump-line=no", "--compress-pos=no"] + argv
    server = run.Server(argv, scenario.get("pinned"))
    try:
        gen_argv = [server.url] + scenario["args"] + run.client_args(peer)
        gen_argv += ["--seconds", str(args.seconds), "--warmup", "0.5"]
        if scenario.get("deflate"):
            gen_argv.append("--deflate")
        tracer = start_tracer(args, server.proc.pid, out)
        time.sleep(0.5 if tracer else 0)  # attached before the first connection
        generator = subprocess.Popen(run.pin([programs.load_generator] + gen_argv, scenario.get("pinned")),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # CPU and context switches are sampled inside the measured window (threads that
        # end take their counts with them), then divided by the echoes of that window.
        time.sleep(0.75)
        cpu0, switches0, t0 = server.cpu_split(), server.context_switches(), time.monotonic()
        time.sleep(args.seconds - 0.5)
        cpu1, switches1, t1 = server.cpu_split(), server.context_switches(), time.monotonic()
        stdout, stderr = generator.communicate(timeout=args.seconds + 600)
        if generator.returncode != 0:
            raise RuntimeError(stderr.strip())
        figures = json.loads(stdout.strip().splitlines()[-1])
        stop_tracer(tracer)
    finally:
        server.stop()
    in_window = max(figures["rate"] * (t1 - t0), 1)
    n = max(figures["total"], 1)
    line = (f"{peer:14} {figures['rate']:12,.0f}/s  CPU/echo user "
            f"{(cpu1[0] - cpu0[0]) * 1e6 / in_window:7.2f} us  kernel "
            f"{(cpu1[1] - cpu0[1]) * 1e6 / in_window:7.2f} us  switches/echo vol "
            f"{(switches1[0] - switches0[0]) / in_window:5.2f} invol "
            f"{(switches1[1] - switches0[1]) / in_window:5.2f}")
    if args.syscalls:
        line += "\n" + " " * 15 + "syscalls/echo: " + syscalls_per_echo(out, n)
    detail = None
    if args.perf:
        detail = perf_top(out, args.top)
    elif args.callgrind:
        detail = callgrind_top(out, n, args.top)
    return line, detail


def main():
    args = parse_arguments()
    run.raise_file_limit()
    programs = run.Programs(os.path.abspath(args.build_dir))
    scenario = next((s for s in run.SCENARIOS + run.COMPRESSED if s["id"] == args.scenario), None)
    if scenario is None or scenario["unit"] == "idle":
        sys.exit(f"profile.py: no echo scenario '{args.scenario}'")
    peers = args.servers.split(",") if args.servers else scenario["peers"]
    print(f"{scenario['label']}; {run.machine_description()}")
    with tempfile.TemporaryDirectory() as scratch:
        cert = run.make_certificate(scratch)
        details = []
        for peer in peers:
            line, detail = profile(args, programs, scenario, peer, cert, scratch)
            print(line, flush=True)
            if detail:
                details.append(f"\n== {peer}\n{detail}")
        print("\n".join(details))


if __name__ == "__main__":
    main()
