"""Hypothesis drives the store and a plain dict-of-histories model with the same operations.

The model keeps, per revision, the full state {key: (value, create_revision, mod_revision, version)}
and the events each revision produced. Checked after every step: every read at every readable
revision (all metadata), `count`, errors below the compact revision, and that a watcher opened at the
start and one opened mid-way have received exactly the model's events, in order, never splitting a revision across batches.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv.lease import Lessor
from raftkv.mvcc import Applier, open_store

pytestmark = pytest.mark.unit
KEYS = st.sampled_from([b"a", b"b", b"c", b"d"])
Meta = tuple[bytes, int, int, int]  # value, create, mod, version
Ev = tuple[int, bytes, int]  # type (0 put, 1 delete), key, revision


def in_range(k: bytes, key: bytes, end: bytes) -> bool:
    return k == key if not end else (k >= key if end == b"\0" else key <= k < end)


class StoreVsModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.a = Applier(open_store(None), Lessor(min_ttl=1))
        self.rev = 1
        self.compacted = 0
        self.history: dict[int, dict[bytes, Meta]] = {1: {}}
        self.events: list[Ev] = []
        self.ws = self.a.s.watch_stream()
        self.watch_all = self.ws.watch(b"\0", b"\0", 0, False, set())
        self.watch_late: tuple[int, int] | None = None  # (id, start revision)
        self.seen: dict[int, list[Ev]] = {}
        self.lost: set[int] = set()  # compact revisions whose deletes the late watcher cannot get

    def _commit(self, state: dict[bytes, Meta], evs: list[Ev]) -> None:
        self.rev += 1
        self.history[self.rev] = state
        self.events += evs

    def _model_put(self, state: dict[bytes, Meta], key: bytes, value: bytes, rev: int) -> None:
        old = state.get(key)
        state[key] = (value, old[1] if old else rev, rev, old[3] + 1 if old else 1)

    @rule(key=KEYS, value=st.binary(max_size=3))
    def put(self, key: bytes, value: bytes) -> None:
        r = self.a.put(pb.PutRequest(key=key, value=value))
        state = dict(self.history[self.rev])
        self._model_put(state, key, value, self.rev + 1)
        self._commit(state, [(0, key, self.rev + 1)])
        assert r.header.revision == self.rev

    @rule(key=KEYS, end=st.sampled_from([b"", b"c", b"\0"]))
    def delete(self, key: bytes, end: bytes) -> None:
        state = dict(self.history[self.rev])
        doomed = sorted(k for k in state if in_range(k, key, end))
        r = self.a.delete_range(pb.DeleteRangeRequest(key=key, range_end=end))
        assert r.deleted == len(doomed)
        if doomed:
            for k in doomed:
                del state[k]
            self._commit(state, [(1, k, self.rev + 1) for k in doomed])
        assert r.header.revision == self.rev

    @rule(key=KEYS, version=st.integers(0, 3), puts=st.lists(st.tuples(KEYS, st.binary(max_size=2)), max_size=3,
                                                             unique_by=lambda p: p[0]),
          delete=st.none() | KEYS)
    def txn(self, key: bytes, version: int, puts: list[tuple[bytes, bytes]], delete: bytes | None) -> None:
        """A version compare; success puts keys, failure deletes one key: one revision either way."""
        state = dict(self.history[self.rev])
        ok = (state[key][3] if key in state else 0) == version
        req = pb.TxnRequest(
            compare=[pb.Compare(key=key, target=pb.Compare.VERSION, result=pb.Compare.EQUAL, version=version)],
            success=[pb.RequestOp(request_put=pb.PutRequest(key=k, value=v)) for k, v in puts],
            failure=[pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(key=delete))] if delete else [])
        r = self.a.txn(req)
        assert r.succeeded == ok
        evs: list[Ev] = []
        if ok:
            for k, v in puts:
                self._model_put(state, k, v, self.rev + 1)
                evs.append((0, k, self.rev + 1))
        elif delete is not None and delete in state:
            del state[delete]
            evs.append((1, delete, self.rev + 1))
        if evs:
            self._commit(state, evs)
        assert r.header.revision == self.rev

    @precondition(lambda self: self.rev > max(self.compacted, 1))
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        top = self.rev
        if self.watch_late is not None:  # never overtake the late watcher (cancellation is tested elsewhere)
            top = min(top, self.ws.watchers[self.watch_late[0]].next_rev)
        if top <= self.compacted:
            return
        at = data.draw(st.integers(min_value=max(self.compacted + 1, 1), max_value=top))
        if self.watch_late is None or self.ws.watchers[self.watch_late[0]].next_rev == at:
            self.lost.add(at)  # as etcd: a tombstone at the compact revision is removed before it is sent
        self.a.compact(pb.CompactionRequest(revision=at))
        self.compacted = at

    @precondition(lambda self: self.watch_late is None)
    @rule(data=st.data())
    def open_late_watcher(self, data: st.DataObject) -> None:
        start = data.draw(st.integers(min_value=max(self.compacted, 1), max_value=self.rev + 2))
        self.watch_late = (self.ws.watch(b"b", b"d", start, False, set()), start)

    @rule()
    def drain_watchers(self) -> None:
        while self.a.s.sync_watchers():
            pass
        for b in self.ws.poll():
            assert not b.canceled
            revs = [e.kv.mod_revision for e in b.events]
            assert revs == sorted(revs)
            got = self.seen.setdefault(b.watch_id, [])
            assert not got or not revs or got[-1][2] < revs[0], "a revision is never split across batches"
            got += [(int(e.type), e.kv.key, e.kv.mod_revision) for e in b.events]

    @invariant()
    def reads_agree_at_every_readable_revision(self) -> None:
        for rev in range(max(self.compacted, 1), self.rev + 1):
            got = self.a.range(pb.RangeRequest(key=b"\0", range_end=b"\0", revision=rev))
            want = self.history[rev]
            assert {kv.key: (kv.value, kv.create_revision, kv.mod_revision, kv.version) for kv in got.kvs} == want
            assert got.count == len(want) and got.header.revision == self.rev
        if self.compacted > 1:
            with pytest.raises(errors.Compacted):
                self.a.range(pb.RangeRequest(key=b"a", revision=self.compacted - 1))

    @invariant()
    def pages_and_counts_at_the_current_revision_agree(self) -> None:
        state = self.history[self.rev]
        for key, end in ((b"\0", b"\0"), (b"b", b"d"), (b"a", b"c")):
            keys = sorted(k for k in state if in_range(k, key, end))
            for limit in (0, 1, 2):
                got = self.a.range(pb.RangeRequest(key=key, range_end=end, limit=limit))
                want = keys[:limit] if limit else keys
                assert [kv.key for kv in got.kvs] == want and got.count == len(keys)
                assert got.more == (limit > 0 and len(keys) > limit)
                assert [(kv.value, kv.create_revision, kv.mod_revision, kv.version) for kv in got.kvs] == [
                    state[k] for k in want]
            assert self.a.range(pb.RangeRequest(key=key, range_end=end, count_only=True)).count == len(keys)

    @invariant()
    def watchers_saw_a_prefix_of_the_events(self) -> None:
        assert self.seen.get(self.watch_all, []) == self.events[: len(self.seen.get(self.watch_all, []))]
        if self.watch_late is not None:
            wid, start = self.watch_late
            want = self._late_events(start)
            got = self.seen.get(wid, [])
            assert got == want[: len(got)]

    def teardown(self) -> None:
        self.drain_watchers()
        assert self.seen.get(self.watch_all, []) == self.events  # synced: nothing held back
        if self.watch_late is not None:
            wid, start = self.watch_late
            assert self.seen.get(wid, []) == self._late_events(start)

    def _late_events(self, start: int) -> list[Ev]:
        return [e for e in self.events if e[2] >= start and in_range(e[1], b"b", b"d")
                and not (e[0] == 1 and e[2] in self.lost)]


TestStoreVsModel = StoreVsModel.TestCase
TestStoreVsModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
