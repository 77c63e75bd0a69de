"""Probe workers on a fake clock: initial delay, period, thresholds, hold after failure, startup gating."""

from __future__ import annotations

import pytest

from agents.kubelet.probes import LIVENESS, READINESS, STARTUP, ProbeSpec, ProbeWorker

pytestmark = pytest.mark.unit


def test_nothing_runs_before_the_initial_delay_and_results_start_as_the_kubelet_starts_them() -> None:
    spec = ProbeSpec(initial_delay=5, period=2)
    live = ProbeWorker(LIVENESS, spec, "c1", started_at=100)
    ready = ProbeWorker(READINESS, spec, "c1", started_at=100)
    start = ProbeWorker(STARTUP, spec, "c1", started_at=100)
    assert live.result is True and ready.result is False and start.result is None
    assert not live.due(104.9) and live.due(105)


def test_liveness_fails_only_at_the_failure_threshold_then_holds() -> None:
    w = ProbeWorker(LIVENESS, ProbeSpec(period=1, failure_threshold=3), "c1", started_at=0)
    t = 0.0
    changes = []
    for _ in range(3):
        assert w.due(t)
        changes.append(w.record(False, t))
        t += 1
    assert changes == [False, False, True]
    assert w.failed and w.on_hold and not w.due(t + 100)


def test_a_success_between_failures_resets_the_count() -> None:
    w = ProbeWorker(LIVENESS, ProbeSpec(period=1, failure_threshold=2), "c1", started_at=0)
    w.record(False, 0)
    w.record(True, 1)
    w.record(False, 2)
    assert not w.failed
    w.record(False, 3)
    assert w.failed


def test_readiness_needs_success_threshold_successes_and_keeps_probing_after_failure() -> None:
    w = ProbeWorker(READINESS, ProbeSpec(period=1, success_threshold=2, failure_threshold=1), "c1", started_at=0)
    assert not w.record(True, 0) and w.result is False
    assert w.record(True, 1) and w.result is True
    assert w.record(False, 2) and w.result is False
    assert w.due(3) and not w.on_hold


def test_the_period_spaces_probes() -> None:
    w = ProbeWorker(READINESS, ProbeSpec(period=10), "c1", started_at=0)
    w.record(True, 0)
    assert not w.due(9.9) and w.due(10)


def test_startup_holds_liveness_off_until_it_succeeds_then_stops() -> None:
    spec = ProbeSpec(period=1, failure_threshold=30)
    start = ProbeWorker(STARTUP, spec, "c1", started_at=0)
    live = ProbeWorker(LIVENESS, ProbeSpec(period=1), "c1", started_at=0)
    assert not live.due(5, startup_passed=start.result is True)
    start.record(True, 5)
    assert start.result is True and start.done and not start.due(6)
    assert live.due(6, startup_passed=start.result is True)


def test_startup_failure_threshold_fails_it() -> None:
    w = ProbeWorker(STARTUP, ProbeSpec(period=1, failure_threshold=2), "c1", started_at=0)
    w.record(False, 0)
    assert w.result is None
    w.record(False, 1)
    assert w.failed and w.on_hold


def test_defaults_follow_the_api_server() -> None:
    assert ProbeSpec.from_probe({"httpGet": {"path": "/"}}) == ProbeSpec(0, 10, 1, 1, 3)
    assert ProbeSpec.from_probe({"periodSeconds": 3, "failureThreshold": 1, "initialDelaySeconds": 2}) == \
        ProbeSpec(2, 3, 1, 1, 1)
