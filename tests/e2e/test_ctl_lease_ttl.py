"""The TTLs etcdctl 3.4 is told, on etcd 3.4 and on raftkv: grants below the minimum are raised to etcd's
minimum (ceil(((3 * (election // heartbeat)) // 2) * heartbeat) = 1 s at tests/e2e's 500/50 ms, see
tests/lease/test_ttl.py for the formula) and TimeToLive's remaining seconds are truncated, not rounded."""

from __future__ import annotations

import re

import pytest

from tests.e2e.cluster import ProcessCluster

pytestmark = pytest.mark.e2e


def out(c: ProcessCluster, endpoint: str, *args: str) -> str:
    p = c.etcdctl(*args, endpoints=[endpoint])
    assert p.returncode == 0, f"etcdctl {' '.join(args)}: {p.stderr.strip()}"
    return p.stdout


@pytest.mark.parametrize(("asked", "granted"), [(0, 1), (1, 1), (2, 2), (7, 7)])
def test_grant_is_raised_to_etcds_minimum(cluster: ProcessCluster, asked: int, granted: int) -> None:
    for ep in cluster.endpoints:  # the leader and the followers answer alike
        line = out(cluster, ep, "lease", "grant", str(asked))
        assert re.fullmatch(rf"lease [0-9a-f]{{16}} granted with TTL\({granted}s\)\n", line), line


def test_time_to_live_truncates_the_remaining_seconds(cluster: ProcessCluster) -> None:
    for ep in cluster.endpoints:
        lid = out(cluster, ep, "lease", "grant", "30").split()[1]
        line = out(cluster, ep, "lease", "timetolive", lid)
        m = re.fullmatch(rf"lease {lid} granted with TTL\(30s\), remaining\((\d+)s\)\n", line)
        assert m, line
        assert int(m.group(1)) <= 29  # some time has passed since the grant: 29.x s, printed as 29 (or less)
        out(cluster, ep, "lease", "revoke", lid)
