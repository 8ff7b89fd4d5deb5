#!/usr/bin/python3
"""Plays the Autobahn|Testsuite case catalogue (groups 1-7, 9, 10, 12, 13) against syncws
and the reference peers, prints a verdict table per group and writes results.md/results.json.

    run.py [--tool PATH] [--role client|server|both] [--cases 1.*,12.1.*]
           [--peer syncws|python|node|all] [--out DIR] [--check]

--role is the role of the implementation under test: "server" plays every case as a
fuzzing client against its echo server (`syncws serve --echo --port 0`), "client" plays every
case as a fuzzing server that its echo client (`syncws echo-client URL`) connects to, once per
case, at /runCase?case=N&agent=NAME (Autobahn's convention). --peer picks the implementation:
syncws (default; needs --tool), python (Python websockets 10.4) or node (Node ws 8).

Results of earlier runs for columns or cases not run now are kept: they are read from
DIR/results.json, or from the committed tests/conformance/results.json when DIR has none.
--check makes the exit status 1 when a syncws case is not OK, unless it is INFORMATIONAL by
design (catalogue) or deviations.py accepts its verdict.

Loopback only, ports chosen by the OS, every step bounded by a timeout. Python 3 standard
library only; run it with /usr/bin/python3 (where python3-websockets lives, for --peer python).
"""

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import catalogue  # noqa: E402
import deviations  # noqa: E402
import fuzzer  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402

ROLES = ("server", "client")
CONNECT_TIMEOUT = 10.0  # a client under test must connect within this


def column_name(agent, role):
    return f"{agent} {role}"


def run_server_column(agent, cases, tool, log, progress):
    """Fuzzing client against the agent's echo server."""
    results = {}
    server = peers.PeerServer(agent.server_command(tool), log).start()
    try:
        for case in cases:
            if not server.alive():
                status = server.stop()
                progress(f"  server exited (status {status}) before {case.id}; restarting it")
                server = peers.PeerServer(agent.server_command(tool), log).start()
            outcome = fuzzer.run_as_client(case, server.url)
            if not server.alive():
                outcome.notes.append(f"the server exited (status {server.proc.returncode}) during the case")
            results[case.id] = outcome.to_json()
            progress(outcome)
    finally:
        status = server.stop()
    return results, {"server_exit": status}


def run_client_column(agent, cases, all_cases, tool, log, progress):
    """Fuzzing server that the agent's echo client connects to, once per case."""
    by_index = {i: c for i, c in enumerate(all_cases, start=1)}
    index_of = {c.id: i for i, c in by_index.items()}
    results = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        for case in cases:
            url = f"ws://127.0.0.1:{port}/runCase?case={index_of[case.id]}&agent={agent.name}"
            client = peers.start_client(agent.client_command(tool, url), log)
            case_id, outcome, error = fuzzer.run_as_server(listener, by_index, agent.name, CONNECT_TIMEOUT)
            if outcome is None:
                outcome = fuzzer.failed(case.id, error)
            elif case_id != case.id:
                outcome = fuzzer.failed(case.id, f"the client asked for case {case_id}")
            status = peers.finish_client(client)
            entry = outcome.to_json()
            if status == "killed":
                entry.setdefault("notes", []).append("the client did not exit after the connection closed")
            if "notes" in entry:
                entry["client_exit"] = status
            results[case.id] = entry
            progress(outcome)
    return results, {}


def run_column(agent_name, role, case_ids, args):
    agent = peers.AGENTS[agent_name]
    all_cases = catalogue.all_cases(args.full_deflate)
    cases = [c for c in all_cases if c.id in case_ids]
    name = column_name(agent_name, role)
    log_path = os.path.join(args.logs, f"{agent_name}-{role}.log")
    started = time.monotonic()

    def progress(item):
        if isinstance(item, str):
            print(f"{name}: {item}", flush=True)
        elif item.verdict != fuzzer.OK or args.verbose:
            print(f"{name} {item.case_id}: {item.verdict} - {item.result}; close: {item.behavior_close} "
                  f"({item.close_text}) {item.result_close}", flush=True)

    with open(log_path, "wb") as log:
        if role == "server":
            results, extra = run_server_column(agent, cases, args.tool, log, progress)
        else:
            results, extra = run_client_column(agent, cases, all_cases, args.tool, log, progress)
    column = {"agent": agent_name, "title": agent.title, "role": role,
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "wall_s": round(time.monotonic() - started, 1),
              "deflate_messages": "Autobahn's 1000" if args.full_deflate else
              f"up to 1000, {catalogue.DEFLATE_BUDGET >> 20} MiB at most",
              "cases": results, **extra}
    if agent_name == "syncws":
        column["tool"] = os.path.relpath(args.tool, REPO) if args.tool.startswith(REPO + os.sep) else args.tool
    return name, column


def run_columns(columns, case_ids, args):
    """Runs (agent, role) columns, up to --jobs at a time as worker processes."""
    if args.jobs <= 1 or len(columns) == 1:
        return dict(run_column(a, r, case_ids, args) for a, r in columns)
    done, pending, running = {}, list(columns), []
    while pending or running:
        while pending and len(running) < args.jobs:
            agent, role = pending.pop(0)
            out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
            out.close()
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", f"{agent}:{role}",
                   "--worker-out", out.name, "--cases", ",".join(sorted(case_ids)), "--out", args.out,
                   "--logs", args.logs]
            cmd += ["--tool", args.tool] if args.tool else []
            cmd += ["--full-deflate"] if args.full_deflate else []
            cmd += ["--verbose"] if args.verbose else []
            running.append((subprocess.Popen(cmd), out.name))
        finished = next(((p, path) for p, path in running if p.poll() is not None), None)
        if finished is None:
            time.sleep(0.2)
            continue
        running.remove(finished)
        proc, path = finished
        with open(path) as f:
            content = f.read()
        os.unlink(path)
        if proc.returncode != 0 or not content:
            raise SystemExit(f"a worker failed (status {proc.returncode})")
        name, column = json.loads(content)
        done[name] = column
    return done


def load_previous(out):
    for path in (os.path.join(out, "results.json"), os.path.join(HERE, "results.json")):
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
    return {"columns": {}}


def merge(previous, new_columns):
    merged = previous.get("columns", {})
    for name, column in new_columns.items():
        old = merged.get(name, {}).get("cases", {})
        old.update(column["cases"])
        column["cases"] = dict(sorted(old.items(), key=lambda kv: [int(x) for x in kv[0].split(".")]))
        merged[name] = column
    return {"columns": merged}


def undocumented(columns, cases_by_id):
    """Cases of ours (syncws columns run now) not OK, not informational by design and not
    accepted in deviations.py."""
    problems = []
    for name, column in columns.items():
        if column["agent"] != "syncws":
            continue
        for case_id, outcome in column["cases"].items():
            if outcome["verdict"] == fuzzer.OK:
                continue
            if outcome["verdict"] == fuzzer.INFORMATIONAL and cases_by_id[case_id].informational:
                continue
            deviation = deviations.find("syncws", column["role"], case_id, outcome["verdict"])
            if deviation and deviation.accepted:
                continue
            problems.append(f"{name} {case_id}: {outcome['verdict']} - {outcome['result']}; "
                            f"close {outcome['behavior_close']} ({outcome['close']}): {outcome['result_close']}")
    return problems


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", help="the syncws executable (for --peer syncws)")
    parser.add_argument("--role", choices=["client", "server", "both"], default="both",
                        help="role of the implementation under test (default both)")
    parser.add_argument("--cases", default="", help="comma-separated case patterns, e.g. 1.*,12.1.*")
    parser.add_argument("--peer", default="syncws",
                        help="syncws, python, node, all, or a comma-separated list (default syncws)")
    parser.add_argument("--out", default=HERE, help="where results.md/.json go (default: here)")
    parser.add_argument("--logs", default=os.path.join(tempfile.gettempdir(), "syncws-conformance"),
                        help="where the stderr of the implementations goes (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="columns run at the same time (default 2)")
    parser.add_argument("--full-deflate", action="store_true",
                        help="send Autobahn's 1000 messages in every case of groups 12/13 (slow)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a syncws case is not OK and not accepted")
    parser.add_argument("--verbose", action="store_true", help="print every case")
    parser.add_argument("--list", action="store_true", help="print the selected cases and what they do")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_arguments()
    if args.tool:
        args.tool = os.path.abspath(args.tool)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.logs, exist_ok=True)
    all_cases = catalogue.all_cases(args.full_deflate)
    case_ids = {c.id for c in catalogue.select(all_cases, args.cases)}
    if not case_ids:
        sys.exit(f"no case matches {args.cases!r}")
    if args.list:
        for case in all_cases:
            if case.id in case_ids:
                print(f"{case.id:<9} {case.description}")
        return 0

    if args.worker:
        agent, role = args.worker.split(":")
        result = run_column(agent, role, case_ids, args)
        with open(args.worker_out, "w") as f:
            json.dump(result, f)
        return 0

    names = ["syncws", "websockets", "ws"] if args.peer == "all" else \
        [peers.PEER_ALIASES.get(p.strip(), p.strip()) for p in args.peer.split(",")]
    for name in names:
        if name not in peers.AGENTS:
            sys.exit(f"unknown peer {name!r}")
        why = peers.AGENTS[name].unavailable(args.tool)
        if why:
            print(f"skipped: {why}")
            return 77
    roles = ROLES if args.role == "both" else (args.role,)
    columns = [(a, r) for a in names for r in roles]

    started = time.monotonic()
    new_columns = run_columns(columns, case_ids, args)
    wall = time.monotonic() - started

    cases_by_id = {c.id: c for c in all_cases}
    for agent, role in columns:
        name = column_name(agent, role)
        print()
        print(report.group_table(name, new_columns[name], cases_by_id))
    problems = undocumented(new_columns, cases_by_id)  # before merge() adds earlier cases
    data = merge(load_previous(args.out), new_columns)
    report.write(args.out, data, all_cases)
    print(f"\n{len(case_ids)} cases x {len(columns)} columns in {wall:.0f} s; "
          f"results in {os.path.join(args.out, 'results.md')}, logs in {args.logs}")

    if problems:
        print(f"\n{len(problems)} syncws case(s) not OK and not accepted:")
        for p in problems:
            print("  " + p)
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
