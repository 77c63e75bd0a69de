from __future__ import annotations

import pytest

from raftkv.raft.types import (
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)
from raftkv.server import codec


@pytest.mark.unit
def test_request_envelope_round_trip() -> None:
    data = codec.encode_request(2**63 + 5, codec.Op.TXN, b"\x01\x02payload")
    assert codec.decode_request(data) == (2**63 + 5, codec.Op.TXN, b"\x01\x02payload")


@pytest.mark.unit
def test_short_envelope_is_rejected() -> None:
    with pytest.raises(ValueError, match="shorter than its header"):
        codec.decode_request(b"\x00\x01")


@pytest.mark.unit
def test_message_round_trip_keeps_every_field() -> None:
    snap = Snapshot(data=b"members", metadata=SnapshotMetadata(ConfState(voters=[1, 2], learners=[3]), 40, 7))
    m = Message(type=MessageType.APP, to=2, frm=1, term=7, log_term=6, index=41,
                entries=[Entry(7, 42, EntryType.NORMAL, b"x"), Entry(7, 43, EntryType.CONF_CHANGE, b"cc")],
                commit=41, snapshot=snap, reject=True, reject_hint=12, context=b"ctx")
    back = codec.message_from_pb(codec.message_to_pb(m))
    assert back == m


@pytest.mark.unit
def test_message_without_snapshot_stays_without() -> None:
    m = Message(type=MessageType.HEARTBEAT, to=3, frm=1, term=2, commit=9)
    back = codec.message_from_pb(codec.message_to_pb(m))
    assert back.snapshot is None and back == m
