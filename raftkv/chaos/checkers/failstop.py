"""Fail-stop after an fsync error: a member whose fsync failed must stop and never acknowledge a write it could
not have made durable.

After a failed fsync the page cache can no longer be trusted (the kernel may have dropped the dirty pages), so
the only safe reaction is to stop. A write invoked after the member's first failed fsync cannot have been
persisted by it; if that member acknowledges it anyway, it acknowledged on the strength of a log it could not
sync. Writes in flight at the failure are not judged (they may have been synced before it). The window ends
when the harness starts the member again on its (repaired) disk.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from raftkv.chaos.checkers.history import OK, WATCH, Op, Result, Violation


@dataclass(frozen=True)
class FsyncFailure:
    """One member's fsync errors as the nemesis saw them (times on the ops' monotonic clock)."""

    member: str
    endpoint: str  # ops carry the endpoint they were sent to
    injected_at: float
    failed_at: float | None  # first failed fsync; None: it never tried to sync while failing
    stopped_at: float | None  # when its process was seen to have exited; None: still running
    until: float = math.inf  # restarted (on a healthy disk) at this time


def check_fail_stop(history: Iterable[Op], failures: Iterable[FsyncFailure], stop_within_s: float) -> Result:
    """Every member hit by fsync errors failed an fsync, exited within `stop_within_s` of it, and acknowledged
    no write invoked after its first failed fsync and before its restart."""
    ops = [op for op in history if op.kind != WATCH]
    violations: list[Violation] = []
    failures = list(failures)
    for f in failures:
        if f.failed_at is None:
            violations.append(Violation("fail-stop", "never-failed", f"{f.member}: fsync errors were on from "
                                        f"{f.injected_at:.3f} but it never called fsync (fault not exercised)"))
            continue
        if f.stopped_at is None or f.stopped_at - f.failed_at > stop_within_s:
            how = "was still running" if f.stopped_at is None else f"exited only {f.stopped_at - f.failed_at:.2f} s later"
            violations.append(Violation("fail-stop", "kept-running", f"{f.member}: its first fsync failed at "
                                        f"{f.failed_at:.3f} and it {how} (bound {stop_within_s:g} s)"))
        writes = [op for op in ops if op.member == f.endpoint and op.outcome == OK and op.is_write
                  and f.failed_at < op.invoke < f.until]
        if writes:
            violations.append(Violation("fail-stop", "acked-after-fsync-error", f"{f.member} acknowledged "
                                        f"{len(writes)} write(s) invoked after its fsync failed at "
                                        f"{f.failed_at:.3f}, first {writes[0].kind} at {writes[0].invoke:.3f}",
                                        tuple(writes[:5])))
    info = "; ".join(f"{f.member}: fsync failed at {f.failed_at}, stopped at {f.stopped_at}" for f in failures)
    return Result("fail-stop", not violations, tuple(violations), info or "no fsync errors injected")
