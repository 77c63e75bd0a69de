"""The minimum lease TTL is etcd 3.4's, for every election timeout / heartbeat pair, and it is what a
grant and TimeToLive report."""

from __future__ import annotations

import pytest

from raftkv.lease import Lessor, min_lease_ttl

# (election timeout ms, heartbeat ms, etcd's minimum TTL s): ceil(((3 * (E // H)) // 2) * H / 1000)
ETCD_MIN_TTL = [
    (1000, 100, 2),   # etcd's defaults: 10 ticks, 15 * 100 ms = 1.5 s -> 2 s
    (500, 50, 1),     # tests/e2e's clusters: 750 ms -> 1 s
    (500, 100, 1),    # 5 ticks, 7 * 100 ms = 700 ms (the tick count is halved in integers)
    (1500, 100, 3),   # 2.25 s -> 3 s
    (2000, 100, 3),   # exactly 3.0 s -> 3 s, not 4
    (1250, 100, 2),   # 12 ticks, 1.8 s
    (1050, 100, 2),   # 10 ticks (1050 // 100): the 50 ms beyond a whole tick do not count
    (1000, 150, 2),   # 6 ticks, 9 * 150 = 1350 ms
    (1000, 200, 2),   # 5 ticks, 7 * 200 = 1400 ms -> 2 s
    (5000, 1000, 7),  # 5 ticks, 7 * 1000 ms = 7 s
    (10000, 100, 15),
    (1001, 1, 2),     # 1001 ticks, 1501 ms -> 2 s
    (3334, 1000, 4),  # 3 ticks (below the 5x rule the flags enforce; same arithmetic): 4 * 1000 ms
]


@pytest.mark.unit
@pytest.mark.parametrize(("election_ms", "heartbeat_ms", "expected"), ETCD_MIN_TTL)
def test_min_lease_ttl_matches_etcd(election_ms: int, heartbeat_ms: int, expected: int) -> None:
    assert min_lease_ttl(election_ms, heartbeat_ms) == expected


@pytest.mark.unit
def test_a_2s_grant_keeps_its_2s_at_etcds_default_timing() -> None:
    lessor = Lessor(min_ttl=min_lease_ttl(1000, 100))
    assert lessor.grant(1, 2).ttl == 2  # aetcd's test_lock_expire: a 2 s lock must not live 3 s
    assert lessor.grant(2, 1).ttl == 2  # below the minimum: raised to it, as etcd answers "TTL(2s)"
    assert lessor.grant(3, 0).ttl == 2
    lessor.promote(now=100.0, extend=0.0)
    assert lessor.time_to_live(1, now=100.0) == (2, 2, [])


@pytest.mark.unit
def test_time_to_live_truncates_the_remaining_seconds_as_etcd_does() -> None:
    lessor = Lessor(min_ttl=1)
    lessor.grant(7, 10)
    lessor.renew(7, now=0.0)  # not primary: no clock, TTL reported whole
    assert lessor.time_to_live(7, now=0.3) == (10, 10, [])
    lessor.promote(now=0.0, extend=0.0)
    assert lessor.time_to_live(7, now=0.3)[1] == 9   # 9.7 s left: etcd prints remaining(9s)
    assert lessor.time_to_live(7, now=9.99)[1] == 0
    assert lessor.time_to_live(7, now=12.0)[1] == 0  # past expiry, not yet revoked: never negative
