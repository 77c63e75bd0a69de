"""Nemesis actions as data (`Action`: a kind and parameters) and the executor that performs them on a cluster.

The catalogue holds only `Action` values, so a scenario can be listed, printed and planned without touching a
process. `perform` is the adapter: it reads the leader, signals PIDs the harness started, sets proxy rules and
edits data files, and returns one sentence for the report. Choices (which follower, which partition) come
from the seeded RNG in the `NemesisContext`, so a seed replays the same faults given the same leaders.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pathlib
import random
from dataclasses import dataclass, field
from typing import Any

import grpc

from raftkv._pb.etcdserverpb import rpc_pb2
from raftkv.chaos.checkers.failstop import FsyncFailure
from raftkv.chaos.checkers.history import WatchResponse
from raftkv.chaos.cluster import ClusterError, LocalCluster
from raftkv.chaos.partition import NO_CUT, cuts_for, describe
from raftkv.chaos.workload import PREFIX, read_log

RESTART_TIMEOUT_S = 30.0
NOSPACE_WAIT_S = 30.0  # how long `await-nospace` waits for the workload to fill the quota
FAIL_STOP_WAIT_S = 5.0  # how long `fsync-fail` waits for the member to hit an fsync and exit


class ActionError(ValueError):
    """An action kind or parameter the executor does not know."""


@dataclass(frozen=True)
class Action:
    kind: str
    params: tuple[tuple[str, Any], ...] = ()
    heals: bool = False  # after it completes the fault it answers is over (for the recovery clock)

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    def __str__(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.kind} {args}".strip()


def act(kind: str, heals: bool = False, **params: Any) -> Action:
    return Action(kind, tuple(sorted(params.items())), heals)


@dataclass
class NemesisContext:
    rng: random.Random
    faketime_files: dict[str, pathlib.Path] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # member -> why it would not start again
    rolling: int = 0
    allow_refusal: bool = False
    fsync_failures: list[FsyncFailure] = field(default_factory=list)  # for the fail-stop checker
    restarts: dict[str, list[float]] = field(default_factory=dict)  # endpoint -> when it was started again
    nospace_windows: list[tuple[float, float]] = field(default_factory=list)  # (alarm seen, disarm began)
    nospace_since: float | None = None
    # compaction would cut the log of record (a watch from revision 1): the part before it is read first
    log_prefix: list[WatchResponse] = field(default_factory=list)
    log_next: int = 1


def _tail(path: pathlib.Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip()[:200] for line in text[-lines:])


async def _leader(cluster: LocalCluster) -> str:
    return await cluster.wait_leader(10)


async def _restart(cluster: LocalCluster, ctx: NemesisContext, names: list[str]) -> list[str]:
    """Start members and wait until they serve; with `allow_refusal`, a member that exits is noted, not fatal."""
    for n in names:
        ctx.restarts.setdefault(cluster.members[n].endpoint, []).append(asyncio.get_running_loop().time())
        cluster.start_member(n)
    out = []
    for n in names:
        try:
            await cluster.wait_serving(n, RESTART_TIMEOUT_S)
            out.append(n)
        except ClusterError as e:
            if not ctx.allow_refusal:
                raise
            ctx.refused[n] = f"{e}: {_tail(cluster.members[n].log_path)}"
    return out


def data_end(path: pathlib.Path, chunk: int = 1 << 16) -> int:
    """Offset just past the last non-zero byte: etcd preallocates WAL segments (64 MB of zeros), so "the tail"
    is where the records end, not where the file does."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        end = size
        while end > 0:
            start = max(0, end - chunk)
            fh.seek(start)
            block = fh.read(end - start).rstrip(b"\0")
            if block:
                return start + len(block)
            end = start
    return 0


def _flip_bit(path: pathlib.Path, rng: random.Random, tail: int = 64) -> str:
    size = data_end(path)
    if size == 0:
        return f"{path.name} is empty"
    at = rng.randrange(max(0, size - tail), size)
    with open(path, "r+b") as fh:
        fh.seek(at)
        b = fh.read(1)[0]
        bit = 1 << rng.randrange(8)
        fh.seek(at)
        fh.write(bytes([b ^ bit]))
        fh.flush()
        os.fsync(fh.fileno())
    return f"flipped bit {bit:#04x} at byte {at} of {path.name} (records end at {size})"


def _truncate(path: pathlib.Path, rng: random.Random, most: int = 64) -> str:
    size = data_end(path)
    cut = rng.randrange(1, max(2, min(most, size)))
    os.truncate(path, size - cut)
    return f"truncated {cut} bytes off the records of {path.name} ({size} -> {size - cut})"


async def perform(action: Action, cluster: LocalCluster, ctx: NemesisContext, prefix: str = PREFIX) -> str:
    """Do one action; return what was done, in one sentence ("" when there was nothing to do)."""
    k = action.kind
    names = list(cluster.members)
    if k == "partition":
        leader = await cluster.leader()
        cut, what = cuts_for(action.get("pattern"), names, leader, ctx.rng)
        cluster.apply_cut(cut)
        return what
    if k == "heal-network":
        if all(m.proxy is None or m.proxy.clean for m in cluster.members.values()):
            return ""
        for m in cluster.members.values():
            if m.proxy:
                m.proxy.heal()
        cluster.cut = NO_CUT
        return "heal network"
    if k == "delay":
        ms, jitter, loss = float(action.get("ms", 0)), float(action.get("jitter_ms", 0)), float(action.get("loss", 0))
        for m in cluster.members.values():
            if m.proxy is None:
                raise ClusterError("delay needs a proxied cluster")
            if ms:
                m.proxy.delay(ms, jitter)
            m.proxy.set_loss(loss)
        return f"peer links: delay {ms:g}±{jitter:g} ms, loss {loss:.0%} (held one RTO each)"
    if k == "kill":
        target = action.get("target", "leader")
        if target == "leader":
            victims = [await _leader(cluster)]
        elif target == "follower":
            leader = await _leader(cluster)
            victims = [ctx.rng.choice([n for n in names if n != leader and cluster.procs.alive(n)])]
        elif target == "random":
            alive = [n for n in names if cluster.procs.alive(n)]
            victims = sorted(ctx.rng.sample(alive, ctx.rng.randint(1, len(alive))))
        elif target == "all":
            victims = [n for n in names if cluster.procs.alive(n)]
        else:
            raise ActionError(f"unknown kill target {target!r}")
        for v in victims:
            cluster.procs.kill9(v)
        return f"kill -9 {target} {victims}"
    if k == "restart":
        dead = [n for n in names if not cluster.procs.alive(n) and n not in ctx.refused]
        if not dead:
            return ""
        now = asyncio.get_running_loop().time()
        ctx.fsync_failures = [dataclasses.replace(f, until=now) if f.member in dead and f.until > now else f
                              for f in ctx.fsync_failures]
        up = await _restart(cluster, ctx, dead)
        refused = sorted(set(dead) - set(up))
        return f"restart {dead}: serving {up}" + (f"; refused to start {refused}" if refused else "")
    if k == "replace-refused":
        # the operator's answer to a member that refuses to start on a damaged WAL ("remove and re-add the
        # member"): without it a long run would damage members until no quorum is left
        gone = [n for n in ctx.refused if n in cluster.members and not cluster.procs.alive(n)]
        if not gone:
            return ""
        done = []
        for n in gone:
            leader = await _leader(cluster)
            await cluster.remove_member(n, via=leader)
            new = await cluster.add_member(via=await _leader(cluster))
            await cluster.wait_serving(new, RESTART_TIMEOUT_S)
            done.append(f"{n} -> {new}")
        return f"replaced members that refused to start (removed, added fresh, promoted): {', '.join(done)}"
    if k == "pause":
        leader = await _leader(cluster)
        cluster.procs.pause(leader)
        return f"SIGSTOP leader {leader}"
    if k == "resume":
        paused = sorted(cluster.procs.paused)
        if not paused:
            return ""
        for n in paused:
            cluster.procs.resume(n)
        return f"SIGCONT {paused}"
    if k == "restart-next":
        name = names[ctx.rolling % len(names)]
        ctx.rolling += 1
        cluster.procs.sigterm(name)
        code = await cluster.wait_exit(name, 10.0)
        if code is None:
            cluster.procs.kill9(name)
        await _restart(cluster, ctx, [name])
        return f"rolling restart {name}: SIGTERM (exit {code if code is not None else 'timeout, killed'}), serving"
    if k == "member-replace":
        leader = await _leader(cluster)
        victim = ctx.rng.choice([n for n in names if n != leader])
        await cluster.remove_member(victim, via=leader)
        leader = await _leader(cluster)
        new = await cluster.add_member(via=leader)
        await cluster.wait_serving(new, RESTART_TIMEOUT_S)
        return f"removed follower {victim}, added {new} as a learner, promoted it"
    if k == "corrupt-wal":
        mode = action.get("mode", "truncate")
        dead = [n for n in names if not cluster.procs.alive(n)]
        if not dead:
            raise ClusterError("corrupt-wal acts on a killed member; none is down")
        done = []
        for n in dead:
            files = cluster.wal_files(n)
            if not files:
                done.append(f"{n}: no WAL file")
                continue
            f = files[-1]
            done.append(f"{n}: " + (_truncate(f, ctx.rng) if mode == "truncate" else _flip_bit(f, ctx.rng)))
        return "corrupt WAL tail: " + "; ".join(done)
    if k == "fill-disk":
        target = [n for n in names if cluster.members[n].tmpfs]
        if not target:
            raise ClusterError("no member has its data dir on a tmpfs")
        return "; ".join(f"filled {n}'s tmpfs data dir (+{cluster.fill_disk(n)} bytes)" for n in target)
    if k == "free-disk":
        freed = [n for n in names if cluster.members[n].tmpfs and cluster.free_disk(n)]
        return f"removed the filler file from {freed}" if freed else ""
    if k == "await-nospace":
        loop = asyncio.get_running_loop()
        began = loop.time()
        while loop.time() < began + NOSPACE_WAIT_S:
            leader = await _leader(cluster)
            with contextlib.suppress(grpc.aio.AioRpcError):
                alarms = await cluster.alarms(leader)
                if any(a.alarm == rpc_pb2.NOSPACE for a in alarms):
                    ctx.nospace_since = loop.time()
                    st = await cluster.status(leader)
                    size = f", leader's backend {st.dbSize} bytes" if st is not None else ""
                    took = loop.time() - began
                    await asyncio.sleep(float(action.get("hold_s", 0)))  # let the workload meet the alarm
                    return f"NOSPACE alarm active on leader {leader} after {took:.2f} s{size}"
            await asyncio.sleep(0.05)
        raise ClusterError(f"no NOSPACE alarm within {NOSPACE_WAIT_S:g} s")
    if k == "quota-recover":
        if ctx.nospace_since is None:
            return ""
        loop = asyncio.get_running_loop()
        leader = await _leader(cluster)
        st = await cluster.status(leader)
        if st is None:
            raise ClusterError(f"leader {leader} did not answer Status")
        rev = st.header.revision
        part = await read_log(cluster.members[leader].endpoint, rev, prefix=prefix, start_revision=ctx.log_next)
        ctx.log_prefix += part.responses
        # the last response read may run past `rev` (the workload kept writing): go on after what was read, so
        # no revision is read twice (or split across the join)
        read_to = max((e.mod_revision for r in part.responses for e in r.events), default=rev)
        ctx.log_next = max(rev, read_to) + 1
        await cluster.compact(leader, rev)
        sizes = []
        for n in names:
            before = await cluster.status(n)
            await cluster.defragment(n)
            after = await cluster.status(n)
            if before is not None and after is not None:
                sizes.append(f"{n} {before.dbSize}->{after.dbSize}")
        ctx.nospace_windows.append((ctx.nospace_since, loop.time()))
        ctx.nospace_since = None
        disarmed = await cluster.disarm(leader)
        return (f"compacted at revision {rev}, defragmented ({', '.join(sizes)} bytes), disarmed "
                f"{', '.join(disarmed) or 'nothing'}")
    if k == "lose-unsynced":
        dead = [n for n in names if not cluster.procs.alive(n)]
        lazy = [n for n in dead if cluster.members[n].lazy is not None]
        if not lazy:
            raise ClusterError("lose-unsynced acts on killed members with a lazyfs data dir; none is down")
        done = []
        for n in lazy:
            fs = cluster.members[n].lazy
            assert fs is not None
            r = await fs.command("crash")
            done.append(f"{n} lost {r['bytes']} bytes in {r['files']} files")
        return "power failure, un-fsynced data dropped: " + "; ".join(done)
    if k == "fsync-fail":
        loop = asyncio.get_running_loop()
        victim = await _leader(cluster) if action.get("target", "leader") == "leader" else names[-1]
        fs = cluster.members[victim].lazy
        if fs is None:
            raise ClusterError("fsync-fail needs a member with a lazyfs data dir")
        injected = loop.time()
        await fs.command("fail-fsync on")
        failed_at: float | None = None
        stopped: float | None = None
        while loop.time() < injected + FAIL_STOP_WAIT_S and stopped is None:
            if failed_at is None:
                failed_at = (await fs.command("status"))["first_failure"]
            if not cluster.procs.alive(victim):
                stopped = loop.time()
                failed_at = (await fs.command("status"))["first_failure"]
            else:
                await asyncio.sleep(0.02)
        ctx.fsync_failures.append(FsyncFailure(victim, cluster.members[victim].endpoint, injected, failed_at,
                                               stopped))
        code = cluster.procs.returncode(victim)
        return (f"fsync errors (EIO) on leader {victim}: " +
                ("it never called fsync" if failed_at is None else f"first failed {failed_at - injected:.2f} s in")
                + (f", exited with code {code} {stopped - injected:.2f} s in" if stopped is not None
                   else f", still running after {FAIL_STOP_WAIT_S:g} s"))
    if k == "fsync-ok":
        fixed = []
        for n in names:
            fs = cluster.members[n].lazy
            if fs is not None and (await fs.command("status"))["fail_fsync"]:
                await fs.command("fail-fsync off")
                fixed.append(n)
        return f"fsync works again on {fixed}" if fixed else ""
    if k == "clock":
        spec = str(action.get("spec"))
        for f in ctx.faketime_files.values():
            f.write_text(spec + "\n")
        return f"libfaketime on {sorted(ctx.faketime_files)}: {spec!r}"
    raise ActionError(f"unknown action kind {k!r}")


def describe_cut(cluster: LocalCluster) -> str:
    return describe(cluster.cut)


async def run_schedule(cluster: LocalCluster, ctx: NemesisContext, steps: list[tuple[float, Action]],
                       record: list[tuple[float, str]], heals: list[float], t0: float) -> None:
    """Perform the steps at their times (relative to t0). A failed action is recorded, not fatal: the checkers
    still run. `heals` receives the completion time (loop time) of every action marked `heals`."""
    loop = asyncio.get_running_loop()
    for at, action in sorted(steps, key=lambda s: s[0]):
        await asyncio.sleep(max(0.0, t0 + at - loop.time()))
        began = loop.time()
        try:
            what = await perform(action, cluster, ctx)
        except Exception as e:  # noqa: BLE001 - reported, the run goes on
            what = f"{action} FAILED: {e!r}"[:500]
        took = loop.time() - began
        if what:
            record.append((began - t0, what + (f" (took {took:.2f} s)" if took >= 0.1 else "")))
        if action.heals:
            heals.append(loop.time())
