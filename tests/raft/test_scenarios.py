"""Targeted Raft scenarios, each driving the core through a situation from the paper or etcd's tests."""

from __future__ import annotations

import random

import pytest

from raftkv.raft import Config, MemoryStorage, ProposalDropped, RawNode
from raftkv.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    HardState,
    Message,
    MessageType,
    StateType,
)
from tests.sim.simulator import Simulation

pytestmark = pytest.mark.unit


def stable_leader(s: Simulation, ticks: int = 300) -> int:
    for _ in range(ticks):
        s.step()
        ld = s.leader()
        if ld is not None and all(n.node is not None and n.node.lead == ld.id for n in s.alive()):
            return ld.id
    raise AssertionError("no leader elected")


def test_single_node_elects_itself_and_commits() -> None:
    s = Simulation(1, 1)
    lead = stable_leader(s)
    assert lead == 1
    s.propose(b"x")
    s.run(3)
    assert s.nodes[1].applied[-1].data == b"x"


def test_prevote_keeps_a_rejoining_node_from_inflating_terms() -> None:
    s = Simulation(2, 3)
    lead = stable_leader(s)
    term = s.nodes[lead].node.term  # type: ignore[union-attr]
    lone = next(i for i in s.nodes if i != lead)
    s.partition({lone}, set(s.nodes) - {lone})
    s.run(300)  # many election timeouts alone
    assert s.nodes[lone].node.term == term, "pre-vote must not bump the isolated node's term"  # type: ignore[union-attr]
    s.heal()
    s.run(50)
    assert s.leader() is not None and s.leader().id == lead, "the healthy leader must not be deposed"  # type: ignore[union-attr]
    assert s.nodes[lead].node.term == term  # type: ignore[union-attr]


def test_without_prevote_a_rejoining_node_disrupts() -> None:
    """The counterpart proving the previous test can fail: with pre-vote off, terms inflate."""
    s = Simulation(2, 3, pre_vote=False, check_quorum=False)
    lead = stable_leader(s)
    term = s.nodes[lead].node.term  # type: ignore[union-attr]
    lone = next(i for i in s.nodes if i != lead)
    s.partition({lone}, set(s.nodes) - {lone})
    s.run(300)
    assert s.nodes[lone].node.term > term  # type: ignore[union-attr]


def test_check_quorum_steps_down_a_minority_leader() -> None:
    s = Simulation(3, 3)
    lead = stable_leader(s)
    s.partition({lead}, set(s.nodes) - {lead})
    s.run(45)  # a little over two election timeouts (10..19 ticks randomized, check every 10)
    assert s.nodes[lead].node.raft.state != StateType.LEADER  # type: ignore[union-attr]


def test_stale_leader_cannot_commit() -> None:
    s = Simulation(4, 5)
    lead = stable_leader(s)
    s.run(5)
    others = sorted(set(s.nodes) - {lead})
    s.partition({lead, others[0]}, set(others[1:]))
    old = s.nodes[lead].node
    assert old is not None
    before = old.raft.log.committed
    old.propose(b"from the minority")
    s.run(8)
    assert old.raft.log.committed == before, "a leader without a quorum committed an entry"
    assert all(e.data != b"from the minority" for e in s.committed_log.values())


def test_figure8_entries_from_old_terms_commit_only_with_a_current_term_entry() -> None:
    """Raft paper Figure 8: a leader must not commit an old-term entry by counting replicas."""
    storage = MemoryStorage(ConfState(voters=[1, 2, 3]))
    storage.append([Entry(1, 1), Entry(2, 2)])
    storage.set_hard_state(HardState(term=3, vote=0, commit=1))
    n = RawNode(Config(id=1, rng=random.Random(1)), storage)
    r = n.raft
    r.become_candidate()  # term 4
    r.become_leader()  # appends an empty entry at index 3, term 4
    n.ready()
    # follower 2 acknowledges index 2 (the old term-2 entry) only
    r.step(Message(type=MessageType.APP_RESP, frm=2, to=1, term=r.term, index=2))
    assert r.log.committed == 1, "an entry of an older term was committed by counting replicas"
    r.step(Message(type=MessageType.APP_RESP, frm=2, to=1, term=r.term, index=3))
    assert r.log.committed == 3, "a current-term entry on a quorum commits everything before it"


def test_read_index_waits_for_a_quorum_and_never_serves_on_a_deposed_leader() -> None:
    s = Simulation(5, 3)
    lead = stable_leader(s)
    s.propose(b"before-read")
    s.run(5)
    node = s.nodes[lead].node
    assert node is not None
    committed = node.raft.log.committed
    s.partition({lead}, set(s.nodes) - {lead})
    node.read_index(b"r1")
    s.run(40)
    assert not any(rs.request_ctx == b"r1" for rs, _ in s.nodes[lead].reads), \
        "a leader cut off from the quorum answered a linearizable read"
    s.heal()
    s.run(60)
    ld = s.leader()
    assert ld is not None and ld.node is not None
    ld.node.read_index(b"r2")
    s.run(5)
    served = [rs for rs, _ in ld.reads if rs.request_ctx == b"r2"]
    assert served and served[0].index >= committed


def test_follower_read_index_is_forwarded_and_answered() -> None:
    s = Simulation(6, 3)
    lead = stable_leader(s)
    s.propose(b"x")
    s.run(5)
    follower = next(i for i in s.nodes if i != lead)
    s.nodes[follower].node.read_index(b"f1")  # type: ignore[union-attr]
    s.run(5)
    served = [rs for rs, _ in s.nodes[follower].reads if rs.request_ctx == b"f1"]
    assert served and served[0].index >= s.nodes[lead].node.raft.log.committed - 1  # type: ignore[union-attr]


def test_leader_transfer() -> None:
    s = Simulation(7, 3)
    lead = stable_leader(s)
    target = next(i for i in s.nodes if i != lead)
    s.nodes[lead].node.transfer_leader(target)  # type: ignore[union-attr]
    s.run(10)
    assert s.leader() is not None and s.leader().id == target  # type: ignore[union-attr]


def test_proposals_are_dropped_during_transfer_and_without_leader() -> None:
    s = Simulation(8, 3)
    lead = stable_leader(s)
    target = next(i for i in s.nodes if i != lead)
    s.partition({target}, set(s.nodes) - {target})
    node = s.nodes[lead].node
    assert node is not None
    node.transfer_leader(target)
    with pytest.raises(ProposalDropped):
        node.propose(b"x")
    lone = RawNode(Config(id=9, rng=random.Random(0)), MemoryStorage())
    with pytest.raises(ProposalDropped):
        lone.propose(b"x")


def test_learner_does_not_vote_or_count_for_quorum() -> None:
    s = Simulation(9, 3)
    stable_leader(s)
    s.run(10)  # the leader commits an entry of its term before it accepts a change
    s.add_node(4, learner=True)
    s.run(30)
    ld = s.leader()
    assert ld is not None and ld.node is not None
    assert ld.node.raft.prs[4].is_learner
    assert 4 not in ld.node.raft.voters()
    learner = s.nodes[4].node
    assert learner is not None
    # a forced (transfer) campaign bypasses the leader lease, so the learner must decide, and refuse
    m = Message(type=MessageType.VOTE, frm=2, to=4, term=learner.term + 1, index=10**6, log_term=10**6,
                context=b"CampaignTransfer")
    learner.step(m)
    votes = [x for x in learner.raft.msgs if x.type == MessageType.VOTE_RESP]
    assert votes and all(x.reject for x in votes), "a learner granted a vote"
    # the learner replicates without being part of the quorum: cut it off and commits still happen
    s.partition({4}, {1, 2, 3})
    before = max(s.committed_log)
    s.propose(b"without the learner")
    s.run(10)
    assert max(s.committed_log) > before


def test_snapshot_install_after_compaction() -> None:
    s = Simulation(10, 3, snapshot_every=5)
    lead = stable_leader(s)
    lag = next(i for i in s.nodes if i != lead)
    s.crash(lag)
    for i in range(60):
        s.propose(b"p%d" % i)
        s.run(1)
    s.run(10)
    s.restart(lag)
    s.settle()
    ln = s.nodes[lag]
    assert ln.node is not None and ln.node.raft.log.first_index() > 1, "the lagging node did not get a snapshot"
    assert ln.applied_index >= max(s.committed_log) - 1


def test_membership_one_change_at_a_time() -> None:
    s = Simulation(11, 3)
    lead = stable_leader(s)
    node = s.nodes[lead].node
    assert node is not None
    with pytest.raises(ProposalDropped):  # no entry of the new term is committed yet
        node.propose_conf_change(ConfChange(ConfChangeType.ADD_NODE, 4))
    s.run(10)
    s.add_node(4)
    with pytest.raises(ProposalDropped):  # the first change is still pending
        node.propose_conf_change(ConfChange(ConfChangeType.ADD_NODE, 5))
    s.run(40)
    assert 4 in node.raft.voters()
    s.remove_node(4)
    s.run(40)
    ld = s.leader()
    assert ld is not None and ld.node is not None and 4 not in ld.node.raft.prs
