"""ControllerExpectations as kube-controller-manager's: counts down observed creations/deletions, expires after
5 minutes, unknown keys are satisfied."""

from __future__ import annotations

import pytest

from controllers.machinery.expectations import (
    EXPECTATIONS_TIMEOUT_S,
    ControllerExpectations,
    UIDTrackingControllerExpectations,
)

pytestmark = pytest.mark.unit


def test_unknown_key_is_satisfied() -> None:
    assert ControllerExpectations().satisfied("ns/rs", now=0.0)


def test_creations_are_satisfied_once_each_is_observed() -> None:
    e = ControllerExpectations()
    e.expect_creations("ns/rs", 3, now=0.0)
    for _ in range(2):
        assert not e.satisfied("ns/rs", now=1.0)
        e.creation_observed("ns/rs")
    assert not e.satisfied("ns/rs", now=1.0)
    e.creation_observed("ns/rs")
    assert e.satisfied("ns/rs", now=1.0)
    e.creation_observed("ns/rs")  # an extra observation goes negative and stays satisfied
    assert e.satisfied("ns/rs", now=1.0)


def test_deletions_and_lowering_after_a_failed_create() -> None:
    e = ControllerExpectations()
    e.expect_deletions("k", 2, now=0.0)
    e.deletion_observed("k")
    assert not e.satisfied("k", now=0.0)
    e.deletion_observed("k")
    assert e.satisfied("k", now=0.0)
    e.expect_creations("k", 5, now=0.0)
    e.lower_expectations("k", 4, 0)  # 4 of 5 creations were never attempted (slow start stopped)
    assert not e.satisfied("k", now=0.0)
    e.creation_observed("k")
    assert e.satisfied("k", now=0.0)


def test_expectations_expire_after_five_minutes() -> None:
    e = ControllerExpectations()
    e.expect_creations("k", 1, now=100.0)
    assert not e.satisfied("k", now=100.0 + EXPECTATIONS_TIMEOUT_S)
    assert e.satisfied("k", now=100.0 + EXPECTATIONS_TIMEOUT_S + 0.001)
    assert EXPECTATIONS_TIMEOUT_S == 300.0


def test_delete_expectations_forgets_the_key() -> None:
    e = ControllerExpectations()
    e.expect_creations("k", 1, now=0.0)
    e.delete_expectations("k")
    assert e.satisfied("k", now=0.0) and e.get("k") is None


def test_uid_tracking_counts_each_deleted_pod_once() -> None:
    e = UIDTrackingControllerExpectations()
    e.expect_deletions("ns/rs", ["ns/p1", "ns/p2"], now=0.0)
    e.deletion_observed("ns/rs", "ns/p1")
    e.deletion_observed("ns/rs", "ns/p1")  # the update with deletionTimestamp, then the delete itself
    assert not e.satisfied("ns/rs", now=0.0)
    e.deletion_observed("ns/rs", "ns/other")
    assert not e.satisfied("ns/rs", now=0.0)
    e.deletion_observed("ns/rs", "ns/p2")
    assert e.satisfied("ns/rs", now=0.0) and e.get_uids("ns/rs") == set()
