"""A scenario = (cluster factory, nemesis schedule, workload, checkers); `run_scenario` wires them together.

Phases follow Jepsen: workload with faults on a schedule → heal everything → wait for a leader → final
linearizable reads → HashKV on every member at one revision → every checker. The nemesis actions are recorded
with their times so a report can line faults up with anomalies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from raftkv._pb.etcdserverpb import rpc_pb2
from raftkv.chaos.checkers import (
    HashKV,
    Log,
    Result,
    Violation,
    check_hashkv,
    check_logs,
    check_monotonic,
    check_no_lost_writes,
    check_watches,
    check_wgl,
    check_witness,
)
from raftkv.chaos.checkers.history import WATCH, Op, WatchResponse
from raftkv.chaos.cluster import LocalCluster
from raftkv.chaos.workload import PREFIX, Recorder, WorkloadConfig, final_reads, read_log

NemesisAction = Callable[[LocalCluster], Awaitable[str]]
WGL_BUDGET_S = 10.0


@dataclass
class Report:
    history: list[Op]
    results: list[Result]
    nemesis: list[tuple[float, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.valid is True for r in self.results)

    def summary(self) -> str:
        lines = [f"{r.checker}: {'ok' if r.valid else 'UNKNOWN' if r.valid is None else 'FAIL'} ({r.info})"
                 for r in self.results]
        for r in self.results:
            lines += [f"  {v}" for v in r.violations[:10]]
        lines += [f"nemesis @{t:.2f}s: {what}" for t, what in self.nemesis]
        return "\n".join(lines)


async def kill_leader(cluster: LocalCluster) -> str:
    name = await cluster.wait_leader(10)
    cluster.procs.kill9(name)
    return f"kill -9 leader {name}"


async def restart_dead(cluster: LocalCluster) -> str:
    dead = [n for n in cluster.members if not cluster.procs.alive(n)]
    for n in dead:
        cluster.start_member(n)
    return f"restart {dead}"


async def pause_leader(cluster: LocalCluster) -> str:
    name = await cluster.wait_leader(10)
    cluster.procs.pause(name)
    return f"SIGSTOP leader {name}"


async def resume_all(cluster: LocalCluster) -> str:
    paused = sorted(cluster.procs.paused)
    for n in paused:
        cluster.procs.resume(n)
    return f"SIGCONT {paused}"


async def blackhole_leader(cluster: LocalCluster) -> str:
    """Hold all bytes on the leader's peer proxy: every connection peers dialled to the leader stalls. In etcd's
    transport those carry the leader's outgoing stream messages, so followers stop hearing it and elect anew."""
    name = await cluster.wait_leader(10)
    proxy = cluster.members[name].proxy
    if proxy is None:
        raise ValueError("blackhole_leader needs a cluster started with proxied=True")
    proxy.blackhole()
    return f"blackhole peer links into leader {name}"


def delay_all(ms: float, jitter_ms: float = 0.0) -> NemesisAction:
    async def delay(cluster: LocalCluster) -> str:
        for m in cluster.members.values():
            if m.proxy is None:
                raise ValueError("delay_all needs a cluster started with proxied=True")
            m.proxy.delay(ms, jitter_ms)
        return f"delay peer links {ms}±{jitter_ms} ms"
    return delay


async def heal_network(cluster: LocalCluster) -> str:
    for m in cluster.members.values():
        if m.proxy:
            m.proxy.heal()
    return f"heal network (leader before heal: {await cluster.leader()})"


async def _nemesis(cluster: LocalCluster, schedule: list[tuple[float, NemesisAction]],
                   record: list[tuple[float, str]], t0: float) -> None:
    loop = asyncio.get_running_loop()
    for at, action in sorted(schedule, key=lambda s: s[0]):
        await asyncio.sleep(max(0.0, t0 + at - loop.time()))
        try:
            record.append((loop.time() - t0, await action(cluster)))
        except Exception as e:  # a failed fault is reported, not fatal: the checkers still run
            record.append((loop.time() - t0, f"{getattr(action, '__name__', action)} failed: {e!r}"))


class Target(Protocol):
    """What the end-of-run checks need from a cluster: a LocalCluster or an ExternalCluster."""

    @property
    def members(self) -> Mapping[str, Any]: ...

    async def wait_leader(self, timeout: float) -> str: ...

    async def status(self, name: str, timeout: float = 1.0) -> rpc_pb2.StatusResponse | None: ...

    async def hash_kv(self, name: str, revision: int, timeout: float = 2.0) -> rpc_pb2.HashKVResponse: ...

    def logs(self) -> dict[str, str]: ...


async def _converged_hashes(cluster: Target, names: list[str], timeout: float) -> list[HashKV]:
    """HashKV at the leader's revision on every named member, once every one of them has applied it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    hashes: list[HashKV] = []
    while loop.time() < deadline:
        leader = await cluster.wait_leader(max(0.1, deadline - loop.time()))
        st = await cluster.status(leader)
        if st is None:
            continue
        rev = st.header.revision
        hashes = []
        for name in names:
            with contextlib.suppress(Exception):
                h = await cluster.hash_kv(name, rev)
                hashes.append(HashKV(name, rev, h.compact_revision, h.hash))
        if len(hashes) == len(names):
            return hashes
        await asyncio.sleep(0.1)
    return hashes


async def _leader_status(cluster: Target, timeout: float) -> tuple[str, rpc_pb2.StatusResponse]:
    """The agreed leader and its Status, retried until `timeout` (a busy member may miss one call)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        leader = await cluster.wait_leader(max(0.1, deadline - loop.time()))
        st = await cluster.status(leader, timeout=2.0)
        if st is not None:
            return leader, st
        if loop.time() > deadline:
            raise ConnectionError(f"leader {leader} stopped answering after the heal")
        await asyncio.sleep(0.1)


@dataclass
class Checked:
    history: list[Op]  # the recorded ops plus the log-of-record watch as the last op
    results: list[Result]
    hashed: list[str]  # members whose HashKV was compared


async def check_run(cluster: Target, history: list[Op], settle_s: float = 10.0, names: list[str] | None = None,
                    prefix: str = PREFIX, start_revision: int = 1, check_member_logs: bool = True,
                    log_prefix: tuple[WatchResponse, ...] = (), log_from: int | None = None,
                    restarts: Mapping[str, list[float]] | None = None) -> Checked:
    """After the heal: final linearizable reads, HashKV on `names` (default: all), the log of record, checkers.

    `log_prefix`: the log of record up to `log_from - 1`, read before a compaction removed that history; the
    final watch then starts at `log_from` and the two are joined into one watch from `start_revision`."""
    names = list(cluster.members) if names is None else names
    await cluster.wait_leader(settle_s)
    keys = sorted({k for op in history if op.kind != WATCH for k in op.keys})
    final = await final_reads([cluster.members[n].endpoint for n in names] or
                              [m.endpoint for m in cluster.members.values()], keys)
    hashes = await _converged_hashes(cluster, names, settle_s)
    leader, st = await _leader_status(cluster, settle_s)
    log_watch = await read_log(cluster.members[leader].endpoint, st.header.revision, prefix=prefix,
                               start_revision=start_revision if log_from is None else log_from)
    if log_from is not None:
        log_watch = dataclasses.replace(log_watch, watch_start=start_revision,
                                        responses=(*log_prefix, *log_watch.responses))
    log = Log.from_watch(log_watch)
    history = [*history, log_watch]
    now = asyncio.get_running_loop().time
    results = [
        check_witness(history, log),
        check_wgl(history, now=now, deadline=now() + WGL_BUDGET_S, log=log),
        check_watches(history, log),
        check_no_lost_writes(history, final),
        check_hashkv(hashes),
        check_monotonic(history, restarts),
    ]
    if len(hashes) < len(names):
        missing = sorted(set(names) - {h.member for h in hashes})
        where = []
        for n in [leader, *missing]:
            s = await cluster.status(n)
            where.append(f"{n}: " + ("no answer" if s is None else f"revision {s.header.revision}, raft index "
                                     f"{s.raftIndex}, term {s.raftTerm}, leader {s.leader:x}"))
        results[4] = Result("hashkv", False, (Violation("hashkv", "not-converged", f"{missing} did not hash the "
                                                        f"leader's revision within {settle_s} s ("
                                                        + "; ".join(where) + ")"),) +
                            results[4].violations, results[4].info)
    if check_member_logs:
        results.append(check_logs(cluster.logs()))
    return Checked(history, results, [h.member for h in hashes])


async def run_scenario(cluster: LocalCluster, workload: WorkloadConfig,
                       schedule: list[tuple[float, NemesisAction]], heal: list[NemesisAction] | None = None,
                       settle_s: float = 10.0) -> Report:
    """Run the workload under the schedule, heal, then check. The cluster must be started and empty."""
    loop = asyncio.get_running_loop()
    recorder = Recorder(workload)
    nemesis_log: list[tuple[float, str]] = []
    t0 = loop.time()
    nem = asyncio.create_task(_nemesis(cluster, schedule, nemesis_log, t0))
    try:
        history = await recorder.run()
        await nem
    finally:
        nem.cancel()
        await recorder.close()
    for action in heal if heal is not None else [resume_all, restart_dead, heal_network]:
        nemesis_log.append((loop.time() - t0, await action(cluster)))
    checked = await check_run(cluster, history, settle_s, prefix=workload.prefix,
                              start_revision=workload.start_revision)
    return Report(checked.history, checked.results, nemesis_log)


__all__ = ["PREFIX", "Checked", "Report", "Target", "check_run", "blackhole_leader", "delay_all", "heal_network", "kill_leader", "pause_leader", "restart_dead", "resume_all",
           "run_scenario"]
