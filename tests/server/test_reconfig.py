"""etcd 3.4's strict reconfiguration checks, decided from what the leader knows (raftkv.server.reconfig)."""

from __future__ import annotations

import pytest

from raftkv import errors
from raftkv.server.membership import Member, Membership
from raftkv.server.reconfig import (
    HEALTH_INTERVAL_S,
    LeaderView,
    check_add,
    check_promote,
    check_remove,
    check_update,
)

pytestmark = pytest.mark.unit

NOW = 1000.0
LONG_AGO = NOW - HEALTH_INTERVAL_S - 1


def three_voters(learner: Member | None = None) -> Membership:
    ms = Membership(cluster_id=7)
    for i in (1, 2, 3):
        ms.add(Member(i, f"m{i}", [f"https://p:{i}"], [f"https://c:{i}"]))
    if learner is not None:
        ms.add(learner)
    return ms


def view(connected: dict[int, float] | None = None, match: dict[int, int] | None = None) -> LeaderView:
    """Member 1 leads; by default 2 and 3 have been connected for long and are in sync at index 100."""
    return LeaderView(self_id=1, now=NOW, connected_since={2: LONG_AGO, 3: LONG_AGO} if connected is None
                      else connected, match={1: 100, 2: 100, 3: 100} if match is None else match)


def never_started_learner() -> Member:
    return Member(9, "", ["https://p:9"], [], True)


def test_a_learner_that_never_started_is_not_promoted() -> None:
    ms = three_voters(never_started_learner())
    with pytest.raises(errors.LearnerNotReady, match="^etcdserver: can only promote a learner member which is in "
                                                     "sync with leader$"):
        check_promote(ms, 9, view(match={1: 100, 2: 100, 3: 100, 9: 0}))


def test_a_learner_at_90_percent_of_the_leaders_match_is_promoted() -> None:
    ms = three_voters(never_started_learner())
    check_promote(ms, 9, view(match={1: 100, 2: 100, 3: 100, 9: 90}))
    with pytest.raises(errors.LearnerNotReady):
        check_promote(ms, 9, view(match={1: 100, 2: 100, 3: 100, 9: 89}))


def test_promote_refuses_unknown_members_and_voters_in_etcds_order() -> None:
    ms = three_voters()
    with pytest.raises(errors.MemberNotFound, match="^etcdserver: member not found$"):
        check_promote(ms, 42, view())  # the leader does not track it: readiness passes, the membership check fails
    with pytest.raises(errors.MemberNotLearner, match="^etcdserver: can only promote a learner member$"):
        check_promote(ms, 2, view())
    # etcd tests readiness first: a voter far behind gets the learner message
    with pytest.raises(errors.LearnerNotReady):
        check_promote(ms, 2, view(match={1: 100, 2: 10, 3: 100}))


def test_promote_needs_a_started_quorum_counting_the_learner() -> None:
    ms = Membership()
    ms.add(Member(1, "m1", ["https://p:1"]))
    ms.add(Member(2, "", ["https://p:2"]))  # added voters that never started
    ms.add(Member(3, "", ["https://p:3"]))
    ms.add(Member(9, "", ["https://p:9"], [], True))
    with pytest.raises(errors.NotEnoughStartedMembers, match="not enough started members$"):
        check_promote(ms, 9, view(match={1: 100, 9: 100}))  # 2 of 4 started (the learner counted as one)


def test_add_refuses_a_second_learner_and_taken_urls() -> None:
    ms = three_voters(never_started_learner())
    with pytest.raises(errors.TooManyLearners, match="^etcdserver: too many learner members in cluster$"):
        check_add(ms, Member(10, "", ["https://p:10"], [], True), view())
    with pytest.raises(errors.PeerURLExist, match="^etcdserver: Peer URLs already exists$"):
        check_add(ms, Member(10, "", ["https://p:9"], [], False), view())
    check_add(ms, Member(10, "", ["https://p:10"], [], False), view())  # a voter may join beside a learner


def test_add_refuses_while_a_voter_is_not_connected_for_the_health_interval() -> None:
    ms = three_voters()
    new = Member(10, "", ["https://p:10"], [], True)
    with pytest.raises(errors.UnhealthyCluster, match="^etcdserver: unhealthy cluster$"):
        check_add(ms, new, view(connected={2: LONG_AGO}))  # 3 is down
    with pytest.raises(errors.UnhealthyCluster):
        check_add(ms, new, view(connected={2: LONG_AGO, 3: NOW - 1}))  # 3 came back a second ago
    check_add(ms, new, view(connected={2: LONG_AGO, 3: NOW - HEALTH_INTERVAL_S}))


def test_add_voter_needs_a_started_quorum() -> None:
    ms = Membership()
    ms.add(Member(1, "m1", ["https://p:1"]))
    ms.add(Member(2, "", ["https://p:2"]))
    full = view(connected={2: LONG_AGO})
    with pytest.raises(errors.NotEnoughStartedMembers):
        check_add(ms, Member(3, "", ["https://p:3"]), full)  # 1 of 3 started
    check_add(ms, Member(3, "", ["https://p:3"], [], True), full)  # a learner does not count
    one = Membership()
    one.add(Member(1, "m1", ["https://p:1"]))
    check_add(one, Member(2, "", ["https://p:2"]), view(connected={}))  # 1-member cluster restoring: allowed


def test_remove_protects_the_active_quorum_but_lets_down_members_go() -> None:
    ms = three_voters()
    two_up = view(connected={2: LONG_AGO})  # 3 is down
    check_remove(ms, 3, two_up)  # the down member: safe
    with pytest.raises(errors.UnhealthyCluster, match="^etcdserver: unhealthy cluster$"):
        check_remove(ms, 2, two_up)  # would leave 1 active of 2
    check_remove(ms, 2, view())
    check_remove(three_voters(never_started_learner()), 9, view(connected={}))  # learners: no quorum check


def test_remove_needs_a_started_quorum_of_the_rest_and_an_existing_member() -> None:
    ms = three_voters()
    ms.add(Member(4, "", ["https://p:4"]))
    ms.add(Member(5, "", ["https://p:5"]))
    with pytest.raises(errors.NotEnoughStartedMembers):
        check_remove(ms, 1, view())  # 2 started of the 4 left
    with pytest.raises(errors.MemberNotFound, match="^etcdserver: member not found$"):
        check_remove(three_voters(), 42, view())


def test_update_refuses_unknown_members_and_urls_of_others() -> None:
    ms = three_voters()
    with pytest.raises(errors.MemberNotFound):
        check_update(ms, 42, ["https://p:42"])
    with pytest.raises(errors.PeerURLExist):
        check_update(ms, 2, ["https://p:3"])
    check_update(ms, 2, ["https://p:2", "https://q:2"])  # its own URL may stay
    ms.update_peer_urls(2, ["https://q:2"])
    assert ms.members[2].peer_urls == ["https://q:2"]
    with pytest.raises(errors.PeerURLExist):  # applied from the log: refused there as well
        ms.update_peer_urls(3, ["https://q:2"])
