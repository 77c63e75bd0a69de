"""Leader-side follower progress: backing off after rejections."""

from __future__ import annotations

from raftkv.raft.progress import Progress, ProgressState


def replicating(match: int) -> Progress:
    pr = Progress(match + 1, max_inflight=8)
    pr.maybe_update(match)
    pr.become_replicate()
    return pr


def test_a_rejection_at_or_below_match_while_replicating_is_stale() -> None:
    pr = replicating(157)
    assert not pr.maybe_decr_to(150, 149)
    assert (pr.state, pr.match) == (ProgressState.REPLICATE, 157)


def test_a_probe_answered_by_a_follower_that_lost_acknowledged_entries_lowers_match() -> None:
    pr = replicating(157)
    pr.become_probe()  # the follower was reported unreachable (it crashed)
    assert pr.next == 158
    # it restarts with a WAL cut at 156 and refuses the probe at 157
    assert pr.maybe_decr_to(157, 156)
    assert (pr.next, pr.match) == (157, 156)
    assert not pr.is_paused()


def test_a_probe_rejection_from_a_follower_with_its_log_intact_keeps_match() -> None:
    pr = replicating(100)
    pr.become_probe()
    pr.next = 121  # probing ahead after a leader change, say
    assert pr.maybe_decr_to(120, 110)
    assert (pr.next, pr.match) == (111, 100)
