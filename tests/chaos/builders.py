"""Terse constructors for hand-written histories in checker tests."""

from __future__ import annotations

from raftkv.chaos.checkers.history import CAS, DELETE, GET, KV, OK, PUT, TXN, WATCH, Event, Op, WatchResponse


def put(c: int, key: str, value: str, t: tuple[float, float], rev: int, outcome: str = OK, member: str = "") -> Op:
    return Op(c, PUT, (key,), t[0], t[1], outcome, value=value, revision=rev, member=member)


def get(c: int, key: str, t: tuple[float, float], rev: int, value: str | None, mod: int = 0,
        serializable: bool = False, member: str = "") -> Op:
    return Op(c, GET, (key,), t[0], t[1], OK, serializable=serializable, revision=rev,
              reads=(KV(key, value, mod),), member=member)


def delete(c: int, key: str, t: tuple[float, float], rev: int, deleted: int = 1, outcome: str = OK) -> Op:
    return Op(c, DELETE, (key,), t[0], t[1], outcome, revision=rev, deleted=deleted)


def cas(c: int, key: str, expect: int, value: str, t: tuple[float, float], rev: int, succeeded: bool,
        outcome: str = OK) -> Op:
    return Op(c, CAS, (key,), t[0], t[1], outcome, value=value, revision=rev, succeeded=succeeded,
              expect_mod_revision=expect)


def txn(c: int, t: tuple[float, float], rev: int, reads: tuple[KV, ...], writes: tuple[tuple[str, str | None], ...],
        outcome: str = OK) -> Op:
    keys = tuple(sorted({kv.key for kv in reads} | {k for k, _ in writes}))
    return Op(c, TXN, keys, t[0], t[1], outcome, revision=rev, succeeded=True, reads=reads, writes=writes)


def ev(rev: int, key: str, value: str | None, create: int = 0, version: int = 0, prev: str | None = None) -> Event:
    return Event("put" if value is not None else "delete", key, value, rev, create, version, prev, prev is not None)


def watch(c: int, key: str, start: int, responses: list[WatchResponse], t: tuple[float, float] = (0, 100),
          prefix: bool = True, prev_kv: bool = False, filters: tuple[str, ...] = ()) -> Op:
    return Op(c, WATCH, (key,), t[0], t[1], OK, watch_start=start, watch_prefix=prefix, watch_prev_kv=prev_kv,
              watch_filters=filters, responses=tuple(responses))


def resp(*events: Event, rev: int | None = None, progress: bool = False) -> WatchResponse:
    return WatchResponse(rev if rev is not None else max((e.mod_revision for e in events), default=0),
                         tuple(events), progress)
