"""The helpers the process-cluster fixture relies on: they must fail loudly and name what they waited for."""

from __future__ import annotations

import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import GiveUp, WaitTimeout, free_port, register_process, stop_process, wait_for
from tests.e2e.cluster import ClusterError, new_cluster, require_tools

pytestmark = pytest.mark.unit


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_for_returns_the_value_and_names_what_timed_out() -> None:
    calls = iter([None, 0, "ready"])
    assert wait_for(lambda: next(calls), 5, "a value", interval=0.001) == "ready"
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"waiting for the moon \(last error: ValueError\('no'\)\)"):
        wait_for(lambda: (_ for _ in ()).throw(ValueError("no")), 0.2, "the moon", interval=0.01)
    assert time.monotonic() - start < 5


def test_give_up_stops_waiting_at_once() -> None:
    def dead() -> bool:
        raise GiveUp("the server exited")

    start = time.monotonic()
    with pytest.raises(GiveUp, match="exited"):
        wait_for(dead, 30, "a dead server")
    assert time.monotonic() - start < 1


def test_missing_binaries_fail_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClusterError, match="etcdctl and etcd not found on PATH: install Debian's etcd-server"):
        require_tools("etcd")
    with pytest.raises(ClusterError, match="^etcdctl not found"):
        require_tools("raftkv")
    with pytest.raises(ClusterError, match="unknown cluster kind"):
        require_tools("zookeeper")


def test_both_kinds_get_the_same_flags(tmp_path: pathlib.Path) -> None:
    etcd, ours = new_cluster("etcd", tmp_path / "a"), new_cluster("raftkv", tmp_path / "b")
    ours.members = etcd.members
    ours.pki, ours.token = etcd.pki, etcd.token
    for m in etcd.members:
        assert etcd.command(m)[0] == "etcd"
        assert ours.command(m)[:4] == [sys.executable, "-m", "raftkv", "serve"]
        assert etcd.command(m)[1:] == ours.command(m)[4:]
    ports = [p for m in etcd.members for p in (m.client_port, m.peer_port)]
    assert len(set(ports)) == 6


def test_stop_process_kills_a_process_that_ignores_sigterm() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    proc = register_process(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True))
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    assert stop_process(proc, grace=0.3) == -signal.SIGKILL
    assert stop_process(proc) == -signal.SIGKILL  # idempotent


@pytest.mark.e2e
def test_a_port_taken_before_start_up_is_survived(tmp_path: pathlib.Path) -> None:
    from tests.e2e.cluster import running_cluster

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    original = new_cluster

    def first_member_on_a_taken_port(kind: str, base: pathlib.Path, size: int = 3):  # type: ignore[no-untyped-def]
        c = original(kind, base, size)
        c.members[0].client_port = taken
        return c

    import tests.e2e.cluster as cluster_module

    with pytest.MonkeyPatch.context() as mp, squatter:
        mp.setattr(cluster_module, "new_cluster", first_member_on_a_taken_port)
        with running_cluster("etcd", tmp_path, size=1) as c:
            assert c.members[0].client_port != taken
            assert (tmp_path / "m1.attempt1.log").exists()
            assert c.etcdctl("put", "k", "v").stdout == "OK\n"
        assert all(m.proc is not None and m.proc.poll() is not None for m in c.members)
