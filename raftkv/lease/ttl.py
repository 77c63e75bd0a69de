"""The shortest TTL a lease may have, from the member's Raft timing (pure arithmetic).

A lease shorter than about one and a half election timeouts could expire while its keep-alives are
still being forwarded to a leader that was just elected, so etcd raises every grant to at least that
much. etcd counts in ticks: the election timeout is a whole number of heartbeats
(`--election-timeout / --heartbeat-interval`, integer division), 3/2 of those ticks (again integer
division) times the heartbeat, rounded up to whole seconds. We compute exactly the same number, so a
client's 2 s lease is 2 s here whenever it is 2 s on etcd with the same flags (1000/100 ms: 2 s;
500/50 ms: 1 s; 1500/100 ms: 3 s).
"""

from __future__ import annotations


def election_ticks(election_timeout_ms: int, heartbeat_interval_ms: int) -> int:
    """etcd's ElectionTicks: how many whole heartbeats fit in the election timeout."""
    return election_timeout_ms // heartbeat_interval_ms


def min_lease_ttl(election_timeout_ms: int, heartbeat_interval_ms: int) -> int:
    """Seconds: ceil(((3 * election ticks) // 2) * heartbeat / 1000), as etcd 3.4's server computes it."""
    min_ms = (3 * election_ticks(election_timeout_ms, heartbeat_interval_ms) // 2) * heartbeat_interval_ms
    return -(-min_ms // 1000)
