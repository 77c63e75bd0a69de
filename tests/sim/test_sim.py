"""Seeded whole-cluster simulations of the Raft core under faults; safety is checked every step."""

from __future__ import annotations

import pytest

from tests.sim.simulator import Simulation


def chaos_run(seed: int, size: int, membership: bool = False) -> Simulation:
    s = Simulation(seed, size, drop=0.05, dup=0.05, max_delay=3, snapshot_every=30)
    print(f"seed={seed} size={size} membership={membership}")
    s.run(60)
    next_id = size + 1
    for r in range(20):
        if membership and r % 4 == 1:
            # change the configuration while faults go on: add a fresh member, or remove a non-leader voter
            voters = s.voters()
            if len(voters) <= size:
                s.add_node(next_id, learner=s.rng.random() < 0.3)
                next_id += 1
            else:
                ld = s.leader()
                victims = [v for v in voters if ld is None or v != ld.id]
                if victims:
                    s.remove_node(s.rng.choice(victims))
        for k in range(5):
            s.propose(b"s%d-r%d-k%d" % (seed, r, k))
        s.run(10)
        x = s.rng.random()
        ids = list(s.nodes)
        if x < 0.15:
            ld = s.leader()
            if ld:
                s.partition({ld.id}, set(ids) - {ld.id})
        elif x < 0.25:
            a = s.rng.choice(ids)
            s.partition(set(ids[: len(ids) // 2]) | {a}, set(ids) - set(ids[: len(ids) // 2]) - {a})
        elif x < 0.3:
            s.cut_one_way(s.rng.choice(ids), s.rng.choice(ids))
        elif x < 0.4:
            s.crash(s.rng.choice(ids))
        elif x < 0.6:
            s.heal()
            for n in s.nodes.values():
                if n.node is None:
                    s.restart(n.id)
    for n in s.nodes.values():
        if n.node is None:
            s.restart(n.id)
    s.settle()
    # every entry committed anywhere is applied by every member of the final configuration
    ld = s.leader()
    assert ld is not None and ld.node is not None
    for n in s.alive():
        if n.id in ld.node.raft.prs:
            assert n.applied_index >= max(s.committed_log), f"seed={seed}: member {n.id} did not catch up"
    return s


@pytest.mark.sim
@pytest.mark.parametrize("seed", range(150))
def test_three_members_under_faults(seed: int) -> None:
    chaos_run(seed, 3)


@pytest.mark.sim
@pytest.mark.parametrize("seed", range(1000, 1080))
def test_five_members_under_faults(seed: int) -> None:
    chaos_run(seed, 5)


@pytest.mark.sim
@pytest.mark.parametrize("seed", range(2000, 2060))
def test_membership_changes_under_faults(seed: int) -> None:
    chaos_run(seed, 3 if seed % 2 else 5, membership=True)


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.parametrize("seed", range(10_000, 13_000))
def test_many_seeds(seed: int) -> None:
    chaos_run(seed, 3 if seed % 2 else 5, membership=seed % 3 == 0)
