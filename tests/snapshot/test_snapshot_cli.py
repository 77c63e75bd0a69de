"""`raftkv snapshot status|restore` in-process on files: what a restore leaves on disk, and damage refused with a
clear message, no traceback and no half-written data dir."""

from __future__ import annotations

import hashlib
import json
import pathlib
import random

import pytest

from raftkv.mvcc.store import KVStore
from raftkv.server.membership import Membership
from raftkv.snapshot import cli
from raftkv.storage import WAL

DATA = pathlib.Path(__file__).resolve().parents[1] / "bbolt" / "testdata"
ETCD_SNAP = (DATA / "etcd-3.4.snap").read_bytes()
FLAGS = ["--name", "a", "--initial-cluster", "a=https://127.0.0.1:1,b=https://127.0.0.1:2",
         "--initial-advertise-peer-urls", "https://127.0.0.1:1", "--initial-cluster-token", "t"]


def test_restore_writes_a_member_that_holds_etcds_keys(tmp_path: pathlib.Path) -> None:
    snap = tmp_path / "s.db"
    snap.write_bytes(ETCD_SNAP)
    d = tmp_path / "d"
    assert cli.main(["restore", str(snap), "--data-dir", str(d), *FLAGS]) == 0
    store = KVStore.open(str(d / "member" / "db"))
    try:
        assert store.rev == 307 and store.compact_rev == 5 and store.consistent_index == 2
        assert store.get(b"a") is not None and store.get(b"a").mod_revision == 4  # type: ignore[union-attr]
        assert store.b.leases() == [(0x390DA252FCBDCD0A, 100)]
    finally:
        store.close()
    ms = Membership.from_json((d / "member" / "cluster.json").read_bytes())
    assert sorted(m.name for m in ms.members.values()) == ["a", "b"]  # the flags' members, not the file's
    wal, state = WAL.open(str(d / "member" / "wal"))
    wal.close()
    assert [e.index for e in state.entries] == [1, 2] and state.hard_state.commit == 2
    assert json.loads(state.metadata)["cluster_id"] == ms.cluster_id


def _damaged(seed: int) -> bytes:
    rng = random.Random(seed)
    b = bytearray(ETCD_SNAP[:-32])
    if seed % 2:
        b = b[:rng.randrange(8192, len(b)) // 512 * 512]
    else:
        for _ in range(30):
            b[rng.randrange(8192, len(b))] = rng.randrange(256)
    return bytes(b) + hashlib.sha256(bytes(b)).digest()  # a valid trailer: the damage is in the pages


@pytest.mark.parametrize("seed", range(10))
def test_damaged_snapshots_are_refused_cleanly(seed: int, tmp_path: pathlib.Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    snap = tmp_path / "s.db"
    snap.write_bytes(_damaged(seed))
    d = tmp_path / "d"
    code = cli.main(["restore", str(snap), "--data-dir", str(d), *FLAGS])
    err = capsys.readouterr().err
    if code != 0:  # flipped bytes may leave a readable file; a refusal must be clean
        assert code == 1 and err.startswith("Error: ") and "Traceback" not in err
        assert not d.exists()
    status = cli.main(["status", str(snap)])
    err = capsys.readouterr().err
    assert status in (0, 1) and "Traceback" not in err


def test_status_and_restore_argument_errors(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status"]) == 128
    assert capsys.readouterr().err == "Error: snapshot status requires exactly one argument\n"
    assert cli.main(["status", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err == f"Error: stat {tmp_path / 'none'}: no such file or directory\n"
    assert cli.main(["restore", str(tmp_path / "none"), "--data-dir", str(tmp_path / "d")]) == 1
    assert capsys.readouterr().err == f"Error: open {tmp_path / 'none'}: no such file or directory\n"
    assert cli.main(["restore", str(tmp_path / "none"), "--wal-dir", "w"]) == 1
    assert "--wal-dir is not supported" in capsys.readouterr().err
