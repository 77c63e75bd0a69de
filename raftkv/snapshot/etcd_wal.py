"""The head of an etcd WAL file: enough to learn which member and cluster a data dir belongs to.

etcd frames each record as a little-endian u64 whose low 56 bits are the record's length (with
the pad to 8 bytes in bits 56..58 when bit 63 is set), then a walpb.Record {type: 1, crc: 2,
data: 3}. The metadata record (type 1) carries etcdserverpb.Metadata {NodeID: 1, ClusterID: 2}; entry records
(type 2) carry raftpb.Entry {Type: 1, Term: 2, Index: 3, Data: 4}, and a conf change entry (Type 1)
raftpb.ConfChange {Type: 2, NodeID: 3, Context: 4} whose context is the member as JSON; state records
(type 3) a raftpb.HardState {Term: 1, Vote: 2, Commit: 3}. They are read for the membership and to
find committed requests the backend lacks: raftkv does not replay etcd's log (raftkv.snapshot.etcd_dir).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

METADATA_TYPE = 1
ENTRY_TYPE = 2
STATE_TYPE = 3
PUT_FIELD = 4  # etcdserverpb.InternalRaftRequest.put
CONF_CHANGE_ENTRY = 1
ADD_NODE, REMOVE_NODE, UPDATE_NODE, ADD_LEARNER_NODE = 0, 1, 2, 3
_LEN = struct.Struct("<Q")

@dataclass
class WALHead:
    member_id: int
    cluster_id: int
    conf_changes: list[tuple[int, int, bytes]] = field(default_factory=list)  # (type, node id, context)
    commit: int = 0  # the newest HardState's commit index
    put_indexes: list[int] = field(default_factory=list)  # entries carrying a Put request

    def unapplied_puts(self, consistent_index: int) -> list[int]:
        """Committed Puts a backend at `consistent_index` has not applied. Only Puts are conclusive: etcd 3.4
        saves consistent_index with a write that changed keys, and a Put always does, while a compaction, a
        lease or auth change, or a delete of nothing leaves it behind although the backend holds its effect."""
        return sorted({i for i in self.put_indexes if consistent_index < i <= self.commit})


class WALHeadError(Exception):
    """The bytes do not start like an etcd WAL file."""


def _fields(buf: bytes) -> dict[int, int | bytes]:
    """Varint and length-delimited fields of a protobuf message (last one wins)."""
    out: dict[int, int | bytes] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            out[num], i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise WALHeadError("truncated field")
            out[num], i = buf[i:i + n], i + n
        else:
            raise WALHeadError(f"unexpected wire type {wire}")
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise WALHeadError("truncated varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def read_wal(files: Iterable[bytes]) -> WALHead:
    """This member's and the cluster's ids, the conf changes, the newest commit index and the indexes of the
    entries that carry a request, from etcd's WAL files in order (each read until its preallocated zeros)."""
    found: WALHead | None = None
    for data in files:
        found = _read_file(data, found)
    if found is None:
        raise WALHeadError("no metadata record at the start of the WAL")
    return found


def read_head(head: bytes) -> WALHead:
    """`read_wal` of the first bytes of the first file (enough for the ids and the bootstrap members)."""
    return read_wal([head])


def _read_file(head: bytes, found: WALHead | None) -> WALHead | None:
    off = 0
    while off + _LEN.size <= len(head):
        (lf,) = _LEN.unpack_from(head, off)
        n = lf & ((1 << 56) - 1)
        pad = (lf >> 56) & 7 if lf >> 63 else 0
        body = head[off + _LEN.size:off + _LEN.size + n]
        if len(body) != n or n == 0:
            break
        off += _LEN.size + n + pad
        rec = _fields(body)
        kind = rec.get(1)
        data = rec.get(3, b"")
        data = data if isinstance(data, bytes) else b""
        if kind == METADATA_TYPE:
            if found is None:
                meta = _fields(data)
                node, cluster = meta.get(1, 0), meta.get(2, 0)
                if not isinstance(node, int) or not isinstance(cluster, int) or not node:
                    raise WALHeadError("metadata record without a member id")
                found = WALHead(node, cluster)
        elif found is None:  # the crc record that opens each file
            continue
        elif kind == STATE_TYPE:
            commit = _fields(data).get(3, 0)
            if isinstance(commit, int):
                found.commit = max(found.commit, commit)
        elif kind == ENTRY_TYPE:
            _entry(_fields(data), found)
    return found


def _entry(entry: dict[int, int | bytes], found: WALHead) -> None:
    payload = entry.get(4, b"")
    payload = payload if isinstance(payload, bytes) else b""
    index = entry.get(3, 0)
    if entry.get(1) == CONF_CHANGE_ENTRY:
        cc = _fields(payload)
        cc_type, node_id, ctx = cc.get(2, 0), cc.get(3, 0), cc.get(4, b"")
        if isinstance(cc_type, int) and isinstance(node_id, int) and isinstance(ctx, bytes):
            found.conf_changes.append((cc_type, node_id, ctx))
    elif payload and isinstance(index, int) and PUT_FIELD in _fields(payload):
        found.put_indexes.append(index)
