"""Random sequences of WAL operations (with reopens) against a plain model of what Raft wrote."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftkv.raft.types import ConfState, Entry, EntryType, HardState, SnapshotMetadata
from raftkv.storage import WAL


@pytest.mark.unit
@settings(max_examples=60, deadline=None)
@given(st.data())
def test_replay_matches_the_model(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        wal = WAL.create(d, b"model")
        wal.segment_bytes = data.draw(st.integers(min_value=150, max_value=2000), label="segment bytes")
        log: list[Entry] = []  # the model: entries after the snapshot, contiguous
        snap: SnapshotMetadata | None = None
        hs = HardState()
        term = 1
        for _ in range(data.draw(st.integers(min_value=1, max_value=25), label="ops")):
            op = data.draw(st.sampled_from(["append", "append", "rewrite", "snapshot", "release", "reopen"]))
            snap_index = snap.index if snap else 0
            last = log[-1].index if log else snap_index
            if op in ("append", "rewrite"):
                if op == "rewrite" and log:
                    start = data.draw(st.integers(min_value=log[0].index, max_value=last), label="rewrite at")
                    term += 1
                else:
                    start = last + 1
                n = data.draw(st.integers(min_value=0, max_value=12), label="batch")
                batch = [Entry(term, i, EntryType.NORMAL, b"%d:%d" % (term, i)) for i in range(start, start + n)]
                new_hs = HardState(term, 1, min(start + n - 1, max(hs.commit, snap_index))) \
                    if data.draw(st.booleans(), label="with hard state") else None
                wal.save(new_hs, batch)
                if batch:
                    log = [e for e in log if e.index < start] + batch
                if new_hs is not None:
                    hs = new_hs
            elif op == "snapshot" and log:
                at = data.draw(st.sampled_from(log), label="snapshot at")
                snap = SnapshotMetadata(ConfState([1, 2]), at.index, at.term)
                wal.save_snapshot(snap)
                log = [e for e in log if e.index > at.index]
            elif op == "release":
                wal.release_to(data.draw(st.integers(min_value=0, max_value=last + 2), label="release to"))
            elif op == "reopen":
                wal.close()
                wal, state = WAL.open(d)
                wal.segment_bytes = 300
                assert state.entries == log and state.snapshot == snap and state.hard_state == hs
                assert state.metadata == b"model"
        wal.close()
        reopened, state = WAL.open(d)
        reopened.close()
        assert state.entries == log and state.snapshot == snap and state.hard_state == hs
        assert reopened.last_index == (log[-1].index if log else (snap.index if snap else 0))
