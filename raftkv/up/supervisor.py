"""Carries out a Plan: starts its processes stage by stage (each stage once the previous one is ready), adopts
those a previous supervisor left running, restarts what dies with back-off, and stops everything by PID.

Components run in sessions of their own, so a Ctrl-C reaches only `raftkv up`, which then stops them in
reverse order; their PIDs and start times are in `<dir>/run/state.json` for `raftkv down`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from raftkv.up import procs
from raftkv.up.checks import Probe, log_size, port_free
from raftkv.up.plan import Plan, Proc

STAGE_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class StartError(Exception):
    """A component could not start; the message names it and quotes its log."""


@dataclass
class Running:
    spec: Proc
    rec: procs.Record
    popen: subprocess.Popen[bytes] | None  # None when adopted from an earlier supervisor
    log_offset: int
    started: float
    restarts: int = 0
    backoff: float = 1.0
    down_since: float | None = None

    def exited(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is not None
        return not procs.alive(self.rec)

    def returncode(self) -> str:
        return str(self.popen.returncode) if self.popen is not None and self.popen.returncode is not None else "?"


def log_tail(path: str, lines: int = 12) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Supervisor:
    def __init__(self, d: str, plan: Plan, state: procs.State, say: Callable[[str], None]) -> None:
        self.d, self.plan, self.state, self.say = d, plan, state, say
        self.probe = Probe(d)
        self.running: dict[str, Running] = {}

    # ------------------------------------------------------------------ start
    def adopt(self) -> list[str]:
        """Components a previous `raftkv up` left running are kept, not started twice."""
        kept = []
        for p in self.plan.procs:
            rec = self.state.procs.get(p.name)
            if rec is not None and procs.alive(rec):
                self.running[p.name] = Running(p, rec, None, 0, time.monotonic())
                kept.append(p.name)
        return kept

    def taken_ports(self) -> list[str]:
        """Ports of components to be started that something else holds: refused before anything starts."""
        out = []
        for p in self.plan.procs:
            if p.name in self.running:
                continue
            for host, port in p.ports:
                if not port_free(host, port):
                    out.append(f"{host}:{port} ({p.name})")
        return out

    def _spawn(self, p: Proc) -> Running:
        os.makedirs(os.path.dirname(p.log), exist_ok=True)
        offset = log_size(p.log)
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   PYTHONUNBUFFERED="1")
        with open(p.log, "ab") as out:
            out.write(f"--- raftkv up: starting {p.name} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
                      .encode())
            out.flush()
            popen = subprocess.Popen(list(p.argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.d, env=env, start_new_session=True)
        rec = procs.record_of(popen.pid) or procs.Record(popen.pid, -1)
        self.state.procs[p.name] = rec
        self.state.save()
        return Running(p, rec, popen, offset, time.monotonic())

    def start_all(self) -> None:
        """Stage by stage: start what is not running, wait until the whole stage is ready."""
        for stage in sorted({p.stage for p in self.plan.procs}):
            batch = [p for p in self.plan.procs if p.stage == stage]
            for p in batch:
                if p.name not in self.running:
                    self.running[p.name] = self._spawn(p)
            self._wait_ready([self.running[p.name] for p in batch])

    def _wait_ready(self, batch: list[Running]) -> None:
        deadline = time.monotonic() + STAGE_TIMEOUT_S
        pending = list(batch)
        while pending:
            for r in list(pending):
                if r.exited():
                    raise StartError(f"{r.spec.name} exited with {r.returncode()} while starting; "
                                     f"the end of {r.spec.log}:\n{log_tail(r.spec.log)}")
                if self.probe.check(r.spec.check, r.spec.log, r.log_offset):
                    pending.remove(r)
            if pending and time.monotonic() > deadline:
                names = ", ".join(r.spec.name for r in pending)
                raise StartError(f"{names} not ready after {STAGE_TIMEOUT_S:.0f}s; logs in {self.d}/logs; the end "
                                 f"of {pending[0].spec.log}:\n{log_tail(pending[0].spec.log)}")
            if pending:
                time.sleep(0.2)

    # ------------------------------------------------------------------ keep running
    def tend(self) -> None:
        """One look at every component: a dead one is started again once its back-off has passed."""
        now = time.monotonic()
        for name, r in list(self.running.items()):
            if not r.exited():
                if now - r.started > HEALTHY_AFTER_S:
                    r.backoff = 1.0
                continue
            if r.down_since is None:
                r.down_since = now
                self.say(f"{name} exited ({r.returncode()}); starting it again in {r.backoff:.0f}s "
                         f"(log: {r.spec.log})")
                continue
            if now - r.down_since < r.backoff:
                continue
            fresh = self._spawn(r.spec)
            fresh.restarts, fresh.backoff = r.restarts + 1, min(r.backoff * 2, BACKOFF_MAX_S)
            self.running[name] = fresh
            self.say(f"{name} started again (PID {fresh.rec.pid})")

    # ------------------------------------------------------------------ stop
    def stop_all(self) -> None:
        for stage in sorted({p.stage for p in self.plan.procs}, reverse=True):
            batch = {name: r for name, r in self.running.items() if r.spec.stage == stage}
            procs.terminate_all([r.rec for r in batch.values()], STOP_GRACE_S)
            for name, r in batch.items():
                if r.popen is not None:
                    r.popen.poll()
                self.state.procs.pop(name, None)
        self.running.clear()
        self.state.save()


def stop_recorded(state: procs.State, order: list[str]) -> int:
    """`raftkv down` without a supervisor: every recorded component still alive, signalled together."""
    names = [x for x in order if x in state.procs] + [x for x in state.procs if x not in order]
    live = [state.procs[n] for n in names if procs.alive(state.procs[n])]
    procs.terminate_all(live, STOP_GRACE_S)
    state.procs.clear()
    state.save()
    return len(live)


def run_quiet(argv: tuple[str, ...] | list[str], log: str) -> int:
    """A helper command (image preload, CRI cleanup) whose output goes to `log`."""
    with open(log, "ab") as out:
        env = dict(os.environ, PYTHONPATH=REPO)
        return subprocess.run(list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, check=False,
                              timeout=120).returncode


PY = sys.executable
