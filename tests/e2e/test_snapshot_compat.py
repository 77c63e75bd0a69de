"""Backups move between etcd 3.4 and raftkv: each side's snapshot is restored and served by the other.

- raftkv's Snapshot stream is read by `etcdctl snapshot status`, restored by `etcdctl snapshot restore`
  and served by a real etcd 3.4 with the same keys at the same revisions (history, compaction, leases);
- etcd 3.4's snapshot is restored by `raftkv snapshot restore` into a 3-member raftkv cluster that serves it;
- raftkv's own snapshot restored by `raftkv snapshot restore` is served by raftkv;
- a data dir made by `etcdctl snapshot restore`, or a stopped etcd member's, is started by `raftkv serve`;
- python-etcd3's `snapshot()` from raftkv is a file etcdctl reads.
Every cluster is a real process group on loopback with mutual TLS, stopped by PID.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from raftkv.snapshot import etcd_wal
from tests.e2e.cluster import ROOT, ProcessCluster, new_cluster, running_cluster, start_with_retries

pytestmark = pytest.mark.e2e

RAFTKV = [sys.executable, "-m", "raftkv"]


def ctl_ok(c: ProcessCluster, *args: str) -> str:
    p = c.etcdctl(*args, timeouts=("5s", "30s"))
    assert p.returncode == 0, f"etcdctl {' '.join(args)}: {p.stderr}"
    return p.stdout


def populate(c: ProcessCluster) -> int:
    """History with overwrites, a deletion, a lease and a compaction; returns the compaction revision."""
    ctl_ok(c, "put", "bk/a", "1")
    ctl_ok(c, "put", "bk/b", "2")
    ctl_ok(c, "put", "bk/a", "3")
    compact_at = int(json.loads(ctl_ok(c, "get", "bk/a", "-w", "json"))["header"]["revision"])
    ctl_ok(c, "put", "bk/a", "4")
    ctl_ok(c, "del", "bk/b")
    lease = ctl_ok(c, "lease", "grant", "900").split()[1]
    ctl_ok(c, "put", "--lease=" + lease, "bk/leased", "x")
    ctl_ok(c, "put", "bk/big", "v" * 5000)
    for i in range(40):
        ctl_ok(c, "put", f"bk/many/{i:02d}", f"value {i}")
    ctl_ok(c, "compact", str(compact_at))
    return compact_at


def view(c: ProcessCluster, compact_at: int) -> dict[str, object]:
    """What a client sees: every key with its revisions, the revision, an old read, the leases."""
    now = json.loads(ctl_ok(c, "get", "bk/", "--prefix", "-w", "json"))
    old = json.loads(ctl_ok(c, "get", "bk/", "--prefix", f"--rev={compact_at}", "-w", "json"))
    below = c.etcdctl("get", "bk/a", f"--rev={compact_at - 1}")
    leases = ctl_ok(c, "lease", "list").split()[2:]
    return {"revision": now["header"]["revision"], "kvs": now["kvs"], "old": old["kvs"],
            "compacted": "required revision has been compacted" in below.stderr, "leases": leases}


def save(c: ProcessCluster, path: pathlib.Path) -> None:
    p = c.etcdctl("snapshot", "save", str(path), endpoints=c.endpoints[:1], timeouts=("5s", "60s"))
    assert p.returncode == 0 and f"Snapshot saved at {path}" in p.stdout + p.stderr, p.stderr


def restore_flags(target: ProcessCluster, m_index: int) -> list[str]:
    m = target.members[m_index]
    return ["--data-dir", str(m.data_dir), "--name", m.name,
            "--initial-cluster", ",".join(f"{x.name}={x.peer_url}" for x in target.members),
            "--initial-cluster-token", target.token, "--initial-advertise-peer-urls", m.peer_url]


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=dict(os.environ, ETCDCTL_API="3"))


@pytest.fixture(scope="module")
def raftkv_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessCluster, dict[str, object],
                                                                               pathlib.Path, int]]:
    base = tmp_path_factory.mktemp("rk-src")
    with running_cluster("raftkv", base, 1) as c:
        compact_at = populate(c)
        snap = base / "raftkv.db"
        save(c, snap)
        yield c, view(c, compact_at), snap, compact_at


@pytest.fixture(scope="module")
def etcd_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, object], pathlib.Path, int]]:
    base = tmp_path_factory.mktemp("etcd-src")
    with running_cluster("etcd", base, 1) as c:
        compact_at = populate(c)
        snap = base / "etcd.db"
        save(c, snap)
        yield view(c, compact_at), snap, compact_at


def test_raftkv_snapshot_is_read_by_etcdctl_and_raftkv_alike(raftkv_source: tuple) -> None:
    c, seen, snap, _ = raftkv_source
    theirs = json.loads(ctl_ok(c, "snapshot", "status", str(snap), "-w", "json"))
    assert theirs["revision"] == seen["revision"] and theirs["totalKey"] > 45
    for fmt in ("json", "table", "simple", "fields"):
        ours = run([*RAFTKV, "snapshot", "status", str(snap), "-w", fmt])
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == ctl_ok(c, "snapshot", "status", str(snap), "-w", fmt)


def test_raftkv_snapshot_restored_by_etcdctl_is_served_by_etcd(raftkv_source: tuple,
                                                                tmp_path: pathlib.Path) -> None:
    _, seen, snap, compact_at = raftkv_source
    target = new_cluster("etcd", tmp_path, 1)
    p = run(["etcdctl", "snapshot", "restore", str(snap), *restore_flags(target, 0)])
    assert p.returncode == 0, p.stderr
    try:
        target.start()
        assert view(target, compact_at) == seen
        ctl_ok(target, "put", "bk/after", "1")  # etcd writes on into the file raftkv laid out
        ctl_ok(target, "defrag")
        assert view(target, compact_at)["revision"] == seen["revision"] + 1  # type: ignore[operator]
    finally:
        target.stop()


def test_etcd_snapshot_restored_by_raftkv_is_served_by_three_members(etcd_source: tuple,
                                                                     tmp_path: pathlib.Path) -> None:
    seen, snap, compact_at = etcd_source
    target = new_cluster("raftkv", tmp_path, 3)
    for i in range(3):
        p = run([*RAFTKV, "snapshot", "restore", str(snap), *restore_flags(target, i)])
        assert p.returncode == 0, p.stderr
    try:
        target.start()
        assert view(target, compact_at) == seen
        for endpoint in target.endpoints:  # every member holds it, and the cluster writes on from there
            got = json.loads(ctl_ok(target, "get", "bk/a", "-w", "json", "--consistency=s",
                                    f"--endpoints={endpoint}"))
            assert got["kvs"] == [kv for kv in seen["kvs"] if kv["key"] == "YmsvYQ=="]  # type: ignore[union-attr]
        put = json.loads(ctl_ok(target, "put", "bk/new", "n", "-w", "json"))
        assert put["header"]["revision"] == seen["revision"] + 1  # type: ignore[operator]
    finally:
        target.stop()


def test_raftkv_snapshot_restored_by_raftkv_is_served(raftkv_source: tuple, tmp_path: pathlib.Path) -> None:
    _, seen, snap, compact_at = raftkv_source
    target = new_cluster("raftkv", tmp_path, 1)
    p = run([*RAFTKV, "snapshot", "restore", str(snap), *restore_flags(target, 0)])
    assert p.returncode == 0, p.stderr
    try:
        target.start()
        assert view(target, compact_at) == seen
        ctl_ok(target, "put", "bk/after", "1")
        target.stop()
        target.start()  # a restored member restarts like any other: its WAL and store carry on
        again = view(target, compact_at)
        assert again["revision"] == seen["revision"] + 1  # type: ignore[operator]
        assert len(again["kvs"]) == len(seen["kvs"]) + 1  # type: ignore[arg-type]
    finally:
        target.stop()


def test_data_dir_restored_by_etcdctl_is_served_by_raftkv(etcd_source: tuple, tmp_path: pathlib.Path) -> None:
    seen, snap, compact_at = etcd_source
    target = new_cluster("raftkv", tmp_path, 3)
    for i in range(3):
        p = run(["etcdctl", "snapshot", "restore", str(snap), *restore_flags(target, i)])
        assert p.returncode == 0, p.stderr
    ids = {m.name: str(etcd_wal.read_head(next((m.data_dir / "member" / "wal").glob("*.wal")).read_bytes()[:4096])
                       .member_id) for m in target.members}  # the member ids etcd assigned (its WAL's metadata)
    try:
        target.start()
        assert view(target, compact_at) == seen
        members = json.loads(ctl_ok(target, "member", "list", "-w", "json"))["members"]
        assert {m["name"]: str(m["ID"]) for m in members} == ids  # etcd's member ids, kept
        assert all((m.data_dir / "member.etcd" / "snap" / "db").is_file() for m in target.members)  # etcd's files
        put = json.loads(ctl_ok(target, "put", "bk/new", "n", "-w", "json"))
        assert put["header"]["revision"] == seen["revision"] + 1  # type: ignore[operator]
    finally:
        target.stop()


def test_stopped_etcd_members_data_dir_is_taken_over_by_raftkv(tmp_path: pathlib.Path) -> None:
    etcd = new_cluster("etcd", tmp_path, 1)
    start_with_retries(etcd)
    try:
        compact_at = populate(etcd)
        seen = view(etcd, compact_at)
        ctl_ok(etcd, "user", "add", "root", "--new-user-password=rootpw")  # etcd's bcrypt hash, in its data dir
        ctl_ok(etcd, "auth", "enable")
    finally:
        etcd.stop()
    raftkv = ProcessCluster("raftkv", etcd.base, etcd.pki, etcd.members, etcd.token)  # same flags, same dir
    try:
        raftkv.start()
        assert view(raftkv, compact_at) == seen
        assert ctl_ok(raftkv, "--user", "root:rootpw", "get", "bk/a", "--print-value-only") == "4\n"
        assert "authentication failed" in raftkv.etcdctl("--user", "root:wrong", "get", "bk/a").stderr
    finally:
        raftkv.stop()


def auth_view(c: ProcessCluster) -> list[str]:
    return [ctl_ok(c, *args) for args in (("user", "list"), ("role", "list"), ("user", "get", "alice"),
                                          ("role", "get", "reader"), ("get", "au/k"))]


def test_users_roles_and_permissions_move_with_the_snapshot(tmp_path: pathlib.Path) -> None:
    """Auth on, then to etcd 3.4 and back to raftkv: users, roles and key-range permissions as before, and
    passwords too: both store bcrypt hashes (cost 10), so a password set on raftkv works on etcd and one set on
    etcd works on raftkv. The client certificate's CN (root) authenticates the admin commands."""
    with running_cluster("raftkv", tmp_path / "src", 1) as src:
        for args in (("user", "add", "root", "--new-user-password=rootpw"), ("role", "add", "reader"),
                     ("role", "grant-permission", "reader", "read", "au/", "--prefix"),
                     ("role", "grant-permission", "reader", "readwrite", "au/own"),
                     ("user", "add", "alice", "--new-user-password=alicepw"),
                     ("user", "grant-role", "alice", "reader"), ("put", "au/k", "v"), ("auth", "enable")):
            ctl_ok(src, *args)
        seen = auth_view(src)
        snap = tmp_path / "auth.db"
        save(src, snap)
    etcd = new_cluster("etcd", tmp_path / "etcd", 1)
    assert run(["etcdctl", "snapshot", "restore", str(snap), *restore_flags(etcd, 0)]).returncode == 0
    try:
        etcd.start()
        assert auth_view(etcd) == seen
        assert ctl_ok(etcd, "--user", "alice:alicepw", "get", "au/k") == "au/k\nv\n"  # raftkv's hash, on etcd
        assert "authentication failed" in etcd.etcdctl("--user", "alice:wrong", "get", "au/k").stderr
        ctl_ok(etcd, "user", "add", "bob", "--new-user-password=bobpw")
        ctl_ok(etcd, "user", "grant-role", "bob", "reader")
        seen = auth_view(etcd)
        again = tmp_path / "again.db"
        save(etcd, again)
    finally:
        etcd.stop()
    back = new_cluster("raftkv", tmp_path / "back", 1)
    assert run([*RAFTKV, "snapshot", "restore", str(again), *restore_flags(back, 0)]).returncode == 0
    try:
        back.start()
        assert auth_view(back) == seen
        assert "authentication failed" in back.etcdctl("--user", "alice:wrong", "get", "au/k").stderr
        assert ctl_ok(back, "--user", "alice:alicepw", "get", "au/k") == "au/k\nv\n"  # the hash came back intact
        assert ctl_ok(back, "--user", "bob:bobpw", "get", "au/k") == "au/k\nv\n"  # etcd's hash, on raftkv
        assert "authentication failed" in back.etcdctl("--user", "bob:alicepw", "get", "au/k").stderr
    finally:
        back.stop()


def test_restore_refuses_what_etcdctl_refuses(raftkv_source: tuple, tmp_path: pathlib.Path) -> None:
    _, _, snap, _ = raftkv_source
    bare = tmp_path / "bare.db"
    bare.write_bytes(snap.read_bytes()[:-32])
    bad = tmp_path / "bad.db"
    data = bytearray(snap.read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    cases = [[str(bare), "--data-dir", str(tmp_path / "d1")], [str(bad), "--data-dir", str(tmp_path / "d2")],
             [str(snap), "--data-dir", str(tmp_path)],
             [str(snap), "--data-dir", str(tmp_path / "d3"), "--name", "nobody"]]
    for args in cases:
        ours, theirs = run([*RAFTKV, "snapshot", "restore", *args]), run(["etcdctl", "snapshot", "restore", *args])
        assert ours.returncode != 0 and theirs.returncode != 0
        assert ours.stderr.strip().splitlines()[-1] == theirs.stderr.strip().splitlines()[-1]
    ok = run([*RAFTKV, "snapshot", "restore", str(bare), "--skip-hash-check", "--data-dir", str(tmp_path / "d4")])
    assert ok.returncode == 0, ok.stderr


ETCD3_SNAPSHOT = textwrap.dedent('''
    import sys
    import etcd3
    host, port, pki, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    c = etcd3.client(host=host, port=port, ca_cert=pki + "/ca.crt", cert_key=pki + "/client.key",
                     cert_cert=pki + "/client.crt", timeout=30)
    with open(path, "wb") as fh:
        c.snapshot(fh)
''')


def test_python_etcd3_snapshot_is_read_by_etcdctl(raftkv_source: tuple, tmp_path: pathlib.Path) -> None:
    c, seen, _, _ = raftkv_source
    path = tmp_path / "etcd3.db"
    p = subprocess.run([sys.executable, "-c", ETCD3_SNAPSHOT, "127.0.0.1", str(c.members[0].client_port),
                        str(c.pki), str(path)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python"))  # etcd3's old stubs
    assert p.returncode == 0, p.stderr
    status = json.loads(ctl_ok(c, "snapshot", "status", str(path), "-w", "json"))
    assert status["revision"] == seen["revision"]


def test_a_snapshot_with_large_values_is_a_bbolt_file_etcd_restores(raftkv_source: tuple,
                                                                     tmp_path: pathlib.Path) -> None:
    """Values spanning many overflow pages (runs last: it writes to the shared source cluster)."""
    c = raftkv_source[0]
    big = {f"huge/{i}": os.urandom(300_000).hex() for i in range(8)}  # 600 kB each
    for k, v in big.items():
        put = c.etcdctl("put", k, stdin=v, timeouts=("5s", "30s"))  # the value from stdin: too long for argv
        assert put.returncode == 0, put.stderr
    snap = tmp_path / "big.db"
    save(c, snap)
    status = json.loads(ctl_ok(c, "snapshot", "status", str(snap), "-w", "json"))
    assert status["totalSize"] > 8 * 600_000
    target = new_cluster("etcd", tmp_path, 1)
    assert run(["etcdctl", "snapshot", "restore", str(snap), *restore_flags(target, 0)]).returncode == 0
    try:
        target.start()
        for k, v in big.items():
            assert ctl_ok(target, "get", k, "--print-value-only") == v + "\n"
    finally:
        target.stop()
