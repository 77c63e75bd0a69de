"""Wing–Gong/Lowe linearizability search per key (porcupine's algorithm), with a budget and an honest `unknown`.

Linearizability is local (Herlihy–Wing), so single-key ops are checked key by key. The model is a register
holding (value, mod_revision). Indeterminate writes return at +inf: they may take effect at any point
after their call or never. Definitely failed writes (the workload's FAIL: refused by the server or never
sent) took no effect and are dropped. Failed/indeterminate reads and serializable reads carry no constraint and are dropped.
The caller bounds the work with `max_steps` and optionally `now`/`deadline` (time arrives from outside): when
either runs out the answer is `None` (unknown), never a pass.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from raftkv.chaos.checkers.history import (
    CAS,
    DELETE,
    FAIL,
    GET,
    INDETERMINATE,
    KV,
    OK,
    PUT,
    TXN,
    Op,
    Result,
    Violation,
)
from raftkv.chaos.checkers.log import Log

NAME = "wgl"
DEFAULT_MAX_STEPS = 5_000_000
CLOCK_CHECK_EVERY = 4096

State = tuple[str | None, int | None]  # value, mod_revision (None: not known)


@dataclass
class _Node:
    op: int
    is_call: bool
    time: float
    prev: _Node | None = None
    next: _Node | None = None
    match: _Node | None = None


def _reads_match(state: State, kv: KV) -> bool:
    value, mod = state
    if kv.value != value:
        return False
    return kv.value is None or mod is None or not kv.mod_revision or kv.mod_revision == mod


def _step(state: State, op: Op, key: str, rev_of: dict[str, int]) -> State | None:
    """The register model: the next state, or None if `op` cannot take effect in `state`."""
    value, mod = state
    done = op.outcome == OK
    if op.kind == TXN:  # projected onto this key: its reads of the key, then its write of the key if any
        if not all(_reads_match(state, kv) for kv in op.reads if kv.key == key):
            return None
        if done and not op.succeeded:
            return state
        for k, v in op.writes:
            if k == key:
                return (v, (op.revision if done else rev_of.get(v))) if v is not None else (None, 0)
        return state
    if op.kind == GET:
        return state if _reads_match(state, op.reads[0] if op.reads else KV(key, None)) else None
    if op.kind == PUT:
        return (op.value, op.revision if done else rev_of.get(op.value or ""))
    if op.kind == DELETE:
        if done and (op.deleted > 0) != (value is not None):
            return None
        return (None, 0)
    if op.kind == CAS:
        matches = None if mod is None else mod == op.expect_mod_revision
        if value is None and op.expect_mod_revision == 0:
            matches = True
        if done and not op.succeeded:
            return None if matches is True else state
        if matches is False:
            return None
        return (op.value, op.revision if done else rev_of.get(op.value or ""))
    return None


def _relevant(op: Op) -> bool:
    if op.outcome == FAIL:
        return False  # definitely not applied (refused, or never sent): no constraint, and no open-ended op
    if op.kind == GET:
        return op.outcome == OK and not op.serializable and len(op.keys) == 1
    if op.kind == TXN:
        return op.outcome == OK or bool(op.writes)
    return op.kind in (PUT, DELETE, CAS) and len(op.keys) == 1


def check_key(key: str, ops: list[Op], max_steps: int = DEFAULT_MAX_STEPS, now: Callable[[], float] | None = None,
              deadline: float = math.inf, rev_of: dict[str, int] | None = None) -> bool | None:
    """True if the single-key history is linearizable, False if not, None if the budget ran out."""
    rev_of = rev_of or {}
    nodes: list[_Node] = []
    for i, op in enumerate(ops):
        call = _Node(i, True, op.invoke)
        ret = _Node(i, False, op.complete if op.outcome == OK else math.inf)
        call.match = ret
        nodes += [call, ret]
    nodes.sort(key=lambda n: (n.time, not n.is_call))
    head = _Node(-1, True, -math.inf)
    prev = head
    for n in nodes:
        prev.next, n.prev = n, prev
        prev = n

    def lift(call: _Node) -> None:
        assert call.prev is not None and call.match is not None and call.match.prev is not None
        call.prev.next = call.next
        if call.next:
            call.next.prev = call.prev
        ret = call.match
        ret.prev.next = ret.next  # type: ignore[union-attr]
        if ret.next:
            ret.next.prev = ret.prev

    def unlift(call: _Node) -> None:
        ret = call.match
        assert ret is not None and ret.prev is not None and call.prev is not None
        ret.prev.next = ret
        if ret.next:
            ret.next.prev = ret
        call.prev.next = call
        if call.next:
            call.next.prev = call

    state: State = (None, 0)
    linearized = 0
    cache: set[tuple[int, State]] = set()
    stack: list[tuple[_Node, State]] = []
    entry = head.next
    steps = 0
    while entry is not None:
        steps += 1
        if steps > max_steps:
            return None
        if now is not None and steps % CLOCK_CHECK_EVERY == 0 and now() > deadline:
            return None
        if entry.is_call:
            new = _step(state, ops[entry.op], key, rev_of)
            if new is not None:
                lin = linearized | (1 << entry.op)
                if (lin, new) not in cache:
                    cache.add((lin, new))
                    stack.append((entry, state))
                    state, linearized = new, lin
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if entry.time == math.inf:
                return True  # only ops that may never have happened remain
            if not stack:
                return False
            call, state = stack.pop()
            linearized &= ~(1 << call.op)
            unlift(call)
            entry = call.next
    return True


def resolve_indeterminate(ops: list[Op], log: Log) -> tuple[list[Op], int, int]:
    """Patch timed-out writes with the log of record (etcd's robustness tests do the same with the WAL).

    A timed-out write whose unique values are all absent from the log never took effect: it is removed. One
    whose value is in the log took effect at that revision and was over by the time the first response showing
    that revision (or a later one) completed: it becomes an acknowledged write ending then. Writes without a
    unique value (deletes) stay open. Sound because the log is itself verified by the witness checker; it only
    shrinks the search (open-ended ops are what make WGL blow up). Returns (ops, removed, resolved).
    """
    seen = sorted((op.revision, op.complete) for op in ops if op.outcome == OK and op.revision)
    suffix_min: list[float] = [math.inf] * (len(seen) + 1)
    for i in range(len(seen) - 1, -1, -1):
        suffix_min[i] = min(seen[i][1], suffix_min[i + 1])
    revs = [r for r, _ in seen]
    out: list[Op] = []
    removed = resolved = 0
    for op in ops:
        if op.outcome != INDETERMINATE or op.kind not in (PUT, CAS, TXN):
            out.append(op)
            continue
        values = [op.value] if op.kind in (PUT, CAS) else [v for _, v in op.writes]
        if not values or any(v is None for v in values):
            out.append(op)
            continue
        found = [log.values[v][1] for v in values if v in log.values]  # type: ignore[index]
        if not found:
            removed += 1
            continue
        rev = found[0]
        first = suffix_min[bisect.bisect_left(revs, rev)]
        if len(found) != len(values) or first == math.inf or first < op.invoke:
            out.append(op)  # partial or impossible: the witness checker reports it; leave the op open here
            continue
        out.append(Op(op.client, op.kind, op.keys, op.invoke, first, OK, value=op.value, member=op.member,
                      revision=rev, succeeded=True, expect_mod_revision=op.expect_mod_revision,
                      writes=op.writes, error=op.error))
        resolved += 1
    return out, removed, resolved


def check_wgl(ops: list[Op], max_steps_per_key: int = DEFAULT_MAX_STEPS, now: Callable[[], float] | None = None,
              deadline: float = math.inf, log: Log | None = None) -> Result:
    """Check every key; a multi-key txn is projected onto each key it reads or writes (sound, not complete:
    cross-key atomicity is the witness checker's job). With the log of record, timed-out writes are resolved
    first (`resolve_indeterminate`)."""
    patched = ""
    if log is not None:
        ops, removed, resolved = resolve_indeterminate(ops, log)
        patched = f"; {removed} timed-out writes never applied (dropped), {resolved} resolved from the log"
    per_key: dict[str, list[Op]] = defaultdict(list)
    rev_of: dict[str, int] = {}
    for op in ops:
        for kv in op.reads:
            if kv.value is not None and kv.mod_revision:
                rev_of[kv.value] = kv.mod_revision
    for op in ops:
        if _relevant(op):
            for key in op.keys:
                per_key[key].append(op)
    violations: list[Violation] = []
    unknown: list[str] = []
    for key in sorted(per_key):
        verdict = check_key(key, per_key[key], max_steps_per_key, now, deadline, rev_of)
        if verdict is None:
            unknown.append(key)
        elif not verdict:
            violations.append(Violation(NAME, "not-linearizable",
                                        f"no linearization of the {len(per_key[key])} ops on {key!r}",
                                        tuple(per_key[key])))
    valid: bool | None = False if violations else (None if unknown else True)
    info = f"{len(per_key)} keys" + patched + (f"; unknown (budget exhausted) for {unknown}" if unknown else "")
    return Result(NAME, valid, tuple(violations), info)
