"""Conversions between the Raft core's dataclasses and the peer wire schema, and the
envelope of a client request carried in a log entry.

Rules of this file: no I/O; every function is a total mapping of one shape to another.
The log-entry envelope is `u64 request id | u8 op | serialized etcdserverpb request`, so an
entry can be applied by every member without any further context, and the member that
proposed it can find the waiting client by id.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from raftkv._pb.raftpb import raft_pb2 as rpb
from raftkv.raft.types import (
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)

_HEADER = struct.Struct(">QB")


class Op(IntEnum):
    """What a normal log entry asks the state machine to do."""

    PUT = 1
    DELETE_RANGE = 2
    TXN = 3
    COMPACTION = 4
    LEASE_GRANT = 5
    LEASE_REVOKE = 6
    ALARM = 7
    MEMBER_ATTR = 8
    MEMBER_UPDATE = 9
    LEASE_CHECKPOINT = 10
    AUTH = 11


def encode_request(request_id: int, op: Op, payload: bytes) -> bytes:
    return _HEADER.pack(request_id, op) + payload


def decode_request(data: bytes) -> tuple[int, Op, bytes]:
    if len(data) < _HEADER.size:
        raise ValueError(f"log entry of {len(data)} bytes is shorter than its header")
    request_id, op = _HEADER.unpack_from(data)
    return request_id, Op(op), data[_HEADER.size:]


def conf_state_to_pb(cs: ConfState) -> rpb.ConfState:
    return rpb.ConfState(voters=cs.voters, learners=cs.learners, voters_outgoing=cs.voters_outgoing,
                         learners_next=cs.learners_next, auto_leave=cs.auto_leave)


def conf_state_from_pb(p: rpb.ConfState) -> ConfState:
    return ConfState(voters=list(p.voters), learners=list(p.learners), voters_outgoing=list(p.voters_outgoing),
                     learners_next=list(p.learners_next), auto_leave=p.auto_leave)


def snapshot_to_pb(s: Snapshot) -> rpb.Snapshot:
    m = s.metadata
    return rpb.Snapshot(data=s.data, metadata=rpb.SnapshotMetadata(
        conf_state=conf_state_to_pb(m.conf_state), index=m.index, term=m.term))


def snapshot_from_pb(p: rpb.Snapshot) -> Snapshot:
    m = p.metadata
    return Snapshot(data=p.data, metadata=SnapshotMetadata(
        conf_state=conf_state_from_pb(m.conf_state), index=m.index, term=m.term))


def message_to_pb(m: Message) -> rpb.Message:
    out = rpb.Message(type=int(m.type), to=m.to, term=m.term, log_term=m.log_term,  # type: ignore[arg-type]
                      index=m.index, commit=m.commit, reject=m.reject, reject_hint=m.reject_hint, context=m.context)
    setattr(out, "from", m.frm)
    if m.entries:
        out.entries.extend([rpb.Entry(term=e.term, index=e.index, type=int(e.type), data=e.data)  # type: ignore[arg-type]
                            for e in m.entries])
    if m.snapshot is not None:
        out.snapshot.CopyFrom(snapshot_to_pb(m.snapshot))
    return out


def message_from_pb(p: rpb.Message) -> Message:
    return Message(
        type=MessageType(p.type), to=p.to, frm=getattr(p, "from"), term=p.term, log_term=p.log_term,
        index=p.index, entries=[Entry(e.term, e.index, EntryType(e.type), e.data) for e in p.entries],
        commit=p.commit, snapshot=snapshot_from_pb(p.snapshot) if p.HasField("snapshot") else None,
        reject=p.reject, reject_hint=p.reject_hint, context=p.context)


def hard_state_to_pb(h: HardState) -> rpb.HardState:
    return rpb.HardState(term=h.term, vote=h.vote, commit=h.commit)
