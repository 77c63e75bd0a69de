"""Two raftkv-scheduler processes on the kube-system/kube-scheduler Lease: only the leader schedules; after a
kill -9 of the leader the other takes the lease and schedules the rest, and no pod is ever bound twice."""

from __future__ import annotations

import functools

import pytest

from tests.controllers.cluster import ControlPlane
from tests.scheduler.cluster import (
    add_node,
    apply,
    delete_nodes,
    events,
    node_of,
    pod_manifest,
    start_scheduler,
)

pytestmark = pytest.mark.e2e
DEADLINE_S = 60
FAST_LEASE = ["--leader-elect=true", "--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s",
              "--leader-elect-retry-period=1s"]


def test_kill_9_of_the_leader_hands_over_without_double_binding(control_plane: ControlPlane) -> None:
    cp, ns = control_plane, "sched-le"
    cp.create_namespace(ns)
    add_node(cp, "le-1")
    add_node(cp, "le-2")
    try:
        first = start_scheduler(cp, *FAST_LEASE, index=1)
        cp.wait_for_log(first, "successfully acquired lease kube-system/kube-scheduler", DEADLINE_S)
        second = start_scheduler(cp, *FAST_LEASE, index=2)
        cp.wait_for_log(second, "attempting to acquire leader lease", DEADLINE_S)
        lease = cp.api("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler")
        assert lease["spec"]["holderIdentity"] and lease["spec"]["leaseDurationSeconds"] == 4

        apply(cp, ns, *(pod_manifest(f"before-{i}") for i in range(5)))
        for name in [f"before-{i}" for i in range(5)]:
            cp.wait(functools.partial(node_of, cp, ns, name), DEADLINE_S, f"{name} bound")
        assert "successfully acquired lease" not in second.log()

        # kill -9 in the middle of a burst: some bindings done, some assumed only, some not yet decided
        apply(cp, ns, *(pod_manifest(f"burst-{i}") for i in range(30)))
        cp.wait(lambda: any(node_of(cp, ns, f"burst-{i}") for i in range(30)), DEADLINE_S, "a burst pod bound")
        first.kill()
        apply(cp, ns, *(pod_manifest(f"after-{i}") for i in range(5)))
        cp.wait_for_log(second, "successfully acquired lease kube-system/kube-scheduler", DEADLINE_S)
        names = [f"before-{i}" for i in range(5)] + [f"burst-{i}" for i in range(30)] + [f"after-{i}" for i in range(5)]
        for name in names:
            cp.wait(functools.partial(node_of, cp, ns, name), DEADLINE_S, f"{name} bound")
        taken = cp.api("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler")
        assert taken["spec"]["holderIdentity"] != lease["spec"]["holderIdentity"]
        assert taken["spec"]["leaseTransitions"] >= 1

        for name in names:
            evs = list(events(cp, ns, name))
            scheduled = [e for e in evs if e["reason"] == "Scheduled"]
            # one binding each; a burst pod's Scheduled event may die with the killed leader, none is doubled
            want = (0, 1) if name.startswith("burst-") else (1,)
            assert len(scheduled) in want and all(e.get("count", 1) == 1 for e in scheduled), (name, evs)
            assert not [e for e in evs if e["reason"] == "FailedScheduling"], (name, evs)
        assert second.alive()
    finally:
        cp.stop_managers()
        delete_nodes(cp, ["le-1", "le-2"])


def test_a_leader_that_cannot_renew_exits_1(control_plane: ControlPlane) -> None:
    """As kube-scheduler: the API server gone past the renew deadline, the leader stops leading and exits 1."""
    cp = control_plane
    leader = start_scheduler(cp, *FAST_LEASE, index=4)
    try:
        cp.wait_for_log(leader, "successfully acquired lease kube-system/kube-scheduler", DEADLINE_S)
        assert cp.apiserver_process is not None
        cp.apiserver_process.stop()
        try:
            assert leader.wait_exit(DEADLINE_S) == 1
            assert "leaderelection lost" in leader.log()
        finally:
            cp.apiserver_process.start()
    finally:
        cp.stop_managers()
