"""Wing–Gong/Lowe linearizability search per key (porcupine's algorithm), with a budget and an honest `unknown`.

Linearizability is local (Herlihy–Wing), so single-key ops are checked key by key. The model is a register
holding (value, mod_revision). Failed and indeterminate writes return at +inf: they may take effect at any point
after their call or never. Failed/indeterminate reads and serializable reads carry no constraint and are dropped.
The caller bounds the work with `max_steps` and optionally `now`/`deadline` (time arrives from outside): when
either runs out the answer is `None` (unknown), never a pass.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from raftkv.chaos.checkers.history import CAS, DELETE, GET, KV, OK, PUT, TXN, Op, Result, Violation

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


def check_wgl(ops: list[Op], max_steps_per_key: int = DEFAULT_MAX_STEPS, now: Callable[[], float] | None = None,
              deadline: float = math.inf) -> Result:
    """Check every key; a multi-key txn is projected onto each key it reads or writes (sound, not complete:
    cross-key atomicity is the witness checker's job)."""
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
    info = f"{len(per_key)} keys" + (f"; unknown (budget exhausted) for {unknown}" if unknown else "")
    return Result(NAME, valid, tuple(violations), info)
