"""No false alarms: histories generated from a sequential model are linearizable by construction.

Each op takes effect at a linearization point p_i = 10*i; its invoke/complete times are drawn around p_i, so
ops overlap arbitrarily. Some writes time out (indeterminate) and either happened or not; serializable reads
see an arbitrary earlier revision. Every checker must pass every such history.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftkv.chaos.checkers import KV, Log, check_no_lost_writes, check_watches, check_wgl, check_witness
from raftkv.chaos.checkers.history import (
    CAS,
    DELETE,
    GET,
    INDETERMINATE,
    OK,
    PUT,
    TXN,
    Event,
    Op,
    WatchResponse,
)
from raftkv.chaos.checkers.log import written

pytestmark = pytest.mark.unit
KEYS = ["a", "b", "c"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Op], Log, dict[str, KV]]:
    n = draw(st.integers(1, 40))
    rev = 1
    state: dict[str, KV] = {}
    snapshots: list[dict[str, KV]] = [dict(state)]  # index = revision - 1
    ops: list[Op] = []
    log: dict[int, list[tuple[str, str | None]]] = {}

    def write(key_values: list[tuple[str, str | None]]) -> int:
        nonlocal rev
        rev += 1
        for k, v in key_values:
            if v is None:
                state.pop(k, None)
            else:
                old = state.get(k)
                state[k] = KV(k, v, rev, old.create_revision if old else rev, old.version + 1 if old else 1)
        log[rev] = key_values
        snapshots.append(dict(state))
        return rev

    for i in range(n):
        p = 10.0 * i
        t0 = p - draw(st.floats(0, 25))
        t1 = p + draw(st.floats(0, 25))
        key = draw(st.sampled_from(KEYS))
        kind = draw(st.sampled_from([PUT, PUT, GET, GET, DELETE, CAS, TXN]))
        timeout = kind in (PUT, CAS) and draw(st.integers(0, 9)) == 0
        value = f"v{i}"
        if kind == PUT:
            happened = not timeout or draw(st.booleans())
            r = write([(key, value)]) if happened else 0
            ops.append(Op(i, PUT, (key,), t0, math.inf if timeout else t1, INDETERMINATE if timeout else OK,
                          value=value, revision=0 if timeout else r))
        elif kind == GET:
            serializable = draw(st.booleans())
            at = draw(st.integers(1, rev)) if serializable else rev
            kv = snapshots[at - 1].get(key) or KV(key, None)
            ops.append(Op(i, GET, (key,), t0, t1, OK, serializable=serializable, revision=at,
                          reads=(KV(key, kv.value, kv.mod_revision),)))
        elif kind == DELETE:
            existed = key in state
            r = write([(key, None)]) if existed else rev
            ops.append(Op(i, DELETE, (key,), t0, t1, OK, revision=r, deleted=int(existed)))
        elif kind == CAS:
            current = state[key].mod_revision if key in state else 0
            expect = current if draw(st.booleans()) else current + 1
            ok = expect == current
            happened = ok and (not timeout or draw(st.booleans()))
            r = write([(key, value)]) if happened else rev
            ops.append(Op(i, CAS, (key,), t0, math.inf if timeout else t1, INDETERMINATE if timeout else OK,
                          value=value, revision=0 if timeout else r, succeeded=ok, expect_mod_revision=expect))
        else:
            others = [k for k in KEYS if k != key]
            reads = tuple(KV(k, state[k].value if k in state else None,
                             state[k].mod_revision if k in state else 0) for k in KEYS)
            writes: tuple[tuple[str, str | None], ...] = ((key, value), (others[0], f"{value}x"))
            r = write(list(writes))
            ops.append(Op(i, TXN, tuple(KEYS), t0, t1, OK, revision=r, succeeded=True, reads=reads, writes=writes))
    the_log = Log(log)
    events = the_log.events(1, rev)
    start = draw(st.integers(1, rev + 1))
    prefix_key = draw(st.sampled_from(["", "a"]))
    mine = [e for e in events if e.mod_revision >= start and e.key.startswith(prefix_key)]
    groups: dict[int, list[Event]] = {}
    for e in mine:
        groups.setdefault(e.mod_revision, []).append(e)
    responses = tuple(WatchResponse(r, tuple(es)) for r, es in groups.items())
    ops.append(Op(99, "watch", (prefix_key,), 0, 10.0 * n + 30, OK, watch_start=start, watch_prefix=True,
                  watch_prev_kv=True, responses=responses))
    final = {k: state.get(k) or KV(k, None) for k in KEYS}
    return ops, the_log, final


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_sequential_histories_pass_every_checker(h: tuple[list[Op], Log, dict[str, KV]]) -> None:
    ops, log, final = h
    for result in (check_witness(ops, log), check_wgl(ops), check_watches(ops, log),
                   check_no_lost_writes(ops, final)):
        assert result.valid is True, [str(v) for v in result.violations]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_a_read_made_stale_after_a_later_write_completed_is_caught(h: tuple[list[Op], Log, dict[str, KV]],
                                                                  data: st.DataObject) -> None:
    """Mutation check: rewind one linearizable read to an older revision whose value differs.

    The witness checker must always catch it (it knows revisions). The value-based WGL search must catch it
    when real time alone forbids it: the stale value's write finished before the overwrite began, and the
    overwrite finished before the read began.
    """
    ops, log, _ = h
    writer = {o.value: o for o in ops if o.kind in (PUT, CAS) and o.value}
    for j, op in enumerate(ops):
        if op.kind != GET or op.serializable:
            continue
        key = op.keys[0]
        for older in range(op.revision - 1, 0, -1):
            st_old = log.state(key, older)
            overwrites = [o for o in ops if o.outcome == OK and o.is_write and o.complete < op.invoke
                          and older < o.revision <= op.revision and key in dict(written(o))]
            if st_old.value == op.reads[0].value or not overwrites:
                continue
            stale = Op(op.client, GET, (key,), op.invoke, op.complete, OK, revision=older,
                       reads=(KV(key, st_old.value, st_old.mod_revision),))
            bad = ops[:j] + [stale] + ops[j + 1:]
            assert check_witness(bad, log).valid is False
            w = writer.get(st_old.value or "")
            if w is not None and w.outcome == OK and any(w.complete < o.invoke for o in overwrites):
                assert check_wgl(bad).valid is False
            return
