#!/usr/bin/env python3
"""Runs the echo benchmarks of design.md section 4 and prints one table.

Three servers side by side, each started fresh on 127.0.0.1 (port 0) for every cell:
raw TCP echo (the limit), syncws (`syncws serve --echo`) and Boost.Beast's synchronous API;
the plain rows of binary messages and (e) add ws-floor, the raw echo doing only the framing
any WebSocket server must (`raw_echo_server --websocket`).
One load generator of our own (bench/load_generator) drives them all with the same
messages, checking every echo byte for byte. Every scenario runs against every server in
each round (the order of the servers rotates between rounds); figures are medians over
the rounds. Then the compressed-echo comparison (permessage-deflate) and core_bench.

    bench/run.py --build-dir build            # 3 rounds, 3 s per cell
    bench/run.py --build-dir build --quick    # smoke pass: a fraction of a second per cell
    bench/run.py --build-dir build --only 'a|c' --rounds 5 --json results.json

Exit status 1 when a scenario failed or an echo was corrupt; timings never fail the run.
Python 3 standard library only.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

KIB = 1024
MIB = 1024 * 1024

# ---------------------------------------------------------------------------- scenarios
#
# A scenario is the generator's arguments plus how to judge the result. `unit` says which
# figure is the headline: msg/s, MB/s (payload, one direction), conn/s, or the memory of
# idle connections. `target` is the ratio to the base the issue asks of syncws.


def echo(conns, in_flight, size, payload="binary"):
    return ["--scenario", "echo", "--connections", str(conns), "--in-flight", str(in_flight),
            "--size", str(size), "--payload", payload]


PLAIN = ["raw", "syncws", "beast"]
TLS = ["raw-tls", "syncws-tls", "beast-tls"]
# The plain rows of binary messages and (e) also show ws-floor: the raw echo server doing the least framing
# any WebSocket server must (raw_echo_server --websocket), so the table says how far below
# raw TCP a WebSocket server has to be at best.
WITH_FLOOR = PLAIN + ["ws-floor"]

SCENARIOS = [
    dict(id="a-pinned", label="(a) 1 conn ping-pong 32 B, pinned", args=echo(1, 1, 32),
         unit="msg/s", target=0.95, pinned=True, peers=WITH_FLOOR),
    dict(id="a", label="(a) 1 conn ping-pong 32 B, unpinned", args=echo(1, 1, 32),
         unit="msg/s", target=0.95, peers=WITH_FLOOR),
    dict(id="b", label="(b) 16 conns ping-pong 32 B", args=echo(16, 1, 32),
         unit="msg/s", target=0.95, peers=WITH_FLOOR),
    dict(id="c", label="(c) 4 conns x 64 KiB, 4 in flight", args=echo(4, 4, 64 * KIB),
         unit="MB/s", target=0.8, peers=WITH_FLOOR),
    dict(id="d-binary", label="(d) 1 conn x 1 MiB binary, 4 in flight", args=echo(1, 4, MIB),
         unit="MB/s", target=1.0, peers=WITH_FLOOR),
    dict(id="d-text", label="(d) 1 conn x 1 MiB mixed UTF-8 text, 4 in flight",
         args=echo(1, 4, MIB, "utf8"), unit="MB/s", target=0.8, peers=PLAIN),
    dict(id="e", label="(e) connect+handshake+echo+close, 4 threads",
         args=["--scenario", "connect", "--threads", "4", "--size", "32"],
         unit="conn/s", target=1.2, peers=WITH_FLOOR),
    dict(id="f", label="(f) idle connections: server memory", unit="idle", target=1.1, peers=PLAIN),
    # (g): the same server (Beast), two clients; the base is our lean generator.
    dict(id="g-a", label="(g) client cost: (a) pinned, against Beast", args=echo(1, 1, 32),
         unit="msg/s", target=0.95, pinned=True, peers=["lean>beast", "syncws>beast"]),
    dict(id="g-c", label="(g) client cost: (c), against Beast", args=echo(4, 4, 64 * KIB),
         unit="MB/s", target=0.95, peers=["lean>beast", "syncws>beast"]),
    # (h): (a)-(d) over TLS; the base is the raw echo over TLS.
    dict(id="h-a", label="(h) TLS: (a) 1 conn ping-pong 32 B, pinned", args=echo(1, 1, 32),
         unit="msg/s", target=0.95, pinned=True, peers=TLS),
    dict(id="h-b", label="(h) TLS: (b) 16 conns ping-pong 32 B", args=echo(16, 1, 32),
         unit="msg/s", target=0.95, peers=TLS),
    dict(id="h-c", label="(h) TLS: (c) 4 conns x 64 KiB, 4 in flight", args=echo(4, 4, 64 * KIB),
         unit="MB/s", target=0.8, peers=TLS),
    dict(id="h-d-binary", label="(h) TLS: (d) 1 MiB binary, 4 in flight", args=echo(1, 4, MIB),
         unit="MB/s", target=1.0, peers=TLS),
    dict(id="h-d-text", label="(h) TLS: (d) 1 MiB mixed UTF-8 text, 4 in flight",
         args=echo(1, 4, MIB, "utf8"), unit="MB/s", target=0.8, peers=TLS),
]

# Issue 5 item 8: JSON-like text, both sides compressing. The base is Beast configured as
# syncws's server default (window 12 bits, memLevel 5, level 6); Beast's own defaults
# (window 15, memLevel 4, level 8) are shown too.
DEFLATE_PEERS = ["lean>beast", "lean>syncws", "lean>beast-defaults", "syncws>syncws",
                 "syncws>beast"]
COMPRESSED = [
    dict(id="z-1k", label="JSON ~1 KiB, 4 conns ping-pong", args=echo(4, 1, KIB, "json"),
         unit="msg/s", target=1.0, peers=DEFLATE_PEERS, deflate=True),
    dict(id="z-64k", label="JSON ~64 KiB, 1 conn, 4 in flight", args=echo(1, 4, 64 * KIB, "json"),
         unit="MB/s", target=1.0, peers=DEFLATE_PEERS, deflate=True),
]

# Roles of a scenario's peers, by position: the base every row is compared with ("x base"),
# syncws (the row that is judged), and Beast, which syncws must be ahead of (the rows of (g)
# and of the compressed echo have Beast as their base already).
def roles(scenario):
    peers = scenario["peers"]
    rival = peers[2] if peers[:3] in (PLAIN, TLS) else None
    return peers[0], peers[1], rival


# ---------------------------------------------------------------------------- processes


class Programs:
    def __init__(self, build_dir):
        bench = os.path.join(build_dir, "bench")
        self.load_generator = os.path.join(bench, "load_generator")
        self.raw = os.path.join(bench, "raw_echo_server")
        self.beast = os.path.join(bench, "beast_echo_server")
        self.core_bench = os.path.join(bench, "core_bench")
        self.syncws = os.path.join(build_dir, "tools", "syncws")
        for path in (self.load_generator, self.raw, self.core_bench, self.syncws):
            if not os.access(path, os.X_OK):
                sys.exit(f"run.py: {path} is missing; build first (meson compile -C {build_dir})")
        self.has_beast = os.access(self.beast, os.X_OK)
        self.syncws_tls = "--tls-cert" in usage_text(self.syncws)


def usage_text(program):
    result = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=10)
    return result.stdout + result.stderr


def make_certificate(directory):
    """A throwaway self-signed certificate for the TLS rows, or None without openssl."""
    if not shutil.which("openssl"):
        return None
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
    return cert, key


def pin(argv, pinned):
    return ["taskset", "-c", "0"] + argv if pinned else argv


class Server:
    """A server process on a free port; knows its URL, CPU time and /proc status."""

    def __init__(self, argv, pinned):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(pin(argv, pinned), stdout=subprocess.PIPE,
                                     stderr=self.stderr, stdin=subprocess.DEVNULL, text=True)
        line = self._first_line(timeout=20)
        match = re.search(r"listening on (\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"{argv[0]} did not start: {line.strip() or self.error_text()}")
        self.url = match.group(1)
        # Anything more it prints must not fill the pipe and block it.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def _first_line(self, timeout):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        return result[0] if result else ""

    def error_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").strip()[-2000:]

    def cpu_split(self):
        """CPU seconds in user space and in the kernel, all threads (dead ones included)."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def cpu_seconds(self):
        return sum(self.cpu_split())

    def context_switches(self):
        """Voluntary and involuntary context switches of the threads alive now."""
        counts = [0, 0]
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{task}/status") as status:
                    for line in status:
                        if line.startswith("voluntary_ctxt_switches"):
                            counts[0] += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches"):
                            counts[1] += int(line.split()[1])
            except OSError:
                pass  # a thread that just ended
        return counts

    def status(self):
        values = {}
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "Threads"):
                    values[name] = int(value.split()[0])
        return values

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Stops the server (SIGTERM; SIGKILL after 10 s); returns its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def server_argv(programs, scenario, peer, cert):
    """The command line of the server a peer name stands for; None when not available."""
    server = peer.split(">")[-1]
    tls = server.endswith("-tls")
    name = server.removesuffix("-tls")
    if tls and not cert:
        return None
    tls_args = ["--tls-cert", cert[0], "--tls-key", cert[1]] if tls else []
    if name == "raw":
        return [programs.raw, "--port", "0"] + tls_args
    if name == "ws-floor":
        return [programs.raw, "--port", "0", "--websocket"]
    if name == "syncws":
        if tls and not programs.syncws_tls:
            return None
        return [programs.syncws, "serve", "--echo", "--host", "127.0.0.1", "--port", "0"] + tls_args
    if name.startswith("beast"):
        if not programs.has_beast:
            return None
        deflate = {"beast": ["--deflate"],
                   "beast-defaults": ["--deflate", "--deflate-window", "15", "--deflate-level",
                                      "8", "--deflate-mem-level", "4"]}[name]
        return [programs.beast, "--port", "0"] + tls_args + (deflate if scenario.get("deflate") else [])
    raise ValueError(peer)


def client_args(peer):
    return ["--client", "syncws"] if peer.startswith("syncws>") else []


class Cell:
    """One measurement (scenario x peer x round) or why there is none."""

    def __init__(self, figures=None, error=None, skipped=None):
        self.figures, self.error, self.skipped = figures or {}, error, skipped


def run_generator(programs, argv, pinned, timeout):
    result = subprocess.run(pin([programs.load_generator] + argv, pinned), capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or f"load_generator exited {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_echo(programs, scenario, peer, server, settings):
    argv = [server.url] + scenario["args"] + client_args(peer)
    argv += ["--seconds", str(settings.seconds), "--warmup", str(settings.warmup)]
    if scenario.get("deflate"):
        argv.append("--deflate")
    cpu_before = server.cpu_seconds()
    figures = run_generator(programs, argv, scenario.get("pinned"), settings.seconds + 120)
    cpu = server.cpu_seconds() - cpu_before
    figures["server_cpu_us_per_op"] = cpu * 1e6 / max(figures["total"], 1)
    return figures


def measure_idle(programs, server, settings):
    """Server memory and threads per idle connection (VmRSS and Threads, before and after)."""
    def hold(connections, while_held):
        argv = [programs.load_generator, server.url, "--scenario", "idle",
                "--connections", str(connections)]
        gen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            if not gen.stdout.readline():
                raise RuntimeError(gen.stderr.read().strip() or "load_generator ended early")
            time.sleep(0.3)  # threads that are still starting up
            return while_held()
        finally:
            gen.stdin.close()
            gen.wait(60)

    # One connection first, so that what a server sets up once, on its first client (a
    # library's lazy initialization: OpenSSL's SHA-1 for syncws, 2 MB of its pages), is not
    # counted as a cost of each connection.
    hold(1, lambda: None)
    time.sleep(0.2)  # let the server settle
    before = server.status()
    after = hold(settings.idle_connections, server.status)
    n = settings.idle_connections
    return {"kib_per_conn": (after["VmRSS"] - before["VmRSS"]) / n,
            "threads_per_conn": (after["Threads"] - before["Threads"]) / n, "connections": n}


def measure(programs, scenario, peer, cert, settings):
    argv = server_argv(programs, scenario, peer, cert)
    if argv is None:
        return Cell(skipped="n/a")
    try:
        server = Server(argv, scenario.get("pinned"))
    except Exception as e:  # a server that cannot start is a failure of the run
        return Cell(error=str(e))
    try:
        if scenario["unit"] == "idle":
            cell = Cell(measure_idle(programs, server, settings))
        else:
            cell = Cell(measure_echo(programs, scenario, peer, server, settings))
    except Exception as e:
        cell = Cell(error=str(e))
    # A server that crashed, or that reports a failure (a sanitizer's) when stopped.
    crashed = not server.alive()
    status = server.stop()
    if crashed or status not in (0, -signal.SIGTERM):
        cell = Cell(error=f"{peer} server exited with status {status}")
    if cell.error and server.error_text():
        cell.error += f" [server: {server.error_text()}]"
    return cell


# ---------------------------------------------------------------------------- the table


def median_figures(cells):
    good = [c.figures for c in cells if c.figures]
    if not good:
        return None
    return {k: statistics.median(f[k] for f in good) for k in good[0]
            if isinstance(good[0][k], (int, float))}


def headline(scenario, figures):
    unit = scenario["unit"]
    if unit == "MB/s":
        return figures["mb_per_s"]
    if unit == "idle":
        return figures["kib_per_conn"]
    return figures["rate"]


def fmt(value, digits=None):
    if value is None:
        return "-"
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"


def judge(scenario, mine, base, rival):
    """Pass/fail of syncws's row: the ratio target, p99 <= 1.2x the base's, ahead of Beast."""
    unit, target = scenario["unit"], scenario["target"]
    problems = []
    if unit == "idle":
        if mine["kib_per_conn"] > target * base["kib_per_conn"]:
            problems.append(f"memory {mine['kib_per_conn'] / base['kib_per_conn']:.2f}x")
        # A pool may start a spare worker or two while the connections open.
        if mine["threads_per_conn"] > 1.0 + 3 / mine["connections"]:
            problems.append(f"{mine['threads_per_conn']:.3f} threads/conn")
        if rival and mine["kib_per_conn"] > rival["kib_per_conn"]:
            problems.append("behind Beast")
        return "pass" if not problems else "FAIL: " + ", ".join(problems)
    ratio = headline(scenario, mine) / headline(scenario, base) if headline(scenario, base) else 0
    if ratio < target:
        problems.append(f"{ratio:.2f}x < {target}x")
    if base.get("p99_us") and mine["p99_us"] > 1.2 * base["p99_us"]:
        problems.append(f"p99 {mine['p99_us'] / base['p99_us']:.2f}x")
    if rival and headline(scenario, mine) < headline(scenario, rival):
        problems.append("behind Beast")
    return "pass" if not problems else "FAIL: " + ", ".join(problems)


def target_text(scenario):
    if scenario["unit"] == "idle":
        return f"<= {scenario['target']}x, <= 1 thread"
    return f">= {scenario['target']}x, p99 <= 1.2x"


def rows_for(scenario, results):
    """Table rows of one scenario, one per peer."""
    peers = scenario["peers"]
    medians = {p: median_figures(results[scenario["id"]][p]) for p in peers}
    base_name, mine, rival = roles(scenario)
    base = medians[base_name]
    rows = []
    for peer in peers:
        cells = results[scenario["id"]][peer]
        errors = [c.error for c in cells if c.error]
        figures = medians[peer]
        row = {"scenario": scenario["label"], "peer": peer}
        if errors:
            row["value"] = "ERROR"
            row["result"] = errors[0][:200]
        elif figures is None:
            row["value"] = cells[0].skipped if cells else "-"
        else:
            row.update(figure_columns(scenario, figures, base))
            if peer == mine and base:
                row["target"] = target_text(scenario)
                row["result"] = judge(scenario, figures, base, medians[rival] if rival else None)
        rows.append(row)
    return rows


def figure_columns(scenario, figures, base):
    if scenario["unit"] == "idle":
        ratio = figures["kib_per_conn"] / base["kib_per_conn"] if base and base["kib_per_conn"] else None
        return {"value": fmt(figures["kib_per_conn"], 1), "unit": "KiB/conn",
                "ratio": fmt(ratio, 2), "threads": f"{figures['threads_per_conn']:.3f}"}
    value = headline(scenario, figures)
    row = {"value": fmt(value), "unit": scenario["unit"],
           "ratio": fmt(value / headline(scenario, base), 2) if base and headline(scenario, base) else "-",
           "p50": fmt(figures.get("p50_us")), "p99": fmt(figures.get("p99_us")),
           "srv_cpu": fmt(figures.get("server_cpu_us_per_op")),
           "gen_cpu": f"{figures.get('client_cpu', 0):.2f}"}
    if base and base.get("p99_us"):
        row["p99_ratio"] = fmt(figures["p99_us"] / base["p99_us"], 2)
    if scenario.get("deflate") and figures.get("wire_ratio"):
        row["wire"] = f"{figures['wire_ratio']:.3f}"
    return row


COLUMNS = [("scenario", "scenario", "<"), ("peer", "server", "<"), ("value", "value", ">"),
           ("unit", "unit", "<"), ("ratio", "x base", ">"), ("p50", "p50 us", ">"),
           ("p99", "p99 us", ">"), ("p99_ratio", "p99 x base", ">"), ("threads", "threads/conn", ">"),
           ("srv_cpu", "srv CPU us/op", ">"), ("gen_cpu", "gen CPU", ">"),
           ("target", "target", "<"), ("result", "result", "<")]


def render(rows, columns):
    present = [c for c in columns if any(r.get(c[0]) for r in rows)]
    widths = [max(len(title), *(len(str(r.get(key, ""))) for r in rows)) for key, title, _ in present]
    lines = []

    def line(values):
        cells = [f"{v:{a}{w}}" for v, w, (_, _, a) in zip(values, widths, present)]
        lines.append(" | ".join(cells).rstrip())

    line([title for _, title, _ in present])
    lines.append("-+-".join("-" * w for w in widths))
    previous = None
    for r in rows:
        label = r["scenario"] if r["scenario"] != previous else ""
        previous = r["scenario"]
        line([label if key == "scenario" else str(r.get(key, "")) for key, _, _ in present])
    return "\n".join(lines)


# ---------------------------------------------------------------------------- core_bench

CORE_TARGETS = [
    # (table title, row, column, minimum, what)
    ("masking", "64 KiB", "mask/memcpy", 0.8, "masking >= 0.8x memcpy at 64 KiB"),
    ("UTF-8", "64 KiB", "ASCII", 30.0, "UTF-8 ASCII >= 30 GB/s"),
    ("UTF-8", "64 KiB", "mixed", 4.0, "UTF-8 mixed text >= 4 GB/s"),
]


def core_bench_checks(output):
    """Reads the targets' cells out of core_bench's tables: a title line ("masking, GB/s"
    then the column names), rows of a size ("64 KiB") then one number per column."""
    tables, current = {}, None
    for line in output.splitlines():
        title = re.match(r"^(\S[^,]*), GB/s\s+(.*)$", line)
        if title:
            current = tables.setdefault(title.group(1), {"header": title.group(2).split(), "rows": {}})
        elif current and re.match(r"^\d", line):
            words = line.split()
            values = words[len(words) - len(current["header"]):]
            current["rows"][" ".join(words[:len(words) - len(values)])] = values
        elif not line.strip():
            current = None
    checks = []
    for table, row, column, minimum, what in CORE_TARGETS:
        try:
            t = tables[table]
            value = float(t["rows"][row][t["header"].index(column)])
            checks.append(f"  {what}: {value:.2f} -> {'pass' if value >= minimum else 'FAIL'}")
        except (KeyError, ValueError, IndexError):
            checks.append(f"  {what}: not found in core_bench's output")
    return checks


def run_core_bench(programs, quick):
    argv = [programs.core_bench] + (["--quick"] if quick else [])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return None, "core_bench failed: " + result.stderr.strip()
    return result.stdout, None


# ---------------------------------------------------------------------------- main


def machine_description():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(l.split(":", 1)[1].strip() for l in info if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({model}), {os.uname().release}; load average {load}"


def raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", default="build", help="meson build directory")
    parser.add_argument("--quick", action="store_true",
                        help="smoke pass: 1 round, a fraction of a second per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per cell")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--idle-connections", type=int, default=1000)
    parser.add_argument("--only", help="regular expression on scenario ids (a-pinned, a, b, c, "
                        "d-binary, d-text, e, f, g-a, g-c, h-..., z-1k, z-64k)")
    parser.add_argument("--no-core-bench", action="store_true")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 0.2, 0.05
        args.idle_connections = min(args.idle_connections, 200)
    return args


def main():
    settings = parse_arguments()
    raise_file_limit()
    programs = Programs(os.path.abspath(settings.build_dir))
    scenarios = [s for s in SCENARIOS + COMPRESSED
                 if not settings.only or re.fullmatch(settings.only, s["id"])]
    print(f"syncws echo benchmarks: {settings.rounds} round(s), {settings.seconds} s per cell; "
          f"{machine_description()}", flush=True)
    results = {s["id"]: {p: [] for p in s["peers"]} for s in scenarios}
    with tempfile.TemporaryDirectory() as scratch:
        cert = make_certificate(scratch)
        for round_number in range(settings.rounds):
            for s in scenarios:
                peers = s["peers"][round_number % len(s["peers"]):] + \
                        s["peers"][:round_number % len(s["peers"])]
                for peer in peers:
                    cell = measure(programs, s, peer, cert, settings)
                    results[s["id"]][peer].append(cell)
                    if cell.error:
                        print(f"  error: {s['id']} {peer}: {cell.error}", file=sys.stderr, flush=True)
            print(f"round {round_number + 1} done; load average "
                  f"{os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)

    plain = [s for s in scenarios if not s.get("deflate")]
    compressed = [s for s in scenarios if s.get("deflate")]
    print()
    if plain:
        print(render([r for s in plain for r in rows_for(s, results)], COLUMNS))
        print(FOOTNOTES)
    if compressed:
        print("\nCompressed echo (permessage-deflate, both sides compress); "
              "base: Beast with syncws's server parameters")
        columns = COLUMNS[:5] + [("wire", "wire/payload", ">")] + COLUMNS[5:]
        print(render([r for s in compressed for r in rows_for(s, results)], columns))
        print(DEFLATE_FOOTNOTES)
    core_failed = False
    if not settings.no_core_bench:
        output, error = run_core_bench(programs, settings.quick)
        core_failed = error is not None
        print("\n" + (output or error))
        if output:
            print("core targets:\n" + "\n".join(core_bench_checks(output)))
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if settings.json:
        with open(settings.json, "w") as out:
            json.dump({sid: {peer: [vars(c) for c in cells] for peer, cells in peers.items()}
                       for sid, peers in results.items()}, out, indent=1)
    failed = any(c.error for peers in results.values() for cells in peers.values() for c in cells)
    return 1 if failed or core_failed else 0


FOOTNOTES = """
x base: ratio to raw TCP (to raw TCP over TLS for (h); to the lean load generator for (g)).
ws-floor: raw TCP doing only the framing every WebSocket server must (--websocket).
value: msg/s = echoes per second, all connections; MB/s = payload echoed per second (10^6 B,
one direction); conn/s = full connection cycles per second. p50/p99: round-trip times, us
(for (e) the whole cycle). (f): VmRSS and Threads of the server, before and after opening
the idle connections (each did one echo), per connection. srv CPU: server CPU time per echo (or per connection), warm-up
included. gen CPU: cores the load generator used while measuring (2 cores in all; on one
when pinned). Targets are syncws's: the ratio to the base, p99 <= 1.2x the base's, and
ahead of Beast. A server marked n/a is not available in this build (e.g. no TLS yet)."""

DEFLATE_FOOTNOTES = """
lean>X: our load generator (zlib level 1, context takeover) against server X; syncws>X: the
syncws client (client_options::compression, its defaults). beast: Beast with window 12 bits,
memLevel 5, level 6 (syncws's server defaults); beast-defaults: Beast's own (15, 4, 8).
wire/payload: compressed size of the server's echoes over their size (lower is better;
unknown for the syncws client). MB/s counts uncompressed payload. Result: syncws's server
against Beast with the same parameters."""


if __name__ == "__main__":
    sys.exit(main())
