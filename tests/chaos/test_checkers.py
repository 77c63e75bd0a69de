"""Every checker on a good history (passes) and on known-bad ones (each flagged, with the right kind)."""

from __future__ import annotations

import dataclasses

import pytest

from raftkv.chaos.checkers import (
    KV,
    HashKV,
    HistoryError,
    Log,
    check_hashkv,
    check_logs,
    check_monotonic,
    check_no_lost_writes,
    check_watches,
    check_wgl,
    check_witness,
    from_json,
    to_json,
)
from raftkv.chaos.checkers.history import INDETERMINATE, Op, Result
from tests.chaos.builders import cas, delete, ev, get, put, resp, txn, watch

pytestmark = pytest.mark.unit

ALL_EVENTS = [ev(2, "a", "v1", 2, 1), ev(3, "b", "w1", 3, 1), ev(4, "a", "v2", 2, 2, prev="v1"),
              ev(5, "b", None, prev="w1")]


def good_history() -> list[Op]:
    return [
        put(1, "a", "v1", (0, 1), 2),
        put(2, "b", "w1", (2, 3), 3),
        get(1, "a", (4, 5), 3, "v1", 2),
        cas(2, "a", 2, "v2", (6, 7), 4, True),
        get(3, "a", (8, 9), 4, "v2", 4),
        delete(1, "b", (10, 11), 5),
        get(2, "b", (12, 13), 5, None),
        txn(3, (14, 15), 5, (KV("a", "v2", 4), KV("b", None)), ()),
        get(3, "a", (16, 17), 2, "v1", 2, serializable=True),
        cas(1, "a", 2, "never", (18, 19), 5, False),
        watch(9, "", 1, [resp(*ALL_EVENTS[:2]), resp(*ALL_EVENTS[2:])], prev_kv=True),
    ]


def log_of(ops: list[Op]) -> Log:
    return Log.from_watch(next(o for o in ops if o.kind == "watch"))


def replace(ops: list[Op], i: int, op: Op) -> list[Op]:
    return [op if j == i else o for j, o in enumerate(ops)]


def kinds(result: Result) -> set[str]:
    return {v.kind for v in result.violations}


def test_good_history_passes_every_checker() -> None:
    ops = good_history()
    log = log_of(ops)
    for result in (check_witness(ops, log), check_wgl(ops), check_watches(ops, log, until=5), check_monotonic(ops)):
        assert result.valid is True, result.violations
    final = {"a": KV("a", "v2", 4), "b": KV("b", None)}
    assert check_no_lost_writes(ops, final).valid is True


def test_json_round_trip_and_bad_records() -> None:
    ops = good_history() + [put(4, "c", "x", (20, float("inf")), 0, outcome=INDETERMINATE)]
    assert from_json(to_json(ops)) == ops
    with pytest.raises(HistoryError, match="unknown op kind"):
        from_json('{"client": 1, "kind": "frob", "keys": ["a"], "invoke": 0, "complete": 1, "outcome": "ok"}')
    with pytest.raises(HistoryError, match="not JSON"):
        from_json("{nope")
    with pytest.raises(HistoryError, match="before it is invoked"):
        from_json('{"client": 1, "kind": "get", "keys": ["a"], "invoke": 5, "complete": 1, "outcome": "ok"}')


def test_stale_read_is_flagged_by_both_linearizability_checkers() -> None:
    ops = replace(good_history(), 4, get(3, "a", (8, 9), 3, "v1", 2))  # after the CAS completed
    assert "stale-read" in kinds(check_witness(ops, log_of(ops)))
    assert check_wgl(ops).valid is False


def test_read_of_a_value_the_log_does_not_have_at_that_revision() -> None:
    ops = replace(good_history(), 2, get(1, "a", (4, 5), 3, "v2", 4))  # future value at an old revision
    assert "wrong-read" in kinds(check_witness(ops, log_of(ops)))
    assert check_wgl(ops).valid is False


def test_stale_serializable_read_is_allowed_but_a_wrong_one_is_not() -> None:
    ops = replace(good_history(), 8, get(3, "a", (16, 17), 2, "v2", 4, serializable=True))
    assert "wrong-read" in kinds(check_witness(ops, log_of(ops)))


def test_lost_write_is_flagged() -> None:
    ops = good_history() + [put(4, "c", "x", (20, 21), 6)]  # acknowledged, but not in the watch log
    assert "lost-write" in kinds(check_witness(ops, log_of(ops)))
    final = {"a": KV("a", "v2", 4), "b": KV("b", None), "c": KV("c", None)}
    assert "lost-write" in kinds(check_no_lost_writes(ops, final))
    final["c"] = KV("c", "x", 6)
    assert check_no_lost_writes(ops, final).valid is True
    final["a"] = KV("a", "v1", 2)  # the CAS's write went back
    assert "lost-write" in kinds(check_no_lost_writes(ops, final))


def test_phantom_write_and_log_gap() -> None:
    ops = good_history()
    log = Log({**{r: list(w) for r, w in log_of(ops).entries.items()}, 7: [("z", "nobody")]})
    assert {"phantom-write", "log-gap"} <= kinds(check_witness(ops, log))


def test_indeterminate_write_may_or_may_not_have_happened() -> None:
    base = good_history()
    maybe = put(4, "c", "x", (20, 21), 0, outcome=INDETERMINATE)
    assert check_witness(base + [maybe], log_of(base)).valid is True  # never happened
    happened = [*base[:-1], maybe, get(5, "c", (30, 31), 6, "x", 6),
                watch(9, "", 1, [resp(*ALL_EVENTS), resp(ev(6, "c", "x", 6, 1))])]
    assert check_witness(happened, log_of(happened)).valid is True
    assert check_wgl(happened).valid is True
    # but it cannot be observed by a read that completed before it was invoked
    early = replace(happened, len(happened) - 2, get(5, "c", (18, 19), 6, "x", 6))
    assert "write-reordered" in kinds(check_witness(early, log_of(early)))
    assert check_wgl(early).valid is False


def test_non_linearizable_cas_is_flagged() -> None:
    ops = good_history()
    double = ops + [cas(4, "a", 2, "v3", (20, 21), 6, True)]  # expected mod 2, but the key was at 4 already
    events = [*ALL_EVENTS, ev(6, "a", "v3", 2, 3, prev="v2")]
    double = replace(double, 10, watch(9, "", 1, [resp(*events)]))
    assert "wrong-cas" in kinds(check_witness(double, log_of(double)))
    assert check_wgl(double).valid is False


def test_multi_key_txn_read_is_checked() -> None:
    ops = replace(good_history(), 7, txn(3, (14, 15), 5, (KV("a", "v2", 4), KV("b", "w1", 3)), ()))
    assert "wrong-read" in kinds(check_witness(ops, log_of(ops)))


def test_wgl_answers_unknown_when_the_budget_runs_out() -> None:
    ops = good_history()
    assert check_wgl(ops, max_steps_per_key=1).valid is None
    ticks = iter(range(10**9))
    # 30 concurrent puts and a read of a value nobody wrote: refuting it means trying ~2^30 orders
    many = [put(i, "k", f"v{i}", (0, 100), i + 2) for i in range(30)] + [get(99, "k", (0, 100), 40, "nope", 3)]
    assert check_wgl(many, now=lambda: next(ticks), deadline=0).valid is None
    assert check_wgl(many, max_steps_per_key=10_000).valid is None
    assert check_wgl(many[:6] + many[-1:]).valid is False


@pytest.mark.parametrize("mutate,kind", [
    ("duplicate", "duplicate"), ("reorder", "unordered"), ("drop", "gap"), ("split", "not-atomic"),
    ("late-start", "not-resumable"), ("prev", "wrong-prev-kv"), ("create", "wrong-create"),
    ("bookmark", "bookmark"), ("filter", "filter"), ("value", "wrong-event"),
])
def test_bad_watch_streams_are_flagged(mutate: str, kind: str) -> None:
    ops = good_history()
    log = log_of(ops)
    e2, e3, e4, e5 = ALL_EVENTS
    filters: tuple[str, ...] = ()
    responses = {
        "duplicate": [resp(e2, e3), resp(e3, e4, e5)],
        "reorder": [resp(e2, e4), resp(e3, e5)],
        "drop": [resp(e2, e3), resp(e5)],
        "split": [resp(e2, e3, dataclasses.replace(e4, key="a")), resp(dataclasses.replace(e4, key="a2"), e5)],
        "late-start": [resp(e3, e4, e5)],
        "prev": [resp(e2, e3, dataclasses.replace(e4, prev_value="w1"), e5)],
        "create": [resp(e2, e3, dataclasses.replace(e4, create_revision=4), e5)],
        "bookmark": [resp(e2, e3), resp(rev=5, progress=True), resp(e4, e5)],
        "filter": [resp(e2, e3, e4, e5)],
        "value": [resp(e2, e3, dataclasses.replace(e4, value="v9"), e5)],
    }[mutate]
    if mutate == "filter":
        filters = ("nodelete",)
    if mutate == "split":  # a revision holding two keys (a txn), delivered in two responses
        log = Log({2: [("a", "v1")], 3: [("b", "w1")], 4: [("a", "v2"), ("a2", "v2")], 5: [("b", None)]})
    w = watch(7, "", 1, responses, prev_kv=True, filters=filters)
    result = check_watches([w], log)
    assert kind in kinds(result), result.violations


def test_watch_filtered_and_single_key_watchers_pass() -> None:
    log = log_of(good_history())
    e2, _, e4, _ = ALL_EVENTS
    w1 = watch(7, "a", 3, [resp(e4)], prefix=False)
    w2 = watch(8, "", 1, [resp(e2), resp(e4)], filters=("nodelete",), prefix=True)
    w2 = dataclasses.replace(w2, responses=(resp(e2, ALL_EVENTS[1]), resp(e4)))
    assert check_watches([w1, w2], log, until=4).valid is True
    assert "incomplete" in kinds(check_watches([w1], log, until=5))


def test_revision_going_backwards_is_flagged() -> None:
    ops = [get(1, "a", (0, 1), 5, "x", 5, member="m1"), get(1, "a", (2, 3), 4, "x", 4, member="m2")]
    assert "revision-backwards" in kinds(check_monotonic(ops))
    per_member = [get(1, "a", (0, 1), 5, "x", 5, serializable=True, member="m1"),
                  get(1, "a", (2, 3), 4, "x", 4, serializable=True, member="m1")]
    assert "revision-backwards" in kinds(check_monotonic(per_member))
    other_member = [per_member[0], dataclasses.replace(per_member[1], member="m2")]
    assert check_monotonic(other_member).valid is True
    # a member restarted (after a crash) between the two serializable reads: a new lifetime, not a violation
    assert check_monotonic(per_member, {"m1": [1.5]}).valid is True
    assert "revision-backwards" in kinds(check_monotonic(per_member, {"m1": [3.5]}))  # restarted after both
    assert "revision-backwards" in kinds(check_monotonic(per_member, {"m2": [1.5]}))  # another member's restart
    # linearizable ops stay checked per client across any restart
    assert "revision-backwards" in kinds(check_monotonic(ops, {"m1": [1.5], "m2": [1.5]}))


def test_hashkv() -> None:
    same = [HashKV("m1", 10, 0, 0xABC), HashKV("m2", 10, 0, 0xABC)]
    assert check_hashkv(same).valid is True
    assert "divergent" in kinds(check_hashkv([*same, HashKV("m3", 10, 0, 0xABD)]))
    assert "different-revisions" in kinds(check_hashkv([*same, HashKV("m3", 9, 0, 0xABC)]))


def test_logs() -> None:
    clean = {"m1": '{"level":"info","msg":"ready"}\n', "m2": "INFO raftkv started\n"}
    assert check_logs(clean).valid is True
    bad = {**clean, "m3": 'x\n{"level":"panic","msg":"boom"}\n'}
    assert "panic" in kinds(check_logs(bad))
    assert check_logs({"m": "Traceback (most recent call last):\n  File x\n"}).valid is False
    assert check_logs({"m": "panic: runtime error\n\ngoroutine 1 [running]:\n"}).valid is False


def test_duplicate_values_are_refused() -> None:
    ops = [put(1, "a", "same", (0, 1), 2), put(2, "b", "same", (2, 3), 3)]
    with pytest.raises(HistoryError, match="written twice"):
        check_witness(ops, Log.from_writes(ops[:1]))
