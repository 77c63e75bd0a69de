"""The history format shared by the workload recorder and every checker.

One `Op` per client request, with monotonic invoke/complete times taken by the adapter, so checkers can reason
about real-time order without reading a clock themselves. Timeouts are `INDETERMINATE`: the request may or may
not have taken effect, which is exactly what the checkers must allow for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

PUT = "put"
GET = "get"
DELETE = "delete"
CAS = "txn-cas"
TXN = "txn"
WATCH = "watch"
KINDS = frozenset({PUT, GET, DELETE, CAS, TXN, WATCH})

OK = "ok"
FAIL = "fail"
INDETERMINATE = "indeterminate"
OUTCOMES = frozenset({OK, FAIL, INDETERMINATE})

MAX_HISTORY_OPS = 2_000_000


class HistoryError(ValueError):
    """A history record is malformed (unknown kind/outcome, missing field, times out of order)."""


@dataclass(frozen=True)
class KV:
    """A key as a response showed it; `value is None` means the key was absent."""

    key: str
    value: str | None
    mod_revision: int = 0
    create_revision: int = 0
    version: int = 0


@dataclass(frozen=True)
class Event:
    """One watch event: `type` is "put" or "delete"; prev is the prev_kv when the watch asked for it."""

    type: str
    key: str
    value: str | None
    mod_revision: int
    create_revision: int = 0
    version: int = 0
    prev_value: str | None = None
    has_prev: bool = False


@dataclass(frozen=True)
class WatchResponse:
    """One WatchResponse as received: header revision, its events, and whether it was a progress notify."""

    revision: int
    events: tuple[Event, ...] = ()
    progress_notify: bool = False


@dataclass(frozen=True)
class Op:
    """One client operation.

    kind: put | get | delete | txn-cas | txn | watch.
    keys: the keys written or read (a CAS: the one key). value: the unique value a put/CAS writes.
    expect_mod_revision: a CAS compares `mod_revision(key) == expect_mod_revision`.
    serializable: a get served by the member without a ReadIndex round (may be stale).
    revision: header.revision of the response. succeeded: a txn/CAS took its success branch.
    reads: what a get / txn read returned, per key. writes: (key, value) pairs the txn's taken branch writes.
    deleted: how many keys a delete removed. watch_*: a watcher's parameters and what it received.
    """

    client: int
    kind: str
    keys: tuple[str, ...]
    invoke: float
    complete: float
    outcome: str
    value: str | None = None
    serializable: bool = False
    member: str = ""
    revision: int = 0
    succeeded: bool | None = None
    expect_mod_revision: int | None = None
    reads: tuple[KV, ...] = ()
    writes: tuple[tuple[str, str | None], ...] = ()
    deleted: int = 0
    error: str = ""
    watch_start: int = 0
    watch_prefix: bool = False
    watch_prev_kv: bool = False
    watch_filters: tuple[str, ...] = ()
    responses: tuple[WatchResponse, ...] = field(default=())

    @property
    def is_write(self) -> bool:
        return self.kind in (PUT, DELETE, CAS, TXN)

    @property
    def effective_complete(self) -> float:
        """When the op is known to be over: never, for one that timed out (it may still take effect)."""
        return math.inf if self.outcome == INDETERMINATE else self.complete


def validate(op: Op) -> None:
    if op.kind not in KINDS:
        raise HistoryError(f"unknown op kind {op.kind!r}")
    if op.outcome not in OUTCOMES:
        raise HistoryError(f"unknown outcome {op.outcome!r}")
    if op.complete < op.invoke:
        raise HistoryError(f"op of client {op.client} completes ({op.complete}) before it is invoked ({op.invoke})")
    if not op.keys:
        raise HistoryError(f"{op.kind} op of client {op.client} has no key")
    if op.kind == CAS and op.expect_mod_revision is None:
        raise HistoryError("txn-cas op has no expect_mod_revision")


def _op_from_dict(d: dict[str, Any]) -> Op:
    try:
        d = dict(d)
        d["keys"] = tuple(d["keys"])
        d["reads"] = tuple(KV(**kv) for kv in d.get("reads", ()))
        d["writes"] = tuple((k, v) for k, v in d.get("writes", ()))
        d["watch_filters"] = tuple(d.get("watch_filters", ()))
        d["responses"] = tuple(
            WatchResponse(r["revision"], tuple(Event(**e) for e in r.get("events", ())),
                          r.get("progress_notify", False))
            for r in d.get("responses", ()))
        op = Op(**d)
    except (KeyError, TypeError) as e:
        raise HistoryError(f"malformed op record: {e}") from e
    validate(op)
    return op


def _encode_float(x: float) -> float | str:
    return "inf" if x == math.inf else x


def to_json(ops: Iterable[Op]) -> str:
    """JSON Lines, one op per line (inf encoded as the string "inf")."""
    lines = []
    for op in ops:
        d = asdict(op)
        d["invoke"] = _encode_float(op.invoke)
        d["complete"] = _encode_float(op.complete)
        lines.append(json.dumps(d, sort_keys=True))
    return "\n".join(lines) + ("\n" if lines else "")


def from_json(text: str) -> list[Op]:
    ops: list[Op] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if len(ops) >= MAX_HISTORY_OPS:
            raise HistoryError(f"history longer than {MAX_HISTORY_OPS} ops")
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise HistoryError(f"line {n}: not JSON: {e}") from e
        if not isinstance(d, dict):
            raise HistoryError(f"line {n}: not an object")
        for t in ("invoke", "complete"):
            if d.get(t) == "inf":
                d[t] = math.inf
        ops.append(_op_from_dict(d))
    return ops


@dataclass(frozen=True)
class Violation:
    """One finding: which checker, a short kind tag, a human sentence, and the ops involved."""

    checker: str
    kind: str
    message: str
    ops: tuple[Op, ...] = ()

    def __str__(self) -> str:
        return f"[{self.checker}/{self.kind}] {self.message}"


@dataclass(frozen=True)
class Result:
    """A checker's verdict: valid is True, False, or None for "unknown" (budget ran out; never a pass)."""

    checker: str
    valid: bool | None
    violations: tuple[Violation, ...] = ()
    info: str = ""

    @property
    def ok(self) -> bool:
        return self.valid is True
