from __future__ import annotations

import pytest

from raftkv import errors
from raftkv.server.membership import Member, Membership, member_context, member_from_context


@pytest.mark.unit
def test_replaying_adds_and_removes_converges() -> None:
    ms = Membership(cluster_id=9)
    ms.add(Member(1, "m1", ["http://a:1"]))
    ms.add(Member(2, "", ["http://a:2"]))
    ms.remove(2)
    ms.add(Member(2, "", ["http://a:2"]))  # replay of the add after the remove
    assert sorted(ms.members) == [1]
    assert Membership.from_json(ms.to_json()) == ms


@pytest.mark.unit
def test_check_add_refuses_duplicates() -> None:
    ms = Membership()
    ms.add(Member(1, "m1", ["http://a:1"]))
    with pytest.raises(errors.MemberExist):
        ms.check_add(Member(1, "", ["http://b:1"]))
    with pytest.raises(errors.PeerURLExist):
        ms.check_add(Member(3, "", ["http://a:1"]))
    ms.remove(1)
    with pytest.raises(errors.MemberExist, match="already removed"):
        ms.check_add(Member(1, "", ["http://c:1"]))


@pytest.mark.unit
def test_context_round_trip_and_attributes() -> None:
    m = Member(5, "m5", ["http://p:5"], ["http://c:5"], True)
    assert member_from_context(member_context(m)) == m
    ms = Membership()
    ms.add(m)
    ms.set_attributes(5, "renamed", ["http://c:6"])
    ms.promote(5)
    assert ms.members[5] == Member(5, "renamed", ["http://p:5"], ["http://c:6"], False)
    with pytest.raises(errors.MemberNotFound):
        ms.update_peer_urls(99, [])
