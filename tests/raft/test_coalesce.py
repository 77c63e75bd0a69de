"""Outgoing message coalescing: what merges, what must not."""

from __future__ import annotations

from raftkv.raft.coalesce import coalesce
from raftkv.raft.types import Entry, EntryType, Message, MessageType

APP, RESP = MessageType.APP, MessageType.APP_RESP


def ents(lo: int, hi: int, size: int = 1) -> list[Entry]:
    return [Entry(2, i, EntryType.NORMAL, b"x" * size) for i in range(lo, hi + 1)]


def app(to: int, index: int, entries: list[Entry], commit: int, term: int = 2) -> Message:
    return Message(type=APP, to=to, frm=1, term=term, index=index, log_term=2, entries=entries, commit=commit)


def ack(to: int, index: int, term: int = 2, reject: bool = False) -> Message:
    return Message(type=RESP, to=to, frm=2, term=term, index=index, reject=reject)


def summary(msgs: list[Message]) -> list[tuple[int, int, int, list[int], int]]:
    return [(m.type, m.to, m.index, [e.index for e in m.entries], m.commit) for m in msgs]


def test_contiguous_appends_to_one_peer_become_one_with_the_later_commit() -> None:
    out = coalesce([app(2, 2, ents(3, 3), 2), app(3, 2, ents(3, 3), 2), app(2, 3, ents(4, 5), 3),
                    app(3, 3, ents(4, 5), 3), app(2, 5, [], 4)], 1 << 20)
    assert summary(out) == [(APP, 2, 2, [3, 4, 5], 4), (APP, 3, 2, [3, 4, 5], 3)]


def test_an_empty_commit_update_is_absorbed_by_the_append_that_follows_it() -> None:
    out = coalesce([app(2, 5, [], 4), app(2, 5, ents(6, 7), 5)], 1 << 20)
    assert summary(out) == [(APP, 2, 5, [6, 7], 5)]


def test_appends_that_do_not_continue_each_other_stay_apart() -> None:
    gap = [app(2, 2, ents(3, 3), 2), app(2, 7, ents(8, 8), 2)]  # a probe after a rejection, say
    assert len(coalesce(gap, 1 << 20)) == 2
    terms = [app(2, 2, ents(3, 3), 2, term=2), app(2, 3, ents(4, 4), 2, term=3)]
    assert len(coalesce(terms, 1 << 20)) == 2


def test_a_merged_append_never_grows_past_the_message_size_limit() -> None:
    out = coalesce([app(2, 0, ents(1, 3, size=100), 0), app(2, 3, ents(4, 6, size=100), 0),
                    app(2, 6, ents(7, 7, size=100), 0)], 450)
    assert summary(out) == [(APP, 2, 0, [1, 2, 3], 0), (APP, 2, 3, [4, 5, 6, 7], 0)]


def test_positive_acks_collapse_into_the_highest_index() -> None:
    out = coalesce([ack(1, 3), ack(1, 5), ack(1, 4)], 1 << 20)
    assert summary(out) == [(RESP, 1, 5, [], 0)]


def test_rejections_and_acks_of_another_term_are_kept_in_order() -> None:
    msgs = [ack(1, 3), ack(1, 2, reject=True), ack(1, 4, term=3),
            Message(type=MessageType.HEARTBEAT_RESP, to=1, frm=2, term=3, context=b"r1")]
    out = coalesce(msgs, 1 << 20)
    assert [(m.type, m.index, m.term, m.reject) for m in out] == [
        (RESP, 3, 2, False), (RESP, 2, 2, True), (RESP, 4, 3, False), (MessageType.HEARTBEAT_RESP, 0, 3, False)]


def test_the_log_entries_lists_of_the_input_are_not_mutated() -> None:
    first = ents(3, 3)
    coalesce([app(2, 2, first, 2), app(2, 3, ents(4, 4), 2)], 1 << 20)
    assert [e.index for e in first] == [3]
