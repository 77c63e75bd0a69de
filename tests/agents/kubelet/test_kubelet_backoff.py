"""Container restart back-off: 10 s doubling to 5 min, the CrashLoopBackOff text, reset after 10 min running."""

from __future__ import annotations

import pytest

from agents.kubelet.backoff import Backoff, check_restart

pytestmark = pytest.mark.unit
POD = "p_ns(u1)"


def test_first_restart_is_immediate_then_each_waits_twice_as_long_up_to_five_minutes() -> None:
    b = Backoff()
    now = 1000.0
    waits = []
    for _ in range(8):
        finished = now
        t = finished
        while check_restart(b, "k", finished, t, "c", POD) is not None:
            t += 1
        waits.append(t - finished)
        now = t + 1  # it crashes again one second after it started
    assert waits[0] == 0
    assert waits[1:] == [10, 20, 40, 80, 160, 300, 300]


def test_crash_loop_message_names_duration_container_and_pod() -> None:
    b = Backoff()
    assert check_restart(b, "k", 100.0, 100.0, "c", POD) is None
    assert check_restart(b, "k", 101.0, 105.0, "c", POD) == \
        "back-off 10s restarting failed container=c pod=p_ns(u1)"
    assert check_restart(b, "k", 101.0, 111.0, "c", POD) is None
    assert check_restart(b, "k", 112.0, 113.0, "c", POD) == \
        "back-off 20s restarting failed container=c pod=p_ns(u1)"


def test_backoff_shows_minutes_as_go_prints_them() -> None:
    b = Backoff()
    t = 0.0
    for _ in range(8):
        b.next("k", t, t)
    assert b.get("k") == 300
    assert check_restart(b, "k", t, t + 1, "c", POD) == "back-off 5m0s restarting failed container=c pod=p_ns(u1)"


def test_a_container_that_ran_ten_minutes_starts_over_at_ten_seconds() -> None:
    b = Backoff()
    for t in (0.0, 10.0, 40.0, 100.0):
        b.next("k", t, t)
    assert b.get("k") == 80
    # the last restart was at 100; the container then ran for just over 10 minutes
    finished = 100.0 + 601
    assert check_restart(b, "k", finished, finished, "c", POD) is None
    assert b.get("k") == 10


def test_keys_are_independent() -> None:
    b = Backoff()
    b.next("a", 0, 0)
    assert b.in_backoff_since("a", 0, 5)
    assert not b.in_backoff_since("b", 0, 5)
