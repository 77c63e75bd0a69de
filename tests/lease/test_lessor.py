"""The lease table: TTL rules, attached keys, and expiry only on the primary with time passed in."""

from __future__ import annotations

import pytest

from raftkv import errors
from raftkv.lease import MAX_LEASE_TTL, Lessor


def test_grant_raises_ttl_to_the_minimum_and_refuses_bad_ids() -> None:
    lessor = Lessor(min_ttl=5)
    assert lessor.grant(1, 2).ttl == 5
    assert lessor.grant(2, 60).ttl == 60
    with pytest.raises(errors.LeaseExists):
        lessor.grant(1, 10)
    with pytest.raises(errors.LeaseNotFound):
        lessor.grant(0, 10)
    with pytest.raises(errors.LeaseTTLTooLarge):
        lessor.grant(3, MAX_LEASE_TTL + 1)
    assert sorted(lessor.leases()) == [1, 2]


def test_revoke_returns_attached_keys_and_forgets_the_lease() -> None:
    lessor = Lessor(min_ttl=1)
    lessor.grant(7, 10)
    lessor.attach(7, b"b")
    lessor.attach(7, b"a")
    lessor.attach(7, b"c")
    lessor.detach(7, b"c")
    assert lessor.time_to_live(7, now=0.0) == (10, 10, [b"a", b"b"])
    assert lessor.revoke(7) == [b"a", b"b"]
    assert 7 not in lessor
    with pytest.raises(errors.LeaseNotFound):
        lessor.revoke(7)
    with pytest.raises(errors.LeaseNotFound):
        lessor.renew(7, now=0.0)
    with pytest.raises(errors.LeaseNotFound):
        lessor.time_to_live(7, now=0.0)


def test_followers_never_report_expiry() -> None:
    lessor = Lessor(min_ttl=1)
    lessor.grant(1, 5)
    assert lessor.expired(now=1e9) == []
    assert lessor.next_deadline() is None


def test_promotion_gives_every_lease_its_full_ttl_plus_the_extension() -> None:
    lessor = Lessor(min_ttl=1)
    lessor.grant(1, 5)
    lessor.grant(2, 20)
    lessor.promote(now=100.0, extend=1.0)
    assert lessor.next_deadline() == 106.0
    assert lessor.expired(now=105.9) == []
    assert lessor.expired(now=106.0) == [1]
    assert lessor.time_to_live(2, now=111.0)[1] == 10
    # renewing pushes the expiry a full TTL from now
    assert lessor.renew(1, now=106.0) == 5
    assert lessor.expired(now=110.0) == []
    assert lessor.expired(now=111.0) == [1]
    lessor.demote()
    assert lessor.expired(now=1e9) == []
    assert lessor.next_deadline() is None


def test_a_lease_granted_on_the_primary_starts_its_ttl_at_the_next_check() -> None:
    lessor = Lessor(min_ttl=1)
    lessor.promote(now=0.0, extend=0.0)
    lessor.grant(9, 3)  # applied from the log: no clock
    assert lessor.expired(now=50.0) == []  # first sighting: expiry = 53
    assert lessor.next_deadline() == 53.0
    assert lessor.expired(now=53.0) == [9]


def test_expired_is_bounded_by_limit() -> None:
    lessor = Lessor(min_ttl=1)
    for lid in range(1, 11):
        lessor.grant(lid, 1)
    lessor.promote(now=0.0, extend=0.0)
    assert len(lessor.expired(now=5.0, limit=3)) == 3
    assert sorted(lessor.expired(now=5.0)) == list(range(1, 11))


def test_the_expiry_timer_sleeps_until_the_next_expiry_within_bounds() -> None:
    lessor = Lessor(min_ttl=1)
    assert lessor.next_check_in(0.0, (), 0.02, 0.5) == 0.5  # nothing to expire: the polling period
    lessor.grant(1, 2)
    lessor.grant(2, 5)
    lessor.promote(now=100.0, extend=0.0)  # expiries 102 and 105
    assert lessor.next_check_in(101.8, (), 0.02, 0.5) == pytest.approx(0.2)
    assert lessor.next_check_in(100.0, (), 0.02, 0.5) == 0.5
    assert lessor.next_check_in(102.5, (), 0.02, 0.5) == 0.02  # overdue: soon, but never a busy loop
    assert lessor.next_check_in(104.7, {1}, 0.02, 0.5) == pytest.approx(0.3)  # 1 is being revoked already
    assert lessor.next_deadline(skip={1, 2}) is None
