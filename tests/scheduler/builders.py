"""Plain Kubernetes dicts for the pure tests: nodes and pods with just the fields a case needs."""

from __future__ import annotations

from typing import Any

from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.podinfo import PodInfo, pod_info

Object = dict[str, Any]


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict[str, str] | None = None,
         taints: list[Object] | None = None, unschedulable: bool = False, images: list[Object] | None = None,
         extra: dict[str, str] | None = None) -> Object:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": alloc, "images": images or []}}


def pod(name: str, *, ns: str = "default", cpu: str | None = None, memory: str | None = None,
        labels: dict[str, str] | None = None, priority: int = 0, node_name: str = "", start: str = "",
        **spec: Any) -> Object:
    reqs = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    containers = spec.pop("containers", None) or [{"name": "c", "image": spec.pop("image", "busybox"),
                                                   "resources": {"requests": reqs} if reqs else {}}]
    body: Object = {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "labels": labels or {}},
                    "spec": {"containers": containers, "priority": priority, **spec}, "status": {}}
    if node_name:
        body["spec"]["nodeName"] = node_name
    if start:
        body["status"]["startTime"] = start
    return body


def info(p: Object) -> PodInfo:
    return pod_info(p)


def node_info(n: Object, *pods: Object) -> NodeInfo:
    ni = NodeInfo.from_node(n)
    for p in pods:
        ni.add_pod(pod_info(p))
    return ni


def snapshot(*nodes: NodeInfo) -> Snapshot:
    return Snapshot.of(list(nodes))
