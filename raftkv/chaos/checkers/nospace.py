"""The NOSPACE alarm as etcd states it: once raised, writes that grow the database are refused with
"etcdserver: mvcc: database space exceeded" on every member, reads (and deletes) keep working, and writes work
again only after the alarm is disarmed.

A window runs from when the harness saw the alarm on the leader to when it began disarming it. The alarm is
applied through Raft, so any put invoked after the leader applied it is ordered after it and must be refused,
whichever member it was sent to.
"""

from __future__ import annotations

from collections.abc import Iterable

from raftkv.chaos.checkers.history import CAS, GET, OK, PUT, TXN, Op, Result, Violation

NOSPACE = "database space exceeded"  # etcd's ErrNoSpace: "etcdserver: mvcc: database space exceeded"


def _grows(op: Op) -> bool:
    """A write that can add data: a put, a CAS, a txn whose branch puts a value (a delete-only op may run)."""
    if op.kind in (PUT, CAS):
        return True
    return op.kind == TXN and any(v is not None for _, v in op.writes)


def check_nospace(history: Iterable[Op], windows: Iterable[tuple[float, float]]) -> Result:
    """In every (alarm seen, disarm began) window: no growing write invoked inside it is acknowledged, at least one
    is refused with etcd's NOSPACE message, and at least one read invoked inside it succeeds."""
    ops = list(history)
    windows = list(windows)
    violations: list[Violation] = []
    for start, end in windows:
        inside = [op for op in ops if start < op.invoke < end]
        acked = [op for op in inside if _grows(op) and op.outcome == OK]
        refused = [op for op in inside if _grows(op) and NOSPACE in op.error]
        reads = [op for op in inside if op.kind == GET and op.outcome == OK]
        where = f"alarm window {start:.3f}-{end:.3f}"
        if acked:
            violations.append(Violation("nospace", "write-acked-under-alarm", f"{where}: {len(acked)} write(s) "
                                        "that grow the database were acknowledged", tuple(acked[:5])))
        if not refused:
            violations.append(Violation("nospace", "no-refusal", f"{where}: no write was refused with "
                                        f"{NOSPACE!r} ({len([o for o in inside if _grows(o)])} writes tried)"))
        if not reads:
            violations.append(Violation("nospace", "reads-refused", f"{where}: no read succeeded "
                                        f"({len([o for o in inside if o.kind == GET])} tried)"))
    info = f"{len(windows)} alarm window(s)" if windows else "no NOSPACE alarm seen"
    return Result("nospace", bool(windows) and not violations, tuple(violations), info)
