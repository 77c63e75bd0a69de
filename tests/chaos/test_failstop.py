"""The fail-stop checker flags a member that acknowledged a write after its fsync failed, or kept running,
and passes a member that stopped at once (fake histories: it must be able to fail)."""

from __future__ import annotations

import pytest

from raftkv.chaos.checkers.failstop import FsyncFailure, check_fail_stop
from raftkv.chaos.checkers.history import GET, OK, PUT, Op

pytestmark = pytest.mark.unit
A, B = "127.0.0.1:1001", "127.0.0.1:1002"


def _put(t: float, member: str, outcome: str = OK) -> Op:
    return Op(1, PUT, ("/k",), t, t + 0.01, outcome, value=f"v{t}", revision=2, member=member)


def _fail(**kw: object) -> FsyncFailure:
    args: dict[str, object] = {"member": "m1", "endpoint": A, "injected_at": 1.0, "failed_at": 1.2,
                               "stopped_at": 1.3}
    args.update(kw)
    return FsyncFailure(**args)  # type: ignore[arg-type]


def test_a_member_that_stopped_and_acked_nothing_after_the_failure_passes() -> None:
    history = [_put(1.1, A), _put(1.15, A), _put(1.5, B), Op(2, GET, ("/k",), 1.25, 1.26, OK, member=A)]
    r = check_fail_stop(history, [_fail()], stop_within_s=5.0)
    assert r.valid is True, r.violations


def test_a_write_invoked_after_the_failed_fsync_and_acknowledged_by_that_member_is_a_violation() -> None:
    r = check_fail_stop([_put(1.1, A), _put(1.25, A)], [_fail()], stop_within_s=5.0)
    assert r.valid is False and [v.kind for v in r.violations] == ["acked-after-fsync-error"]
    assert r.violations[0].ops[0].invoke == 1.25


def test_acks_after_the_restart_on_a_healthy_disk_are_fine() -> None:
    r = check_fail_stop([_put(9.0, A)], [_fail(until=8.0)], stop_within_s=5.0)
    assert r.valid is True


def test_a_member_that_kept_running_or_never_synced_is_a_violation() -> None:
    running = check_fail_stop([], [_fail(stopped_at=None)], stop_within_s=5.0)
    late = check_fail_stop([], [_fail(stopped_at=9.0)], stop_within_s=5.0)
    never = check_fail_stop([], [_fail(failed_at=None)], stop_within_s=5.0)
    assert [v.kind for v in running.violations] == ["kept-running"] and running.valid is False
    assert [v.kind for v in late.violations] == ["kept-running"]
    assert [v.kind for v in never.violations] == ["never-failed"] and never.valid is False
