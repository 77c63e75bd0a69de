"""The leader election decision (`next_record`), pure: who may take or keep the Lease, with what record."""

from __future__ import annotations

import pytest

from controllers.machinery.leaderelection import LeaderElectionRecord, next_record

pytestmark = pytest.mark.unit

ME, OTHER = "host-a_1", "host-b_2"


def test_no_lease_yet_creates_one_with_zero_transitions() -> None:
    rec = next_record(None, 0.0, 100.0, ME, 15.0, "T100")
    assert rec == LeaderElectionRecord(ME, 15, "T100", "T100", 0)


def test_another_holders_lease_is_respected_until_it_expires_on_our_clock() -> None:
    theirs = LeaderElectionRecord(OTHER, 15, "T0", "T0", 3)
    assert next_record(theirs, observed_at=100.0, now=114.9, identity=ME, lease_duration=15.0, stamp="x") is None
    taken = next_record(theirs, observed_at=100.0, now=115.1, identity=ME, lease_duration=15.0, stamp="T115")
    assert taken == LeaderElectionRecord(ME, 15, "T115", "T115", 4), "taking over counts a transition"


def test_renewing_our_own_lease_keeps_acquire_time_and_transitions() -> None:
    mine = LeaderElectionRecord(ME, 15, "T0", "T10", 2)
    assert next_record(mine, 10.0, 12.0, ME, 15.0, "T12") == LeaderElectionRecord(ME, 15, "T0", "T12", 2)


def test_a_released_lease_is_free_at_once() -> None:
    released = LeaderElectionRecord("", 1, "T5", "T5", 2)
    assert next_record(released, 5.0, 5.0, ME, 15.0, "T5") == LeaderElectionRecord(ME, 15, "T5", "T5", 3)


def test_record_round_trips_through_the_lease_spec() -> None:
    rec = LeaderElectionRecord(ME, 15, "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:01.000000Z", 1)
    spec = rec.to_spec()
    assert spec == {"holderIdentity": ME, "leaseDurationSeconds": 15, "leaseTransitions": 1,
                    "acquireTime": "2026-01-01T00:00:00.000000Z", "renewTime": "2026-01-01T00:00:01.000000Z"}
    assert LeaderElectionRecord.from_spec(spec) == rec


class _Unreachable:
    """A client whose every call fails as a connection to a stopped API server does."""

    async def get(self, *args: object, **kwargs: object) -> dict[str, object]:
        raise ConnectionRefusedError(111, "Connect call failed")


def test_an_unreachable_api_server_is_a_failed_attempt_not_a_crash() -> None:
    import asyncio

    from controllers.machinery.leaderelection import LeaderElector
    elector = LeaderElector(_Unreachable(), "kube-system", "kube-controller-manager", ME)  # type: ignore[arg-type]
    assert asyncio.run(elector.try_acquire_or_renew()) is False
