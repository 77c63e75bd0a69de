"""E2e helpers: `raftkv-scheduler` processes (as system:kube-scheduler, the bootstrap RBAC identity) and Node
objects registered straight through the API (no kubelet binds or runs anything: the scheduler under test is the
only one placing pods)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from tests.conftest import register_process
from tests.controllers.cluster import ROOT, ControllerManager, ControlPlane

SCHEDULER_USER = "system:kube-scheduler"


def start_scheduler(cp: ControlPlane, *flags: str, index: int = 0) -> ControllerManager:
    """`python -m controllers.scheduler --kubeconfig <system:kube-scheduler> <flags>` (--secure-port=0 unless set)."""
    kc = os.path.join(cp.tmp, "kubeconfig-kube-scheduler")
    if not os.path.exists(kc):
        kc = cp.kubeconfig_for("kube-scheduler", SCHEDULER_USER)
    args = ["--kubeconfig", kc, *flags]
    if not any(f.startswith("--secure-port") for f in flags):
        args.append("--secure-port=0")
    log_path = os.path.join(cp.tmp, f"scheduler-{index}-{len(cp.managers)}.log")
    with open(log_path, "wb") as out:
        proc = register_process(subprocess.Popen([sys.executable, "-m", "controllers.scheduler", *args], cwd=ROOT,
                                                 stdout=out, stderr=subprocess.STDOUT))
    m = ControllerManager(proc, log_path, args)
    cp.managers.append(m)  # stopped with the control plane's managers
    return m


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_node(cp: ControlPlane, name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
             labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None) -> None:
    """A Ready node with that allocatable, labels (plus kubernetes.io/hostname) and taints."""
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or []}}
    cp.api("POST", "/api/v1/nodes", node)
    t = now()
    res = {"cpu": cpu, "memory": memory, "pods": pods}
    status = {"status": {"capacity": res, "allocatable": res, "conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
         "lastHeartbeatTime": t, "lastTransitionTime": t}]}}
    cp.api("PATCH", f"/api/v1/nodes/{name}/status", status, "application/merge-patch+json")


def delete_nodes(cp: ControlPlane, names: list[str]) -> None:
    for n in names:
        cp.request("DELETE", f"/api/v1/nodes/{n}")


def pod_manifest(name: str, *, cpu: str = "100m", labels: dict[str, str] | None = None,
                 **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": cpu}}}],
                     "terminationGracePeriodSeconds": 0, **spec}}


def apply(cp: ControlPlane, ns: str, *objs: dict[str, Any]) -> None:
    """`kubectl apply -n ns -f -` with the objects."""
    cp.kubectl("-n", ns, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                 "items": list(objs)}))


def pod(cp: ControlPlane, ns: str, name: str) -> dict[str, Any]:
    return json.loads(cp.kubectl("-n", ns, "get", "pod", name, "-o", "json").stdout)


def node_of(cp: ControlPlane, ns: str, name: str) -> str:
    return str(((cp.get(f"/api/v1/namespaces/{ns}/pods/{name}") or {}).get("spec") or {}).get("nodeName") or "")


def events(cp: ControlPlane, ns: str, name: str) -> Iterator[dict[str, Any]]:
    listed = cp.get(f"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name={name}") or {}
    yield from listed.get("items") or []


def condition(p: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in (p.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})
