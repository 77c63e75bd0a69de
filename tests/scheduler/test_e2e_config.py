"""`--config` with a KubeSchedulerConfiguration: a second scheduler process serving only its own profile
(MostAllocated bin packing) schedules the pods that name it, beside nothing else; /healthz and /metrics are served
on --secure-port."""

from __future__ import annotations

import functools
import json
import os
import ssl
import urllib.request

import pytest

from tests.conftest import free_port
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
CONFIG = {
    "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
    # system:kube-scheduler may only hold the kube-scheduler Lease (bootstrap RBAC), so this one runs alone
    "leaderElection": {"leaderElect": False},
    "profiles": [{"schedulerName": "bin-packer",
                  "plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]}},
                  "pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
                      "type": "MostAllocated", "resources": [{"name": "cpu", "weight": 1}]}}}]}],
}


def _get(port: int, path: str) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # kube-scheduler's self-signed serving certificate
    with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=ctx, timeout=10) as r:
        return str(r.read().decode())


def test_config_profile_bin_packs_and_serves_health(control_plane: ControlPlane) -> None:
    cp, ns = control_plane, "sched-config"
    cp.create_namespace(ns)
    path = os.path.join(cp.tmp, "bin-packer.yaml")
    with open(path, "w") as f:
        json.dump(CONFIG, f)  # JSON is YAML
    port = free_port()
    add_node(cp, "pack-1", cpu="4")
    add_node(cp, "pack-2", cpu="4")
    try:
        m = start_scheduler(cp, f"--config={path}", f"--secure-port={port}", "--bind-address=127.0.0.1", index=3)
        cp.wait_for_log(m, "caches synced; scheduling (profiles: bin-packer)", DEADLINE_S)
        apply(cp, ns, pod_manifest("first", cpu="1", schedulerName="bin-packer"))
        first = cp.wait(lambda: node_of(cp, ns, "first"), DEADLINE_S, "first bound")
        apply(cp, ns, *(pod_manifest(f"next-{i}", cpu="1", schedulerName="bin-packer") for i in range(2)),
              pod_manifest("default-one"))
        for name in ("next-0", "next-1"):
            assert cp.wait(functools.partial(node_of, cp, ns, name), DEADLINE_S, f"{name} bound") == first
        scheduled = [e for e in events(cp, ns, "first") if e["reason"] == "Scheduled"]
        assert scheduled[0]["source"]["component"] == "bin-packer"
        assert not node_of(cp, ns, "default-one")  # nobody runs default-scheduler here
        assert _get(port, "/healthz") == "ok"
        metrics = _get(port, "/metrics")
        assert 'scheduler_schedule_attempts_total{result="scheduled"} 3' in metrics
    finally:
        cp.stop_managers()
        delete_nodes(cp, ["pack-1", "pack-2"])
