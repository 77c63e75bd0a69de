"""May this membership change go ahead? etcd 3.4's strict reconfiguration checks, as a pure decision.

Only the leader can answer: it alone knows how far each member's log matches its own (a learner that
never started matches nothing) and which voters it has been talking to. So every member hands Cluster
changes to the leader (`RaftMember.reconfigure`), the leader calls one of the `check_*` functions
below with what it knows (`LeaderView`) and proposes only if it passes. A promotion sent to a follower
is therefore refused exactly as one sent to the leader, instead of turning a dead learner into a voter.

The leader's membership is the one the change will apply to: the Raft core accepts one configuration
change at a time, and a new leader only once it has applied everything before, so nothing between
the check and the apply can change the membership (peer-URL updates are normal entries and are checked
again where they apply, `Membership.update_peer_urls`).

The checks come in etcd's order, so the same request meets the same first error: the quorum and health
checks etcd makes before proposing (`mayAddMember`, `mayRemoveMember`, `mayPromoteMember` with
`isLearnerReady`), then the ones it makes when the change applies (`ValidateConfigurationChange`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from raftkv import errors
from raftkv.server.membership import Member, Membership

HEALTH_INTERVAL_S = 5.0
"""etcd's HealthInterval: a voter counts as connected once its link has been up this long."""
LEARNER_READY_FRACTION = 0.9
"""etcd's readyPercent: a learner may be promoted once its match index is 90% of the leader's."""
MAX_LEARNERS = 1
"""etcd 3.4 allows one learner at a time."""


@dataclass(frozen=True)
class LeaderView:
    """What the leader knows that the membership does not say."""

    self_id: int
    now: float
    connected_since: Mapping[int, float]
    """Per peer, when its link last came up (the transport's clock); a peer that is down is absent."""
    match: Mapping[int, int]
    """Per member in the Raft configuration (the leader too), the highest log index it is known to hold."""


def _voters(ms: Membership) -> list[Member]:
    return [m for m in ms.members.values() if not m.is_learner]


def _started(m: Member) -> bool:
    """etcd's IsStarted: the member has published its name (added members have none until they run)."""
    return bool(m.name)


def _connected(view: LeaderView, mid: int) -> bool:
    """Connected for at least HEALTH_INTERVAL_S (this member always is to itself)."""
    if mid == view.self_id:
        return True
    since = view.connected_since.get(mid)
    return since is not None and since <= view.now - HEALTH_INTERVAL_S


def _quorum_started(nmembers: int, nstarted: int) -> bool:
    return nstarted >= nmembers // 2 + 1


def check_add(ms: Membership, new: Member, view: LeaderView) -> None:
    """etcd's mayAddMember, then the apply-time checks of an added member."""
    voters = _voters(ms)
    if not new.is_learner:
        nmembers, nstarted = len(voters) + 1, sum(1 for m in voters if _started(m))
        # one started member of a 1-member cluster may add a second (restoring a cluster from a backup)
        if not (nstarted == 1 and nmembers == 2) and not _quorum_started(nmembers, nstarted):
            raise errors.NotEnoughStartedMembers()
    if not all(_connected(view, m.id) for m in voters):
        raise errors.UnhealthyCluster()
    ms.check_add(new)
    if new.is_learner and sum(1 for m in ms.members.values() if m.is_learner) + 1 > MAX_LEARNERS:
        raise errors.TooManyLearners()


def check_remove(ms: Membership, mid: int, view: LeaderView) -> None:
    """etcd's mayRemoveMember, then the apply-time check that the member exists."""
    target = ms.members.get(mid)
    if target is None or not target.is_learner:  # removing a learner never endangers the quorum
        rest = [m for m in _voters(ms) if m.id != mid]
        if not _quorum_started(len(rest), sum(1 for m in rest if _started(m))):
            raise errors.NotEnoughStartedMembers()
        link_down = mid != view.self_id and mid not in view.connected_since
        if not link_down:  # a member that is down is no part of the active quorum: always safe to remove
            voters = _voters(ms)
            active = sum(1 for m in voters if _connected(view, m.id))
            if active - 1 < 1 + (len(voters) - 1) // 2:
                raise errors.UnhealthyCluster()
    if target is None:
        raise errors.MemberNotFound()


def learner_ready(view: LeaderView, mid: int) -> bool:
    """etcd's isLearnerReady: a member the leader tracks must match >= 90% of the leader's own match index.
    A member the leader does not track passes here and fails the membership checks that follow."""
    if mid not in view.match:
        return True
    return view.match[mid] >= view.match.get(view.self_id, 0) * LEARNER_READY_FRACTION


def check_promote(ms: Membership, mid: int, view: LeaderView) -> None:
    """etcd's mayPromoteMember (in-sync learner, enough started members), then: it exists, it is a learner.

    As in etcd the readiness test comes first, so a lagging voter gets the learner-not-ready error too."""
    if not learner_ready(view, mid):
        raise errors.LearnerNotReady()
    voters = _voters(ms)
    # the learner counts as a started member of the future configuration
    if not _quorum_started(len(voters) + 1, 1 + sum(1 for m in voters if _started(m))):
        raise errors.NotEnoughStartedMembers()
    target = ms.members.get(mid)
    if target is None:
        raise errors.MemberNotFound()
    if not target.is_learner:
        raise errors.MemberNotLearner()


def check_update(ms: Membership, mid: int, peer_urls: list[str]) -> None:
    """etcd checks nothing but membership for an update: the member exists, no other member has the URLs."""
    ms.check_update(mid, peer_urls)
