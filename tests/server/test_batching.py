"""The proposal batching policy: when queued proposals go to Raft."""

from __future__ import annotations

from raftkv.server.batching import BatchPolicy, proposals_due, read_round_due

P = BatchPolicy(window_s=0.02, max_batch=4)


def test_an_idle_leader_steps_at_once() -> None:
    assert proposals_due(P, 1, True, committed=10, in_flight_to=10, stepped_at=5.0, now=5.001) is None


def test_a_leader_with_a_batch_in_flight_waits_until_the_window_closes() -> None:
    assert proposals_due(P, 3, True, committed=9, in_flight_to=10, stepped_at=5.0, now=5.001) == 5.02
    assert proposals_due(P, 3, True, committed=9, in_flight_to=10, stepped_at=5.0, now=5.02) is None


def test_a_full_batch_goes_even_with_one_in_flight() -> None:
    assert proposals_due(P, 4, True, committed=9, in_flight_to=10, stepped_at=5.0, now=5.001) is None


def test_a_follower_forwards_at_once() -> None:
    assert proposals_due(P, 1, False, committed=0, in_flight_to=10, stepped_at=5.0, now=5.001) is None


def test_a_read_after_a_single_read_round_starts_at_once() -> None:
    assert read_round_due(P, 1, last_round_reads=1, last_started=5.0, now=5.0001) is None


def test_reads_after_a_busy_round_gather_until_the_read_window_closes() -> None:
    policy = BatchPolicy(read_window_s=0.005, max_reads=100)
    assert read_round_due(policy, 3, last_round_reads=7, last_started=5.0, now=5.001) == 5.005
    assert read_round_due(policy, 3, last_round_reads=7, last_started=5.0, now=5.005) is None
    assert read_round_due(policy, 100, last_round_reads=7, last_started=5.0, now=5.001) is None


def test_after_a_busy_batch_commits_the_next_still_keeps_the_minimum_gap() -> None:
    policy = BatchPolicy(window_s=0.02, max_batch=100, min_gap_s=0.008)
    assert proposals_due(policy, 3, True, committed=10, in_flight_to=10, stepped_at=5.0, now=5.002,
                         last_batch=7) == 5.008
    assert proposals_due(policy, 3, True, committed=10, in_flight_to=10, stepped_at=5.0, now=5.008,
                         last_batch=7) is None
    assert proposals_due(policy, 3, True, committed=10, in_flight_to=10, stepped_at=5.0, now=5.002,
                         last_batch=1) is None
