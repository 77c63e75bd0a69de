"""When a member hands its queued proposals to Raft and starts ReadIndex rounds: pure policies.

Every batch a leader steps costs an fsync on each member and a round of peer frames; in Python that
fixed cost is several times the cost of the entries themselves. So while the leader's previous batch
is still uncommitted, new proposals wait for it (bounded by a window and a batch size) and then go
together: under load the batches grow with the load, and an idle leader, with nothing in flight,
steps a lone proposal at once, so a single sequential client sees no added delay. Followers forward
at once: the leader batches.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPolicy:
    """Measured with bench_vs_etcd's loads once the client port ran on grpcwire (requests cost ~5x less CPU,
    so batches fill faster): 10/4/2 ms beat 20/8/5 ms (put c256 +60%, p99 at c64 -40%) and shorter windows."""

    window_s: float = 0.010
    max_batch: int = 512
    min_gap_s: float = 0.004
    read_window_s: float = 0.002
    max_reads: int = 1024


def proposals_due(policy: BatchPolicy, waiting: int, is_leader: bool, committed: int, in_flight_to: int,
                  stepped_at: float, now: float, last_batch: int = 0) -> float | None:
    """None to step the waiting proposals now, else the time at which to step them anyway.

    `in_flight_to` is the leader's last log index after its previous batch; that batch is in flight
    while `committed` is below it. After a batch of several proposals (load), the next one also waits
    until `min_gap_s` after it, even if it has committed; after a lone proposal nothing waits.
    """
    if not is_leader or waiting >= policy.max_batch:
        return None
    if committed >= in_flight_to:
        gap_until = stepped_at + policy.min_gap_s
        return gap_until if last_batch > 1 and now < gap_until else None
    due = stepped_at + policy.window_s
    return None if now >= due else due


def read_round_due(policy: BatchPolicy, waiting: int, last_round_reads: int, last_started: float,
                   now: float) -> float | None:
    """None to start a ReadIndex round for the waiting reads now, else when to start it anyway.

    A round costs a heartbeat to every follower and their answers, and rounds are quick, so under
    load they would each confirm only a read or two. After a round that carried more than one read
    (a sign of load) the next starts no sooner than `read_window_s` after it, gathering the reads
    that arrive meanwhile; after a round of a single read (a lone client) it starts at once.
    """
    if last_round_reads <= 1 or waiting >= policy.max_reads:
        return None
    due = last_started + policy.read_window_s
    return None if now >= due else due
