"""End to end on Debian's real etcd 3.4: a short recorded workload under a kill -9 of the leader, every checker.

etcd is the reference: if a checker flags etcd here, the checker is wrong (or etcd has a bug worth a report).
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import shutil
import sys

import pytest

from raftkv.chaos.checkers import KV, Log, check_witness, from_json, to_json
from raftkv.chaos.checkers.history import GET, INDETERMINATE, OK, PUT, WATCH, Op
from raftkv.chaos.cluster import LocalCluster
from raftkv.chaos.scenario import (
    blackhole_leader,
    heal_network,
    kill_leader,
    pause_leader,
    restart_dead,
    resume_all,
    run_scenario,
)
from raftkv.chaos.workload import LOG_CLIENT, WorkloadConfig

pytestmark = pytest.mark.e2e


def _need_etcd() -> None:
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: scripts/test installs Debian's etcd-server")


def assert_mutations_are_caught(history: list[Op]) -> None:
    """The same real history with one stale read injected, and with one acknowledged write dropped from the log,
    must fail: the pass above is not vacuous."""
    log_op = history[-1]
    assert log_op.client == LOG_CLIENT
    log = Log.from_watch(log_op)
    puts = [op for op in history if op.kind == PUT and op.outcome == OK]
    for p in puts:
        later = [g for g in history if g.kind == GET and g.outcome == OK and not g.serializable
                 and g.keys == p.keys and g.invoke > p.complete]
        before = log.state(p.keys[0], p.revision - 1)
        if later and before.value is not None:
            g = later[0]
            stale = dataclasses.replace(g, revision=p.revision - 1,
                                        reads=(KV(g.keys[0], before.value, before.mod_revision),))
            bad = [stale if op is g else op for op in history]
            assert "stale-read" in {v.kind for v in check_witness(bad, log).violations}
            break
    else:
        pytest.fail("no put followed by a read of the same key in the history")
    victim = puts[len(puts) // 2]
    entries = {r: [w for w in ws if w[1] != victim.value] for r, ws in log.entries.items()}
    assert "lost-write" in {v.kind for v in check_witness(history, Log(entries)).violations}


FAULTS = {"kill-leader": (kill_leader, restart_dead), "pause-leader": (pause_leader, resume_all),
          "blackhole-leader": (blackhole_leader, heal_network)}


@pytest.mark.parametrize("fault", ["kill-leader", "pause-leader",
                                   pytest.param("blackhole-leader", marks=pytest.mark.slow)])
@pytest.mark.parametrize("impl", ["etcd", pytest.param("raftkv", marks=pytest.mark.slow)])
def test_workload_under_leader_fault_passes_every_checker(tmp_path: pathlib.Path, fault: str, impl: str) -> None:
    """etcd by default; `-m slow` also runs raftkv (same flags, same API) through the identical scenario."""
    _need_etcd()
    binary = ["etcd"] if impl == "etcd" else [sys.executable, "-m", "raftkv", "serve"]
    seed = 1234
    print(f"seed={seed}")

    async def main() -> None:
        cluster = LocalCluster(tmp_path / "cluster", size=3, binary=binary, proxied=True)
        try:
            await cluster.start()
            first_leader = await cluster.wait_leader(20)
            cfg = WorkloadConfig([m.endpoint for m in cluster.members.values()], clients=4, keys=4,
                                 duration_s=6.0, max_ops=3000, op_timeout_s=1.0, watchers=2, seed=seed)
            inject, recover = FAULTS[fault]
            report = await run_scenario(cluster, cfg, [(1.5, inject), (3.5, recover)])
            (tmp_path / "history.jsonl").write_text(to_json(report.history))
            assert from_json((tmp_path / "history.jsonl").read_text()) == report.history
            print(report.summary())
            assert any(first_leader in what for _, what in report.nemesis), report.nemesis
            assert report.ok, report.summary()
            fault_at = report.nemesis[0][0]
            ops = [op for op in report.history if op.kind != WATCH]
            t0 = min(op.invoke for op in ops)
            after = [op for op in ops if op.outcome == OK and op.invoke - t0 > fault_at + 0.5]
            assert len(after) > 20, "the cluster should keep serving after the fault"
            assert sum(op.outcome == OK for op in ops) > 100
            assert_mutations_are_caught(report.history)
            print(f"ops={len(ops)} ok={sum(op.outcome == OK for op in ops)} "
                  f"indeterminate={sum(op.outcome == INDETERMINATE for op in ops)}")
        finally:
            await cluster.stop()

    asyncio.run(asyncio.wait_for(main(), 100))
