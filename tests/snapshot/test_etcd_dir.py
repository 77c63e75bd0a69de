"""Taking over a data dir etcd left (member/snap/db + member/wal), in-process on etcd 3.4's own files."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from raftkv.bbolt import read_db, write_db
from raftkv.mvcc.store import KVStore
from raftkv.server.config import ConfigError
from raftkv.server.membership import Membership
from raftkv.snapshot import etcd_dir, schema

DATA = pathlib.Path(__file__).resolve().parents[1] / "bbolt" / "testdata"
ETCD_DB = (DATA / "etcd-3.4.snap").read_bytes()[:-32]
STOPPED_WAL = (DATA / "etcd-3.4-stopped.wal.head").read_bytes()


def etcd_layout(base: pathlib.Path, db: bytes) -> pathlib.Path:
    (base / "member" / "snap").mkdir(parents=True)
    (base / "member" / "wal").mkdir()
    (base / "member" / "snap" / "db").write_bytes(db)
    (base / "member" / "wal" / "0000000000000000-0000000000000000.wal").write_bytes(STOPPED_WAL)
    return base


def test_a_stopped_members_dir_becomes_raftkvs(tmp_path: pathlib.Path) -> None:
    d = etcd_layout(tmp_path / "d", ETCD_DB)
    assert etcd_dir.adopt(str(d), "tok")
    assert not etcd_dir.adopt(str(d), "tok")  # once only: it is raftkv's now
    assert (d / "member.etcd" / "snap" / "db").read_bytes() == ETCD_DB  # etcd's files kept as they were
    store = KVStore.open(str(d / "member" / "db"))
    try:
        assert (store.rev, store.compact_rev) == (307, 5)
    finally:
        store.close()
    ms = Membership.from_json((d / "member" / "cluster.json").read_bytes())
    assert [(m.id, m.name) for m in ms.members.values()] == [(0xBDAE9BBC11DD390D, "e1")]


def test_a_backend_behind_its_wal_is_refused_untouched(tmp_path: pathlib.Path) -> None:
    state = schema.from_buckets({n: b.pairs() for n, b in read_db(ETCD_DB).root.buckets.items()})
    behind = write_db(schema.to_buckets(dataclasses.replace(state, consistent_index=300)))
    d = etcd_layout(tmp_path / "d", behind)
    with pytest.raises(ConfigError, match=r"committed put\(s\) \(index 301\.\.311\).*does not replay"):
        etcd_dir.adopt(str(d), "tok")
    assert not (d / "member.etcd").exists() and (d / "member" / "snap" / "db").read_bytes() == behind


@pytest.mark.parametrize("damage", ["db", "wal", "nowal"])
def test_unreadable_etcd_files_are_named(tmp_path: pathlib.Path, damage: str) -> None:
    d = etcd_layout(tmp_path / "d", b"garbage" * 1000 if damage == "db" else ETCD_DB)
    wal = d / "member" / "wal" / "0000000000000000-0000000000000000.wal"
    if damage == "wal":
        wal.write_bytes(b"\x01" * 64)
    if damage == "nowal":
        wal.unlink()
    with pytest.raises(ConfigError, match={"db": "cannot read etcd's backend .*: invalid database",
                                           "wal": "cannot read etcd's WAL", "nowal": "holds no etcd WAL file"}[damage]):
        etcd_dir.adopt(str(d), "tok")
