"""The head of an etcd WAL file: enough to learn which member and cluster a data dir belongs to.

etcd frames each record as a little-endian u64 whose low 56 bits are the record's length (with
the pad to 8 bytes in bits 56..58 when bit 63 is set), then a walpb.Record {type: 1, crc: 2,
data: 3}. The metadata record (type 1) carries etcdserverpb.Metadata {NodeID: 1, ClusterID: 2}; entry records
(type 2) carry raftpb.Entry {Type: 1, Term: 2, Index: 3, Data: 4}, and a conf change entry (Type 1)
raftpb.ConfChange {Type: 2, NodeID: 3, Context: 4} whose context is the member as JSON.
Only these are read, for the membership: raftkv does not replay etcd's log (raftkv.snapshot.etcd_dir).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

METADATA_TYPE = 1
ENTRY_TYPE = 2
CONF_CHANGE_ENTRY = 1
ADD_NODE, REMOVE_NODE, UPDATE_NODE, ADD_LEARNER_NODE = 0, 1, 2, 3
_LEN = struct.Struct("<Q")

@dataclass
class WALHead:
    member_id: int
    cluster_id: int
    conf_changes: list[tuple[int, int, bytes]] = field(default_factory=list)  # (type, node id, context)


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


def read_head(head: bytes) -> WALHead:
    """This member's and the cluster's ids and the conf changes found in the first bytes of etcd's first WAL
    file (records are read until the bytes end or the preallocated zeros begin)."""
    off = 0
    found: WALHead | None = None
    changes: list[tuple[int, int, bytes]] = []
    while off + _LEN.size <= len(head):
        (lf,) = _LEN.unpack_from(head, off)
        n = lf & ((1 << 56) - 1)
        pad = (lf >> 56) & 7 if lf >> 63 else 0
        body = head[off + _LEN.size:off + _LEN.size + n]
        if len(body) != n or n == 0:
            break
        rec = _fields(body)
        data = rec.get(3, b"")
        data = data if isinstance(data, bytes) else b""
        if rec.get(1) == METADATA_TYPE and found is None:
            meta = _fields(data)
            node, cluster = meta.get(1, 0), meta.get(2, 0)
            if not isinstance(node, int) or not isinstance(cluster, int) or not node:
                raise WALHeadError("metadata record without a member id")
            found = WALHead(node, cluster)
        elif rec.get(1) == ENTRY_TYPE:
            entry = _fields(data)
            if entry.get(1) == CONF_CHANGE_ENTRY:
                cc_data = entry.get(4, b"")
                cc = _fields(cc_data if isinstance(cc_data, bytes) else b"")
                cc_type, node_id, ctx = cc.get(2, 0), cc.get(3, 0), cc.get(4, b"")
                if isinstance(cc_type, int) and isinstance(node_id, int) and isinstance(ctx, bytes):
                    changes.append((cc_type, node_id, ctx))
        off += _LEN.size + n + pad
    if found is None:
        raise WALHeadError("no metadata record at the start of the WAL")
    found.conf_changes = changes
    return found
