"""Watch guarantees as etcd documents them, checked per watcher against the log of record.

Ordered (revisions never go back), unique (no (revision, key) twice), atomic (a revision's events arrive in one
response), reliable (no gap: every matching log event between the start and the last revision the watcher
vouched for was delivered), resumable (the first event is the first matching one at or after the start),
bookmarkable (nothing at or below a progress-notify revision arrives after it), correct prev_kv, create
revision/version (the "IsCreate" flag) and filters. Each watcher has its start revision, key or prefix,
filters and prev_kv option recorded in its `Op`.
"""

from __future__ import annotations

from raftkv.chaos.checkers.history import WATCH, Event, Op, Result, Violation
from raftkv.chaos.checkers.log import Log

NAME = "watch"
FILTERS = {"noput": "put", "nodelete": "delete"}


def _matches(op: Op, ev: Event) -> bool:
    key = op.keys[0]
    in_range = ev.key.startswith(key) if op.watch_prefix else ev.key == key
    return in_range and not any(FILTERS.get(f) == ev.type for f in op.watch_filters)


def check_watcher(op: Op, log: Log, until: int | None = None) -> list[Violation]:
    """`until`: a revision the watcher must have reached (e.g. the final revision, when it ran to the end)."""
    out: list[Violation] = []

    def bad(kind: str, msg: str) -> None:
        out.append(Violation(NAME, kind, f"watcher of client {op.client} on {op.keys[0]!r} from "
                             f"{op.watch_start}: {msg}", (op,)))

    seen: set[tuple[int, str]] = set()
    last_rev = 0          # highest event revision delivered so far
    vouched = 0           # highest revision the watcher is promised complete up to
    bookmark = 0
    received: list[Event] = []
    for resp in op.responses:
        if resp.progress_notify and not resp.events:
            if resp.revision < vouched:
                bad("bookmark-backwards", f"progress notify at {resp.revision} after {vouched}")
            bookmark = max(bookmark, resp.revision)
            vouched = max(vouched, resp.revision)
            continue
        revs_here: list[int] = []
        for ev in resp.events:
            if ev.mod_revision <= bookmark:
                bad("bookmark", f"event at {ev.mod_revision} after a progress notify at {bookmark}")
            if ev.mod_revision < last_rev:
                bad("unordered", f"event at {ev.mod_revision} after one at {last_rev}")
            elif ev.mod_revision == last_rev and ev.mod_revision not in revs_here:
                bad("not-atomic", f"revision {ev.mod_revision} split across responses")
            if (ev.mod_revision, ev.key) in seen:
                bad("duplicate", f"event ({ev.mod_revision}, {ev.key!r}) delivered twice")
            seen.add((ev.mod_revision, ev.key))
            revs_here.append(ev.mod_revision)
            last_rev = max(last_rev, ev.mod_revision)
            received.append(ev)
        vouched = max(vouched, last_rev)
    if until is not None and vouched < until:
        bad("incomplete", f"reached only revision {vouched}, expected at least {until}")
    expected = [ev for ev in log.events(op.watch_start, vouched) if _matches(op, ev)]
    exp_keys = {(e.mod_revision, e.key): e for e in expected}
    got_keys = {(e.mod_revision, e.key): e for e in received}
    missing = sorted(set(exp_keys) - set(got_keys))
    if missing:
        first = expected[0] if expected else None
        if first is not None and received and (first.mod_revision, first.key) in missing \
                and received[0].mod_revision > first.mod_revision:
            bad("not-resumable", f"first event at {received[0].mod_revision}, expected {first.mod_revision}")
        bad("gap", f"{len(missing)} events missing, first {missing[:3]}")
    for k in sorted(set(got_keys) - set(exp_keys)):
        ev = got_keys[k]
        if ev.mod_revision < op.watch_start:
            bad("before-start", f"event at {ev.mod_revision} before the start revision")
        elif not _matches(op, ev):
            bad("filter", f"event {ev.type} {ev.key!r} at {ev.mod_revision} does not match the watch")
        else:
            bad("phantom-event", f"event {ev.type} {ev.key!r} at {ev.mod_revision} is not in the log")
    for k, ev in got_keys.items():
        want = exp_keys.get(k)
        if want is None:
            continue
        if (ev.type, ev.value) != (want.type, want.value):
            bad("wrong-event", f"at {k}: {ev.type} {ev.value!r}, log has {want.type} {want.value!r}")
        if ev.type == "put" and (ev.create_revision, ev.version) != (want.create_revision, want.version):
            bad("wrong-create", f"at {k}: create_revision/version {ev.create_revision}/{ev.version}, "
                f"log says {want.create_revision}/{want.version}")
        if op.watch_prev_kv and (ev.has_prev, ev.prev_value) != (want.has_prev, want.prev_value):
            bad("wrong-prev-kv", f"at {k}: prev_kv {ev.prev_value!r}, log says {want.prev_value!r}")
    return out


def check_watches(ops: list[Op], log: Log, until: int | None = None) -> Result:
    watchers = [op for op in ops if op.kind == WATCH]
    violations = [v for op in watchers for v in check_watcher(op, log, until)]
    return Result(NAME, not violations, tuple(violations), f"{len(watchers)} watchers")
