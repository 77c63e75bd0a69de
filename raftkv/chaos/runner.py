"""Run one catalogue scenario end to end: start (or point at) a cluster, workload + nemesis, heal, check, report.

This is the adapter behind `raftkv chaos run` and the pytest fixtures: it owns processes, proxies, the event
loop and files. Every decision it takes is delegated to a pure piece (catalogue.plan, partition.cuts_for,
report.build_report, the checkers). All processes it starts are ended by PID in `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import random
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field

from raftkv.chaos.actions import FAIL_STOP_WAIT_S, Action, NemesisContext, perform, run_schedule
from raftkv.chaos.catalogue import CATALOGUE, HEAL, Machine, Scenario, availability, plan
from raftkv.chaos.checkers import to_json
from raftkv.chaos.checkers.failstop import check_fail_stop
from raftkv.chaos.checkers.history import OK, Op
from raftkv.chaos.checkers.nospace import check_nospace
from raftkv.chaos.cluster import DEFAULT_ELECTION_MS, ExternalCluster, LocalCluster, impl_binary
from raftkv.chaos.nemesis import lazyfs
from raftkv.chaos.report import RunReport, build_report
from raftkv.chaos.scenario import WGL_BUDGET_S, check_run
from raftkv.chaos.workload import PREFIX, Recorder, WorkloadConfig

FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1")
START_TIMEOUT_S = 60.0
SETTLE_S = 15.0
MAX_OPS = 500_000


class RunError(RuntimeError):
    """The run could not start (unknown scenario, bad options, the cluster never elected a leader)."""


def faketime_lib() -> str | None:
    return next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)


def machine_facts(endpoints_only: bool = False) -> Machine:
    return Machine(root=os.geteuid() == 0 and shutil.which("mount") is not None,
                   faketime=faketime_lib() is not None, endpoints_only=endpoints_only,
                   fuse=lazyfs.available() is None)


@dataclass
class RunOptions:
    scenario: str
    impl: str = "raftkv"
    members: int = 3
    duration_s: float = 5.0  # the fault phase; a recovery phase follows
    seed: int = 0
    endpoints: list[str] = field(default_factory=list)
    out: pathlib.Path | None = None
    clients: int = 4
    keys: int = 5
    op_timeout_s: float = 1.0
    election_ms: int = DEFAULT_ELECTION_MS

    def validate(self) -> Scenario:
        if self.scenario not in CATALOGUE:
            raise RunError(f"unknown scenario {self.scenario!r}; `raftkv chaos list` shows them")
        if self.impl not in ("raftkv", "etcd"):
            raise RunError(f"unknown implementation {self.impl!r} (raftkv or etcd)")
        if not self.endpoints and self.members not in (1, 3, 5, 7):
            raise RunError("--members must be 1, 3, 5 or 7")
        if not 0.5 <= self.duration_s <= 3600:
            raise RunError("--duration must be between 0.5 and 3600 seconds")
        return CATALOGUE[self.scenario]


def _base_report(opts: RunOptions, s: Scenario) -> RunReport:
    target = "local cluster" if not opts.endpoints else "endpoints " + ",".join(opts.endpoints)
    r = RunReport(s.name, opts.impl if not opts.endpoints else "external", opts.members if not opts.endpoints
                  else len(opts.endpoints), opts.seed, opts.duration_s, opts.election_ms / 1000, target)
    note = s.impl_notes.get(opts.impl)
    if note and not opts.endpoints:
        r.notes.append(note)
    if s.not_covered:
        r.notes.append(f"not covered: {s.not_covered}")
    return r


async def _recover_window(recorder: Recorder, heals: list[float], bound: float) -> None:
    """Keep the workload going after the final heal until a write is acknowledged (and 1 s has passed for the
    after-heal throughput), or the recovery bound plus a margin has passed."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    heal_at = heals[-1] if heals else start
    while loop.time() - start < bound + 0.5:
        acked = any(op.outcome == OK and op.is_write and op.complete >= heal_at for op in recorder.history)
        if acked and loop.time() - start >= 1.0:
            return
        await asyncio.sleep(0.05)


async def run(opts: RunOptions, workdir: pathlib.Path | None = None) -> tuple[RunReport, list[Op]]:
    """Run the scenario; returns the report and the full history (log-of-record watch last)."""
    s = opts.validate()
    report = _base_report(opts, s)
    why = availability(s, opts.impl, machine_facts(bool(opts.endpoints)))
    if why is not None:
        report.unavailable = why
        return report, []
    own_tmp = workdir is None
    base = pathlib.Path(tempfile.mkdtemp(prefix=f"chaos-{s.name}-")) if workdir is None else workdir
    base.mkdir(parents=True, exist_ok=True)
    cluster: LocalCluster | None = None
    try:
        if opts.endpoints:
            return await _run_external(opts, s, report)
        cluster = _make_cluster(opts, s, base)
        ctx = NemesisContext(random.Random(opts.seed), allow_refusal=s.criteria.refusal_allowed)
        if s.faketime_member:
            spec = base / "faketime.spec"
            spec.write_text("+0 x1\n")
            ctx.faketime_files[f"m{opts.members}"] = spec
        await cluster.start()
        await cluster.wait_leader(START_TIMEOUT_S)
        return await _run_local(opts, s, report, cluster, ctx)
    finally:
        if cluster is not None:
            await cluster.stop()
            if opts.out is not None:
                logs = opts.out / "logs"
                logs.mkdir(parents=True, exist_ok=True)
                for name, text in cluster.logs().items():
                    (logs / f"{name}.log").write_text(text)
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)


def _make_cluster(opts: RunOptions, s: Scenario, base: pathlib.Path) -> LocalCluster:
    last = f"m{opts.members}"
    env: dict[str, dict[str, str]] = {}
    if s.faketime_member:
        lib = faketime_lib()
        assert lib is not None  # availability() checked it
        env[last] = {"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": str(base / "faketime.spec"),
                     "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    return LocalCluster(base / "cluster", size=opts.members, binary=impl_binary(opts.impl), proxied=s.needs_proxy,
                        election_ms=opts.election_ms, extra_flags=list(s.flags.get(opts.impl, ())), env=env,
                        tmpfs_bytes={last: s.tmpfs_member_bytes} if s.tmpfs_member_bytes else {}, seed=opts.seed,
                        lazyfs=s.lazyfs)


def _workload(opts: RunOptions, endpoints: list[str], prefix: str = PREFIX, start_revision: int = 1
              ) -> WorkloadConfig:
    return WorkloadConfig(endpoints, clients=opts.clients, keys=opts.keys, duration_s=opts.duration_s + 600,
                          max_ops=MAX_OPS, op_timeout_s=opts.op_timeout_s, watchers=2, seed=opts.seed,
                          prefix=prefix, start_revision=start_revision)


async def _run_local(opts: RunOptions, s: Scenario, report: RunReport, cluster: LocalCluster,
                     ctx: NemesisContext) -> tuple[RunReport, list[Op]]:
    loop = asyncio.get_running_loop()
    steps = plan(s, opts.duration_s)
    recorder = Recorder(_workload(opts, [m.endpoint for m in cluster.members.values()]))
    record: list[tuple[float, str]] = []
    heals: list[float] = []
    t0 = loop.time()
    rec_task = asyncio.create_task(recorder.run())
    try:
        await run_schedule(cluster, ctx, steps, record, heals, t0)
        bound = s.criteria.max_recovery_et * opts.election_ms / 1000 + opts.op_timeout_s
        await _recover_window(recorder, heals, bound)
        recorder.stop()
        history = await rec_task
    finally:
        rec_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await rec_task
        await recorder.close()
    end = loop.time()
    for a in HEAL:  # in case a heal step failed: leave nothing broken before the end-of-run checks
        with contextlib.suppress(Exception):
            what = await perform(Action(a.kind, a.params), cluster, ctx)
            if what:
                record.append((loop.time() - t0, f"final safety heal: {what}"))
    names = [n for n in cluster.members if cluster.procs.alive(n) and n not in ctx.refused]
    report.faults = record
    try:
        checked = await check_run(cluster, history, SETTLE_S, names=names, log_prefix=tuple(ctx.log_prefix),
                                  log_from=ctx.log_next if ctx.log_next > 1 else None, restarts=ctx.restarts)
    except (ConnectionError, TimeoutError, OSError) as e:  # the cluster did not come back: that is a verdict
        where = []
        for n in cluster.members:
            st = await cluster.status(n)
            where.append(f"{n}: " + ("no answer" if st is None else f"revision {st.header.revision}, raft index "
                                     f"{st.raftIndex}, term {st.raftTerm}, leader {st.leader:x}, "
                                     f"id {st.header.member_id:x}"))
        report.criteria.append(("end-of-run checks ran", False, f"{e!r} ({'; '.join(where)})"))
        build_report(report, history, t0, end, [], heals[-1] if heals else None, [], ctx.refused,
                     s.criteria.refusal_allowed, False, s.criteria.max_recovery_et, opts.op_timeout_s)
        return report, history
    fault_kinds = {a.kind for group in s.faults for a in group}
    fault_times = [t0 + at for at, a in steps if a.kind in fault_kinds]
    failed = [w for _, w in record if " FAILED: " in w]
    report.checkers = checked.results
    if any(a.kind == "fsync-fail" for group in s.faults for a in group):
        report.checkers.append(check_fail_stop(history, ctx.fsync_failures, FAIL_STOP_WAIT_S))
    if any(a.kind == "await-nospace" for group in s.faults for a in group):
        report.checkers.append(check_nospace(history, ctx.nospace_windows))
    build_report(report, history, t0, end, fault_times, heals[-1] if heals else None, failed, ctx.refused,
                 s.criteria.refusal_allowed, s.criteria.progress_during_fault, s.criteria.max_recovery_et,
                 opts.op_timeout_s)
    report.notes.append(f"WGL search budget {WGL_BUDGET_S:g} s; HashKV compared on {checked.hashed}")
    return report, checked.history


async def _run_external(opts: RunOptions, s: Scenario, report: RunReport) -> tuple[RunReport, list[Op]]:
    """Client-side only: a fresh key prefix, the log of record from the cluster's current revision."""
    loop = asyncio.get_running_loop()
    target = ExternalCluster(opts.endpoints)
    leader = await target.wait_leader(10)
    st = await target.status(leader)
    if st is None:
        raise RunError(f"{target.members[leader].endpoint} stopped answering")
    prefix = f"/chaos/{uuid.uuid4().hex[:12]}/"
    cfg = _workload(opts, opts.endpoints, prefix, st.header.revision + 1)
    cfg.duration_s = opts.duration_s
    recorder = Recorder(cfg)
    t0 = loop.time()
    try:
        history = await recorder.run()
    finally:
        await recorder.close()
    end = loop.time()
    checked = await check_run(target, history, SETTLE_S, prefix=prefix, start_revision=st.header.revision + 1,
                              check_member_logs=False)
    report.checkers = checked.results
    build_report(report, history, t0, end, [], None, [], {}, False, False, s.criteria.max_recovery_et,
                 opts.op_timeout_s)
    report.notes += [f"keys under {prefix}; the cluster must have no other writers during the run (the checker "
                     "owns every revision)", "member logs are not reachable from --endpoints: the logs checker "
                     "did not run"]
    return report, checked.history


def write_outputs(out: pathlib.Path, report: RunReport, history: list[Op]) -> None:
    """report.json, and history.json: a JSON array of ops (the recorded ops, the log-of-record watch last)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    ops = [json.loads(line) for line in to_json(history).splitlines()]
    (out / "history.json").write_text(json.dumps(ops) + "\n")


def load_history(path: pathlib.Path) -> list[Op]:
    """Read a history.json back into ops (for re-checking a run offline)."""
    from raftkv.chaos.checkers import from_json

    return from_json("\n".join(json.dumps(d) for d in json.loads(path.read_text())))
