"""End to end on Debian's real etcd 3.4: a short recorded workload under a kill -9 of the leader, every checker.

etcd is the reference: if a checker flags etcd here, the checker is wrong (or etcd has a bug worth a report).
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil

import pytest

from raftkv.chaos.checkers import to_json
from raftkv.chaos.checkers.history import INDETERMINATE, OK, WATCH
from raftkv.chaos.cluster import LocalCluster
from raftkv.chaos.scenario import kill_leader, pause_leader, restart_dead, resume_all, run_scenario
from raftkv.chaos.workload import WorkloadConfig

pytestmark = pytest.mark.e2e


def _need_etcd() -> None:
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: scripts/test installs Debian's etcd-server")


@pytest.mark.parametrize("fault", ["kill-leader", "pause-leader"])
def test_workload_under_leader_fault_passes_every_checker_on_etcd(tmp_path: pathlib.Path, fault: str) -> None:
    _need_etcd()
    seed = 1234
    print(f"seed={seed}")

    async def main() -> None:
        cluster = LocalCluster(tmp_path / "cluster", size=3, proxied=True)
        try:
            await cluster.start()
            first_leader = await cluster.wait_leader(20)
            cfg = WorkloadConfig([m.endpoint for m in cluster.members.values()], clients=4, keys=4,
                                 duration_s=6.0, max_ops=3000, op_timeout_s=1.0, watchers=2, seed=seed)
            inject, recover = (kill_leader, restart_dead) if fault == "kill-leader" else (pause_leader, resume_all)
            report = await run_scenario(cluster, cfg, [(1.5, inject), (3.5, recover)])
            (tmp_path / "history.jsonl").write_text(to_json(report.history))
            print(report.summary())
            assert any(first_leader in what for _, what in report.nemesis), report.nemesis
            assert report.ok, report.summary()
            fault_at = report.nemesis[0][0]
            ops = [op for op in report.history if op.kind != WATCH]
            t0 = min(op.invoke for op in ops)
            after = [op for op in ops if op.outcome == OK and op.invoke - t0 > fault_at + 0.5]
            assert len(after) > 20, "the cluster should keep serving after the fault"
            assert sum(op.outcome == OK for op in ops) > 100
            print(f"ops={len(ops)} ok={sum(op.outcome == OK for op in ops)} "
                  f"indeterminate={sum(op.outcome == INDETERMINATE for op in ops)}")
        finally:
            await cluster.stop()

    asyncio.run(asyncio.wait_for(main(), 100))
