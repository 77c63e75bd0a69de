"""kube-apiserver's compactor protocol (storage/etcd3/compact.go) on compact_rev_key's version, driven step by step."""

from __future__ import annotations

import pytest

from apiserver.storage import compaction
from apiserver.storage.compaction import CompactState, after_txn, txn

pytestmark = pytest.mark.unit


class FakeStore:
    """compact_rev_key's version and value, the store revision (each Put is one), the compactions done."""

    def __init__(self) -> None:
        self.version, self.value, self.revision, self.compactions = 0, b"", 100, []

    def round(self, state: CompactState) -> CompactState:
        expect, value = txn(state)
        if self.version == expect:
            self.version, self.value, self.revision = self.version + 1, value, self.revision + 1
            step = after_txn(state, True, self.revision, 0, b"")
        else:
            step = after_txn(state, False, self.revision, self.version, self.value)
        if step.compact_to:
            self.compactions.append(step.compact_to)
        return step.state


def test_one_server_compacts_each_interval_to_the_revision_seen_one_interval_earlier() -> None:
    store, s = FakeStore(), CompactState()
    s = store.round(s)
    assert store.compactions == [] and s == CompactState(1, 101), "no compaction on bootstrap"
    store.revision += 10  # writes during the interval
    s = store.round(s)
    assert store.compactions == [101] and store.value == b"101" and s == CompactState(2, 112)
    s = store.round(s)
    assert store.compactions == [101, 112]


def test_two_servers_compact_once_per_interval_and_the_other_takes_over() -> None:
    store, a, b = FakeStore(), CompactState(), CompactState()
    for _ in range(4):  # each interval, a's tick comes just before b's
        a = store.round(a)
        b = store.round(b)
        store.revision += 5
    assert store.version == 4, "one successful Txn per interval, not two"
    assert len(store.compactions) == 3 and store.compactions == sorted(set(store.compactions))
    done = len(store.compactions)
    seen = b.revision
    for _ in range(2):  # a stops: b wins from the next interval on, compacting to what it saw one interval before
        b = store.round(b)
        store.revision += 5
    assert store.version == 6 and store.compactions[done:] == [seen, seen + 6]


def test_a_failed_txn_reads_the_last_compacted_revision_and_tolerates_a_bad_value() -> None:
    assert after_txn(CompactState(), False, 50, 3, b"42") == compaction.Round(CompactState(3, 50), 0, 42)
    assert after_txn(CompactState(), False, 50, 0, b"") == compaction.Round(CompactState(0, 50), 0, 0)
    assert after_txn(CompactState(), False, 50, 2, b"x").compacted == 0


@pytest.mark.parametrize("text,seconds", [("5m0s", 300.0), ("0", 0.0), ("1h", 3600.0), ("500ms", 0.5),
                                          ("1m30s", 90.0), ("1.5s", 1.5)])
def test_go_durations(text: str, seconds: float) -> None:
    assert compaction.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text,message", [("", 'time: invalid duration ""'), ("m", 'time: invalid duration "m"'),
                                          ("5", 'time: missing unit in duration "5"'),
                                          ("1x", 'time: unknown unit "x" in duration "1x"')])
def test_bad_durations_in_go_words(text: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        compaction.parse_duration(text)
    assert str(e.value) == message
