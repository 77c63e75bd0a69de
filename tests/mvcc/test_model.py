"""Hypothesis drives the store and a plain dict-of-histories model with the same operations;
every read at every readable revision must agree."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv.lease import Lessor
from raftkv.mvcc import Applier, open_store

KEYS = st.sampled_from([b"a", b"b", b"c", b"d"])


class StoreVsModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.a = Applier(open_store(None), Lessor(min_ttl=1))
        self.rev = 1
        self.compacted = 0
        self.history: dict[int, dict[bytes, bytes]] = {1: {}}  # revision -> full state

    def _state(self) -> dict[bytes, bytes]:
        return dict(self.history[self.rev])

    @rule(key=KEYS, value=st.binary(max_size=3))
    def put(self, key: bytes, value: bytes) -> None:
        r = self.a.put(pb.PutRequest(key=key, value=value))
        state = self._state()
        self.rev += 1
        state[key] = value
        self.history[self.rev] = state
        assert r.header.revision == self.rev

    @rule(key=KEYS, end=st.sampled_from([b"", b"c", b"\0"]))
    def delete(self, key: bytes, end: bytes) -> None:
        state = self._state()
        doomed = [k for k in state if (k == key if not end else k >= key if end == b"\0" else key <= k < end)]
        r = self.a.delete_range(pb.DeleteRangeRequest(key=key, range_end=end))
        assert r.deleted == len(doomed)
        if doomed:
            self.rev += 1
            for k in doomed:
                del state[k]
            self.history[self.rev] = state
        assert r.header.revision == self.rev

    @precondition(lambda self: self.rev > self.compacted + 1)
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        at = data.draw(st.integers(min_value=self.compacted + 1, max_value=self.rev))
        self.a.compact(pb.CompactionRequest(revision=at))
        self.compacted = at

    @invariant()
    def reads_agree_at_every_readable_revision(self) -> None:
        for rev in range(max(self.compacted, 1), self.rev + 1):
            got = self.a.range(pb.RangeRequest(key=b"\0", range_end=b"\0", revision=rev))
            assert {kv.key: kv.value for kv in got.kvs} == self.history[rev], f"at revision {rev}"
        if self.compacted > 1:
            with pytest.raises(errors.Compacted):
                self.a.range(pb.RangeRequest(key=b"a", revision=self.compacted - 1))


TestStoreVsModel = StoreVsModel.TestCase
TestStoreVsModel.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
