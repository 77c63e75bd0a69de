"""Start raftkv on a data dir made by etcd (`etcdctl snapshot restore`, or a stopped etcd 3.4 member).

Such a dir holds member/snap/db (etcd's bbolt backend) and member/wal (etcd's log). raftkv reads
the backend (keys, revisions, compaction, leases, auth, and the members bucket for the
membership) and the WAL's metadata record (this member's id and the cluster id, as etcd assigned
them), moves etcd's files aside to <data-dir>/member.etcd, and writes its own data dir from that
state (raftkv.snapshot.restore.write_data_dir), which `raftkv serve` then opens as usual.

etcd's WAL entries are NOT replayed. After `etcdctl snapshot restore` they are only the bootstrap
conf changes (which name the new members); a cleanly stopped etcd has applied everything into its
backend. If the WAL holds committed Puts above the backend's consistent_index (an etcd that crashed
before its backend commit), the take-over is refused rather than losing them: start etcd once, or
restore a snapshot.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator

from raftkv.bbolt import BoltError, read_db
from raftkv.server.config import ConfigError
from raftkv.server.membership import Membership
from raftkv.snapshot import etcd_wal, schema
from raftkv.snapshot.restore import write_data_dir

log = logging.getLogger("raftkv.snapshot")


def is_etcd_data_dir(data_dir: str) -> bool:
    member = os.path.join(data_dir, "member")
    return os.path.isfile(os.path.join(member, "snap", "db")) and not os.path.isdir(os.path.join(member, "db"))


def _wal_files(wal_dir: str) -> Iterator[bytes]:
    """Each WAL file's bytes in order, one at a time (etcd preallocates them at 64 MB)."""
    names = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal")) if os.path.isdir(wal_dir) else []
    if not names:
        raise ConfigError(f"{wal_dir} holds no etcd WAL file (member/snap/db without member/wal)")
    for name in names:
        with open(os.path.join(wal_dir, name), "rb") as fh:
            yield fh.read()


def _membership(state: schema.State, head: etcd_wal.WALHead) -> Membership:
    """The members as the conf changes at the head of the WAL name them, or else as the members bucket does.

    etcd 3.4 itself takes its membership from the log (and its v2 store), not from the bucket: `etcdctl
    snapshot restore` leaves the old cluster's members in the bucket and writes the new ones as the WAL's
    bootstrap conf changes. A WAL whose first file no longer holds them (purged) leaves the bucket, which
    etcd keeps up to date as it applies conf changes."""
    ms = Membership(cluster_id=head.cluster_id)
    ms.removed = set(state.removed)
    if not any(ctx for _t, _n, ctx in head.conf_changes):
        for m in state.members:
            ms.add(m)
    for cc_type, node_id, ctx in head.conf_changes:
        if cc_type in (etcd_wal.ADD_NODE, etcd_wal.ADD_LEARNER_NODE) and ctx:
            m = schema.member_from_json(ctx)
            m.is_learner = m.is_learner or cc_type == etcd_wal.ADD_LEARNER_NODE
            ms.add(m)
        elif cc_type == etcd_wal.REMOVE_NODE:
            ms.remove(node_id)
        elif cc_type == etcd_wal.UPDATE_NODE and ctx and node_id in ms.members:
            ms.members[node_id].peer_urls = schema.member_from_json(ctx).peer_urls
    return ms


def adopt(data_dir: str, cluster_token: str) -> bool:
    """Convert `data_dir` in place if etcd made it; False when it is not etcd's. Raises ConfigError (with the
    file and the reason) when it is etcd's but cannot be read."""
    if not is_etcd_data_dir(data_dir):
        return False
    member = os.path.join(data_dir, "member")
    db_path = os.path.join(member, "snap", "db")
    try:
        with open(db_path, "rb") as fh:
            db = fh.read()
        parsed = read_db(db)
        state = schema.from_buckets({n: b.pairs() for n, b in parsed.root.buckets.items()},
                                    token_key=schema.derived_token_key(hashlib.sha256(db).digest(), cluster_token))
        head = etcd_wal.read_wal(_wal_files(os.path.join(member, "wal")))
        membership = _membership(state, head)
    except (BoltError, schema.SchemaError) as exc:
        raise ConfigError(f"cannot read etcd's backend {db_path}: {exc}") from None
    except etcd_wal.WALHeadError as exc:
        raise ConfigError(f"cannot read etcd's WAL in {os.path.join(member, 'wal')}: {exc}") from None
    node_id, cluster_id = head.member_id, head.cluster_id
    lost = head.unapplied_puts(state.consistent_index)
    if lost:
        raise ConfigError(f"etcd's WAL holds {len(lost)} committed put(s) (index {lost[0]}..{lost[-1]}) that "
                          f"{db_path} has not applied (consistent_index {state.consistent_index}); raftkv does not "
                          "replay etcd's log: start etcd once so it applies them, or restore from a snapshot")
    if node_id not in membership.members:
        raise ConfigError(f"etcd's WAL names member {node_id:x}, which {db_path} does not list")
    aside = member + ".etcd"
    if os.path.exists(aside):
        raise ConfigError(f"{aside} exists: remove it or the raftkv data to convert {member} again")
    os.rename(member, aside)
    try:
        write_data_dir(data_dir, state, membership, node_id)
    except BaseException:
        if os.path.exists(member):  # a half-written raftkv dir: keep it for inspection, put etcd's back
            os.rename(member, member + ".failed")
        os.rename(aside, member)
        raise
    log.info("took over etcd's data dir %s: member %x of cluster %x at revision %d (etcd's files are in %s; "
             "its WAL is not replayed)", data_dir, node_id, cluster_id, state.revision, aside)
    return True
