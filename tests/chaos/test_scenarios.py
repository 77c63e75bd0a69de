"""Every catalogue scenario end to end on real member processes, and the `raftkv chaos` command.

Default run: a short version (3 s of faults) of every scenario available on this machine against a 3-member
raftkv cluster. `-m slow`: each scenario for a minute on 5 members of raftkv, and the same on 5 members of Debian's etcd 3.4.
A scenario that is not available here is reported as such by the runner (never as a pass); the test then
checks exactly that. Seeds are printed; `raftkv chaos run NAME --seed N` replays one.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from raftkv.chaos.catalogue import CATALOGUE, availability
from raftkv.chaos.report import PASS, UNAVAILABLE
from raftkv.chaos.runner import RunOptions, load_history, machine_facts, run, write_outputs

pytestmark = pytest.mark.e2e
SEED = 20261129

def _run(tmp_path: pathlib.Path, name: str, impl: str = "raftkv", members: int = 3, duration: float = 3.0,
         seed: int = SEED) -> None:
    print(f"scenario={name} impl={impl} members={members} duration={duration} seed={seed}")
    opts = RunOptions(name, impl, members, duration, seed, out=tmp_path / "out")
    report, history = asyncio.run(asyncio.wait_for(run(opts, tmp_path / "work"), 240 + 3 * duration))
    write_outputs(tmp_path / "out", report, history)
    print(report.render())
    why = availability(CATALOGUE[name], impl, machine_facts())
    if why is not None:
        assert report.verdict == UNAVAILABLE and report.exit_code == 2 and history == []
        return
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["verdict"] == report.verdict and saved["scenario"] == name
    assert load_history(tmp_path / "out" / "history.json") == history
    assert report.ops["ok"] > 50, "the workload barely ran"
    if CATALOGUE[name].faults:
        assert report.faults, "no fault was injected"
    assert report.verdict == PASS, report.render()


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_short_scenario_on_raftkv(tmp_path: pathlib.Path, name: str) -> None:
    _run(tmp_path, name)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_long_scenario_on_five_raftkv_members(tmp_path: pathlib.Path, name: str) -> None:
    _run(tmp_path, name, members=5, duration=60.0)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_long_scenario_on_five_etcd_members(tmp_path: pathlib.Path, name: str) -> None:
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: scripts/test installs Debian's etcd-server")
    _run(tmp_path, name, impl="etcd", members=5, duration=60.0)


def _cli(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raftkv", "chaos", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=180)


def test_cli_run_kill_leader_writes_a_passing_report(tmp_path: pathlib.Path) -> None:
    p = _cli("run", "kill-leader", "--duration", "3", "--seed", str(SEED), "--out", "tmp", cwd=tmp_path)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads((tmp_path / "tmp" / "report.json").read_text())
    assert report["verdict"] == "pass" and report["scenario"] == "kill-leader" and report["impl"] == "raftkv"
    assert any("kill -9 leader" in f["what"] for f in report["faults"])
    assert {c["checker"] for c in report["checkers"]} == {"witness", "wgl", "watch", "lost-writes", "hashkv",
                                                          "monotonic", "logs"}
    assert all(c["valid"] is True for c in report["checkers"])
    assert report["ops"]["ok"] > 50 and report["recovery_s"] is not None
    assert "verdict: pass" in p.stdout and "throughput" in p.stdout
    assert json.loads((tmp_path / "tmp" / "history.json").read_text())
    assert sorted(f.name for f in (tmp_path / "tmp" / "logs").iterdir()) == ["m1.log", "m2.log", "m3.log"]


def test_cli_list_usage_errors_and_endpoints_refusal(tmp_path: pathlib.Path) -> None:
    listed = _cli("list", "--impl", "etcd", cwd=tmp_path)
    assert listed.returncode == 0
    for name in CATALOGUE:
        assert name in listed.stdout
    assert "not available: libfaketime cannot reach a Go binary" in listed.stdout
    unknown = _cli("run", "no-such-scenario", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown scenario" in unknown.stderr
    refused = _cli("run", "kill-leader", "--endpoints", "127.0.0.1:1", "--out", "r", cwd=tmp_path)
    assert refused.returncode == 2 and "not available" in refused.stdout and "process control" in refused.stdout
    assert json.loads((tmp_path / "r" / "report.json").read_text())["verdict"] == "not available"


def test_baseline_against_an_existing_cluster_via_endpoints(tmp_path: pathlib.Path) -> None:
    """--endpoints: a cluster this command did not start; fresh key prefix, client-side checkers only."""
    from raftkv.chaos.cluster import LocalCluster, impl_binary

    async def main() -> None:
        cluster = LocalCluster(tmp_path / "existing", 3, impl_binary("raftkv"))
        try:
            await cluster.start()
            await cluster.wait_leader(60)
            eps = [m.endpoint for m in cluster.members.values()]
            for _ in range(2):  # twice: the second run must not trip over the first run's keys and revisions
                report, history = await run(RunOptions("baseline", duration_s=2.0, seed=SEED, endpoints=eps))
                print(report.render())
                assert report.verdict == PASS, report.render()
                assert report.target.startswith("endpoints") and report.ops["ok"] > 50
                assert "logs" not in {r.checker for r in report.checkers}
                assert any("/chaos/" in k and k.count("/") == 3 for op in history for k in op.keys)
        finally:
            await cluster.stop()

    asyncio.run(asyncio.wait_for(main(), 120))
