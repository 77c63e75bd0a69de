"""The NOSPACE checker on fake histories: it must flag a write acknowledged under the alarm, an alarm window
with no refusal, and one where reads were refused too; and pass the etcd behaviour."""

from __future__ import annotations

import pytest

from raftkv.chaos.checkers.history import DELETE, FAIL, GET, OK, PUT, TXN, Op
from raftkv.chaos.checkers.nospace import NOSPACE, check_nospace

pytestmark = pytest.mark.unit
REFUSED = f"RESOURCE_EXHAUSTED: etcdserver: mvcc: {NOSPACE}"


def _op(kind: str, t: float, outcome: str = OK, error: str = "", **kw: object) -> Op:
    return Op(1, kind, ("/k",), t, t + 0.01, outcome, error=error, **kw)  # type: ignore[arg-type]


GOOD = [_op(PUT, 0.5, value="a", revision=2),  # before the alarm
        _op(PUT, 1.2, FAIL, REFUSED, value="b"), _op(GET, 1.3),
        _op(DELETE, 1.4, revision=3),  # deletes may go on under the alarm
        _op(TXN, 1.5, revision=4, succeeded=True, writes=(("/k", None),)),  # a delete-only txn too
        _op(PUT, 2.5, value="c", revision=5)]  # after the disarm


def test_etcd_behaviour_passes() -> None:
    r = check_nospace(GOOD, [(1.0, 2.0)])
    assert r.valid is True, r.violations


def test_a_put_acknowledged_under_the_alarm_is_a_violation() -> None:
    r = check_nospace([*GOOD, _op(PUT, 1.6, value="x", revision=6)], [(1.0, 2.0)])
    assert r.valid is False and [v.kind for v in r.violations] == ["write-acked-under-alarm"]
    txn = _op(TXN, 1.6, revision=6, succeeded=True, writes=(("/k", "y"),))
    assert check_nospace([*GOOD, txn], [(1.0, 2.0)]).valid is False


def test_no_refusal_or_refused_reads_are_violations_and_no_window_is_not_a_pass() -> None:
    no_refusal = [op for op in GOOD if op.error != REFUSED]
    assert [v.kind for v in check_nospace(no_refusal, [(1.0, 2.0)]).violations] == ["no-refusal"]
    reads_down = [op for op in GOOD if op.kind != GET] + [_op(GET, 1.3, FAIL, "UNAVAILABLE")]
    assert [v.kind for v in check_nospace(reads_down, [(1.0, 2.0)]).violations] == ["reads-refused"]
    assert check_nospace(GOOD, []).valid is False
