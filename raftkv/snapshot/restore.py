"""Write a raftkv data dir holding a snapshot's state, as `etcdctl snapshot restore` writes etcd's.

The dir is what a member bootstrapped with these members would hold had it stopped right away:
the store (keys with their revisions, compaction, leases, auth) in member/db, the membership in
member/cluster.json and beside the keys, and a WAL whose only entries are the bootstrap conf
changes (term 1, index 1..n, committed) and whose metadata names the member and the cluster.
The store's consistent_index is n, as etcd's restore sets it: the entries are replayed only to
rebuild the voters. `raftkv serve` then opens it like any member restarting.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct

from raftkv.bbolt import BoltError, read_db
from raftkv.mvcc.backend import Backend
from raftkv.mvcc.core.revision import PUT, TOMBSTONE, rev_key
from raftkv.mvcc.store import KVStore
from raftkv.raft import encode_conf_change
from raftkv.raft.types import ConfChange, ConfChangeType, Entry, EntryType, HardState
from raftkv.server.membership import Membership
from raftkv.snapshot import cluster_flags, schema, trailer
from raftkv.snapshot.export import AUTH_META, MEMBERSHIP_META
from raftkv.storage import WAL

_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")


class RestoreError(Exception):
    """The restore cannot go on; the message is what etcdctl would print after "Error: "."""


def read_snapshot(path: str, skip_hash_check: bool) -> tuple[bytes, bytes]:
    """(the database without its trailer, its sha256), with etcdctl's checks."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise RestoreError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    if len(data) < trailer.SHA_SIZE:
        raise RestoreError(f"seek {path}: invalid argument")
    try:
        db = trailer.check(data, skip_hash_check)
    except trailer.HashError as exc:
        raise RestoreError(str(exc)) from None
    return db, hashlib.sha256(db).digest()


def bootstrap_entries(membership: Membership) -> list[Entry]:
    """The entries raftkv.raft's bootstrap appends (one ADD_NODE per voter, term 1), learners added as such."""
    kinds = [(m.id, ConfChangeType.ADD_LEARNER_NODE if m.is_learner else ConfChangeType.ADD_NODE)
             for m in membership.sorted()]
    return [Entry(1, i + 1, EntryType.CONF_CHANGE, encode_conf_change(ConfChange(kind, mid)))
            for i, (mid, kind) in enumerate(kinds)]


def write_data_dir(data_dir: str, state: schema.State, membership: Membership, self_id: int) -> None:
    """Lay out a raftkv data dir (which must not exist) holding `state` and `membership`."""
    member_dir = os.path.join(data_dir, "member")
    db_dir = os.path.join(member_dir, "db")
    os.makedirs(os.path.join(member_dir, "snap"))
    entries = bootstrap_entries(membership)
    b = Backend(db_dir)
    try:
        for main, sub, tomb, value in state.kvs:
            b.put(rev_key(main, sub, TOMBSTONE if tomb else PUT), value)
        for lid, ttl in state.leases:
            b.put_lease(lid, ttl)
        b.set_meta("rev", _U64.pack(state.revision))
        if state.compact_rev >= 0:
            b.set_meta("compact_rev", _I64.pack(state.compact_rev))
        b.set_meta("consistent_index", _U64.pack(len(entries)))
        b.set_meta(MEMBERSHIP_META, membership.to_json())
        b.set_meta(AUTH_META, state.auth.to_json())
        b.checkpoint()
    finally:
        b.close()
    if state.scheduled_compact_rev > state.compact_rev:  # a compaction etcd had not finished: finish it, as etcd does
        store = KVStore.open(db_dir)
        try:
            store.compact(state.scheduled_compact_rev)
            store.checkpoint()
        finally:
            store.close()
    with open(os.path.join(member_dir, "cluster.json"), "wb") as fh:
        fh.write(membership.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    meta = json.dumps({"member_id": self_id, "cluster_id": membership.cluster_id}).encode()
    wal = WAL.create(os.path.join(member_dir, "wal"), meta)
    try:
        wal.save(HardState(term=1, vote=0, commit=len(entries)), entries)
    finally:
        wal.close()


def restore(path: str, data_dir: str, name: str, initial_cluster: str, token: str, advertise_peer_urls: str,
            skip_hash_check: bool = False) -> None:
    """`raftkv snapshot restore`: etcdctl's checks in etcdctl's order, then the data dir."""
    data_dir = data_dir or f"{name}.etcd"
    try:
        membership, self_id = cluster_flags.plan(name, initial_cluster, advertise_peer_urls, token)
    except cluster_flags.FlagError as exc:
        raise RestoreError(str(exc)) from None
    if os.path.exists(data_dir):
        raise RestoreError(f'data-dir "{data_dir}" exists')
    db, digest = read_snapshot(path, skip_hash_check)
    try:
        parsed = read_db(db)
        state = schema.from_buckets({n: b.pairs() for n, b in parsed.root.buckets.items()},
                                    token_key=schema.derived_token_key(digest, token))
    except (BoltError, schema.SchemaError) as exc:
        raise RestoreError(str(exc)) from None
    state.members, state.removed = (), ()  # as etcdctl: the old cluster's members give way to the flags'
    try:
        write_data_dir(data_dir, state, membership, self_id)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
