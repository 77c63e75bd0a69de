"""`raftkv chaos list` and `raftkv chaos run SCENARIO ...`: argument parsing and exit codes only.

Exit codes: 0 the scenario passed; 1 a checker found a violation, answered unknown, or a pass criterion failed;
2 bad usage, or the scenario is not available here (it is never reported as passing).
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys

from raftkv.chaos.catalogue import CATALOGUE, availability
from raftkv.chaos.runner import RunError, RunOptions, machine_facts, run, write_outputs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raftkv chaos", description="Fault injection with checked histories.")
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="the scenario catalogue and what is available on this machine")
    ls.add_argument("--impl", choices=["raftkv", "etcd"], default="raftkv")
    r = sub.add_parser("run", help="run one scenario and check the history")
    r.add_argument("scenario", help="a name from `raftkv chaos list`")
    r.add_argument("--members", type=int, default=3, choices=[1, 3, 5, 7])
    r.add_argument("--duration", type=float, default=5.0, help="seconds of faults (a recovery phase follows)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--impl", choices=["raftkv", "etcd"], default="raftkv",
                   help="which store the local cluster runs (etcd = Debian's etcd 3.4)")
    r.add_argument("--endpoints", default="", help="host:port,... of an existing cluster (client-side only)")
    r.add_argument("--out", type=pathlib.Path, default=None,
                   help="directory for report.json, history.json and member logs (default chaos-SCENARIO-IMPL-SEED)")
    r.add_argument("--clients", type=int, default=4)
    r.add_argument("--keys", type=int, default=5)
    r.add_argument("--election-timeout", type=int, default=500, help="ms, for the local cluster")
    return p


def cmd_list(impl: str) -> int:
    facts = machine_facts()
    width = max(len(n) for n in CATALOGUE)
    for name, s in CATALOGUE.items():
        why = availability(s, impl, facts)
        state = "available" if why is None else f"not available: {why}"
        print(f"{name:{width}s}  {s.summary}")
        print(f"{'':{width}s}  [{state}]" + (f" (not covered: {s.not_covered})" if s.not_covered else ""))
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    endpoints = [e.strip() for e in a.endpoints.split(",") if e.strip()]
    out = a.out or pathlib.Path(f"chaos-{a.scenario}-{a.impl if not endpoints else 'external'}-{a.seed}")
    opts = RunOptions(a.scenario, a.impl, a.members, a.duration, a.seed, endpoints, out, a.clients, a.keys,
                      election_ms=a.election_timeout)
    try:
        report, history = asyncio.run(run(opts))
    except RunError as e:
        print(f"raftkv chaos: {e}", file=sys.stderr)
        return 2
    write_outputs(out, report, history)
    print(report.render())
    print(f"wrote {out / 'report.json'} and {out / 'history.json'}")
    return report.exit_code


def main(argv: list[str]) -> int:
    a = build_parser().parse_args(argv)
    if a.cmd == "list":
        return cmd_list(a.impl)
    return cmd_run(a)
