"""Processes by PID, safely: a PID is only ours while its start time (from /proc) is the one recorded when we
started it, so a PID the kernel gave to someone else is never signalled. The record lives in
`<dir>/run/state.json`, which `raftkv down` and `raftkv status` read.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Record:
    pid: int
    start: int  # clock ticks since boot, /proc/<pid>/stat field 22


def start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def record_of(pid: int) -> Record | None:
    st = start_time(pid)
    return Record(pid, st) if st is not None else None


def alive(rec: Record) -> bool:
    return start_time(rec.pid) == rec.start


def terminate(rec: Record, grace: float) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds, to this exact process."""
    terminate_all([rec], grace)


def terminate_all(recs: list[Record], grace: float) -> None:
    """`terminate` for several processes at once: all get SIGTERM together, so they shut down in parallel."""
    _signal_and_wait([r for r in recs if alive(r)], signal.SIGTERM, grace)
    _signal_and_wait([r for r in recs if alive(r)], signal.SIGKILL, 5)


def _signal_and_wait(recs: list[Record], sig: int, timeout: float) -> None:
    for rec in recs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in recs:
            _reap(rec.pid)
        if not any(alive(r) for r in recs):
            return
        time.sleep(0.05)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


class State:
    """`<dir>/run/state.json`: the supervisor's record and each component's, rewritten whole on each change."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.supervisor: Record | None = None
        self.procs: dict[str, Record] = {}

    def load(self) -> State:
        try:
            with open(self.path) as f:
                raw = json.load(f)
        except (OSError, ValueError):
            return self
        sup = raw.get("supervisor")
        self.supervisor = Record(**sup) if sup else None
        self.procs = {k: Record(**v) for k, v in (raw.get("procs") or {}).items()}
        return self

    def save(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"supervisor": asdict(self.supervisor) if self.supervisor else None,
                       "procs": {k: asdict(v) for k, v in self.procs.items()}}, f, indent=2)
        os.replace(tmp, self.path)


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every process whose parent chain reaches `pid` (a CRI's shims left its session but keep the parent
    chain only until they daemonize, so callers also look by command line)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cmdline_mentions(text: str) -> list[int]:
    """PIDs whose command line contains `text` (the cluster directory): container shims of our nodes."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if text.encode() in cmd:
            out.append(int(entry))
    return out
