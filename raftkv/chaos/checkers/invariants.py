"""Smaller end-of-run checks: no acknowledged write lost, HashKV agreement, revision monotonicity, clean logs."""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from raftkv.chaos.checkers.history import DELETE, GET, KV, OK, TXN, Op, Result, Violation
from raftkv.chaos.checkers.log import written


def check_no_lost_writes(ops: list[Op], final: Mapping[str, KV]) -> Result:
    """Every acknowledged write survives in a final linearizable read, or was overwritten/deleted later.

    `final` maps every written key to what a final read returned (value None = absent). A key whose final value
    is absent is fine only if some delete of it was at least attempted after the write.
    """
    violations: list[Violation] = []
    deletes: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        if op.kind == DELETE:
            deletes[op.keys[0]].append(op)
        elif op.kind == TXN:
            for k, v in op.writes:
                if v is None:
                    deletes[k].append(op)
    for op in ops:
        if op.outcome != OK:
            continue
        for key, value in written(op):
            if value is None:
                continue
            kv = final.get(key)
            if kv is None:
                violations.append(Violation("lost-writes", "no-final-read", f"no final read of {key!r}", (op,)))
            elif kv.value is None:
                if not any(d.outcome != OK or d.revision > op.revision for d in deletes[key]):
                    violations.append(Violation("lost-writes", "lost-write", f"{key}={value!r} acknowledged at "
                                                f"{op.revision} but the key is gone and nobody deleted it", (op,)))
            elif kv.mod_revision < op.revision or (kv.mod_revision == op.revision and kv.value != value):
                violations.append(Violation("lost-writes", "lost-write", f"{key}={value!r} acknowledged at "
                                            f"{op.revision}; final read has {kv.value!r}@{kv.mod_revision}", (op,)))
    return Result("lost-writes", not violations, tuple(violations), f"{len(final)} keys read at the end")


@dataclass(frozen=True)
class HashKV:
    member: str
    revision: int
    compact_revision: int
    hash: int


def check_hashkv(hashes: list[HashKV]) -> Result:
    """Members that hashed the same revision must agree (etcd's end-of-test HashKV check)."""
    by_rev: dict[int, list[HashKV]] = defaultdict(list)
    for h in hashes:
        by_rev[h.revision].append(h)
    violations = [Violation("hashkv", "divergent", f"members disagree at revision {rev}: "
                            + ", ".join(f"{h.member}={h.hash:#x}" for h in hs))
                  for rev, hs in sorted(by_rev.items()) if len({h.hash for h in hs}) > 1]
    if len(by_rev) > 1:
        violations.append(Violation("hashkv", "different-revisions", f"members hashed different revisions "
                                    f"{sorted(by_rev)}; wait for them to converge"))
    return Result("hashkv", not violations, tuple(violations), f"{len(hashes)} members")


def check_monotonic(ops: list[Op], restarts: Mapping[str, Sequence[float]] | None = None) -> Result:
    """Revisions never go back for one client's linearizable ops, nor for one client's ops on one member while
    that member process lives.

    Clients run one op at a time, so invoke order is their program order. `restarts` (member endpoint -> times
    it was started again) splits a member's ops into lifetimes: a member restarted after a crash may serve a
    serializable read from an older applied state until it hears the commit index again (etcd promises
    serializable reads nothing fresher; linearizable ops are still checked across the restart, per client).
    """
    violations: list[Violation] = []
    lin: dict[int, list[Op]] = defaultdict(list)
    per_member: dict[tuple[int, str, int], list[Op]] = defaultdict(list)
    restarts = {m: sorted(ts) for m, ts in (restarts or {}).items()}
    for op in ops:
        if op.outcome != OK or not op.revision:
            continue
        if not (op.kind == GET and op.serializable):
            lin[op.client].append(op)
        if op.member:
            life = bisect.bisect_right(restarts.get(op.member, []), op.invoke)
            per_member[(op.client, op.member, life)].append(op)
    for where, seqs in (("client", lin.items()), ("member", per_member.items())):
        for who, seq in seqs:
            seq.sort(key=lambda o: o.invoke)
            for a, b in zip(seq, seq[1:], strict=False):
                if b.revision < a.revision:
                    violations.append(Violation("monotonic", "revision-backwards", f"{where} {who}: revision "
                                                f"{b.revision} after {a.revision}", (a, b)))
    return Result("monotonic", not violations, tuple(violations), f"{len(lin)} clients")


PANIC_PATTERNS = (re.compile(r"Traceback \(most recent call last\)"), re.compile(r"^panic: ", re.M),
                  re.compile(r"fatal error: "), re.compile(r'"level":"(panic|fatal)"'),
                  re.compile(r"^goroutine \d+ \[running\]", re.M))


def check_logs(logs: Mapping[str, str]) -> Result:
    """No member log shows a Python traceback, a Go panic or a fatal log line."""
    violations: list[Violation] = []
    for member, text in sorted(logs.items()):
        for pat in PANIC_PATTERNS:
            m = pat.search(text)
            if m:
                line = text[text.rfind("\n", 0, m.start()) + 1:text.find("\n", m.end())]
                violations.append(Violation("logs", "panic", f"{member}: {line.strip()[:200]}"))
                break
    return Result("logs", not violations, tuple(violations), f"{len(logs)} member logs")
