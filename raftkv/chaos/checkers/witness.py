"""Revision-witness linearizability checker over the whole (multi-key) history.

etcd stamps every response with the store revision, so instead of searching for an order we verify the one
the server claims: the log of record orders writes by revision; real time must agree with revision order; and
every read at revision R must return, per key, exactly the log's state at R. O(n log n). Indeterminate (and
failed) writes may or may not be in the log; if one is, it must have been invoked before anything that
observed it completed.
"""

from __future__ import annotations

from collections import defaultdict

from raftkv.chaos.checkers.history import (
    CAS,
    DELETE,
    GET,
    INDETERMINATE,
    OK,
    PUT,
    TXN,
    WATCH,
    HistoryError,
    Op,
    Result,
    Violation,
)
from raftkv.chaos.checkers.log import Log, written

NAME = "witness"


def _v(kind: str, msg: str, *ops: Op) -> Violation:
    return Violation(NAME, kind, msg, ops)


def _check_unique_values(ops: list[Op]) -> None:
    seen: dict[str, Op] = {}
    for op in ops:
        for value in [v for _, v in _all_writes(op) if v is not None]:
            if value in seen and seen[value] is not op:
                raise HistoryError(f"value {value!r} written twice; the workload must write unique values")
            seen[value] = op


def _all_writes(op: Op) -> tuple[tuple[str, str | None], ...]:
    if op.kind in (PUT, CAS):
        return ((op.keys[0], op.value),)
    if op.kind == TXN:
        return op.writes
    return ()


def check_witness(ops: list[Op], log: Log) -> Result:
    """Check the history against the log of record; returns every violation found, not just the first."""
    _check_unique_values(ops)
    violations: list[Violation] = []
    by_value: dict[str, Op] = {}
    for op in ops:
        for _, value in _all_writes(op):
            if value is not None:
                by_value[value] = op

    # (a) the log itself: gap-free revisions, no phantom writes
    revs = sorted(log.entries)
    for a, b in zip(revs, revs[1:], strict=False):
        if b != a + 1:
            violations.append(_v("log-gap", f"log jumps from revision {a} to {b}"))
    deletes_by_key: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.kind == DELETE:
            deletes_by_key[op.keys[0]].append(op)
    log_rev_of: dict[int, int] = {}  # id(op) -> revision the log says it took effect at
    for rev, writes in log.entries.items():
        for key, value in writes:
            if value is None:
                if not any(d.outcome != OK or (d.revision == rev and d.deleted) for d in deletes_by_key[key]) \
                        and not any(w.kind == TXN and (key, None) in w.writes for w in ops):
                    violations.append(_v("phantom-delete", f"log deletes {key!r} at {rev}; no client did"))
                continue
            writer = by_value.get(value)
            if writer is None:
                violations.append(_v("phantom-write", f"log has {key}={value!r} at {rev}; no client wrote it"))
            elif writer.outcome == OK and not (writer.kind == PUT or writer.succeeded):
                violations.append(_v("phantom-write", f"{value!r} in the log at {rev} though its txn failed",
                                     writer))
            else:
                log_rev_of[id(writer)] = rev

    # acknowledged writes are in the log at the revision they were acknowledged with
    for op in ops:
        if op.outcome != OK:
            continue
        ws = written(op)
        if not ws:
            continue
        got = set(log.entries.get(op.revision, ()))
        missing = [w for w in ws if w not in got]
        if missing:
            violations.append(_v("lost-write", f"acknowledged {op.kind} of {missing} at revision {op.revision} "
                                 f"is not in the log (log has {sorted(got, key=str)})", op))

    # (b) real time agrees with revision order
    timed: list[tuple[Op, int, bool]] = []  # op, revision, creates a revision
    for op in ops:
        if op.outcome == OK:
            writes_now = bool(written(op))
            if (op.kind == GET and op.serializable) or op.kind == WATCH:
                continue  # stale by design (checked against the log below) / checked by the watch checker
            timed.append((op, op.revision, writes_now))
        elif op.is_write and id(op) in log_rev_of:
            timed.append((op, log_rev_of[id(op)], True))
    completed = sorted((t for t in timed if t[0].outcome == OK), key=lambda t: t[0].complete)
    invoked = sorted(timed, key=lambda t: t[0].invoke)
    i = 0
    best: tuple[Op, int] | None = None
    for op, rev, writes_now in invoked:
        while i < len(completed) and completed[i][0].complete < op.invoke:
            if best is None or completed[i][1] > best[1]:
                best = (completed[i][0], completed[i][1])
            i += 1
        if best is None:
            continue
        prior, prior_rev = best
        if rev < prior_rev or (writes_now and rev == prior_rev):
            what = "stale-read" if not writes_now else "write-reordered"
            violations.append(_v(what, f"{op.kind} {list(op.keys)} by client {op.client} invoked at {op.invoke} "
                                 f"has revision {rev}, but {prior.kind} {list(prior.keys)} by client "
                                 f"{prior.client} completed at {prior.complete} with revision {prior_rev}",
                                 prior, op))

    # (c) every read returns the log's state at its revision; CAS compares saw the right mod_revision
    last = log.last_revision
    for op in ops:
        if op.outcome != OK:
            continue
        if op.kind in (GET, TXN) or (op.kind == CAS and op.reads):
            if op.revision > last and op.kind == GET:
                violations.append(_v("future-read", f"read at revision {op.revision} beyond the log's {last}", op))
            at = op.revision - 1 if written(op) else op.revision
            for kv in op.reads:
                st = log.state(kv.key, at)
                if st.value != kv.value or (kv.value is not None and st.mod_revision != kv.mod_revision):
                    violations.append(_v("wrong-read", f"{op.kind} by client {op.client} at revision {op.revision} "
                                         f"read {kv.key}={kv.value!r}@{kv.mod_revision}; the log has "
                                         f"{st.value!r}@{st.mod_revision}", op))
        if op.kind == CAS:
            at = op.revision - 1 if op.succeeded else op.revision
            st = log.state(op.keys[0], at)
            if (st.mod_revision == op.expect_mod_revision) != bool(op.succeeded):
                violations.append(_v("wrong-cas", f"CAS on {op.keys[0]} expecting mod_revision "
                                     f"{op.expect_mod_revision} {'succeeded' if op.succeeded else 'failed'} at "
                                     f"revision {op.revision}, but the key's mod_revision there was "
                                     f"{st.mod_revision}", op))
    n_ind = sum(1 for op in ops if op.outcome == INDETERMINATE)
    return Result(NAME, not violations, tuple(violations),
                  f"{len(ops)} ops, {len(log.entries)} logged revisions, {n_ind} indeterminate")
