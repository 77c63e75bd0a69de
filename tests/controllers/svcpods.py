"""Builders for the Services, pods and nodes the endpoints, endpointslice and quota core tests feed their cores:
plain Kubernetes JSON with only the fields a case is about spelled out."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
T0 = "2026-12-01T10:00:00Z"


def service(name: str = "web", ns: str = "default", selector: dict[str, str] | None = None,
            ports: list[Obj] | None = None, cluster_ip: str = "10.96.0.10", labels: dict[str, str] | None = None,
            publish: bool = False, uid: str = "svc-uid", created: str = T0, **spec: Any) -> Obj:
    body: Obj = {"selector": {"app": name} if selector is None else selector,
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}] if ports is None
                 else ports,
                 "clusterIP": cluster_ip, "type": "ClusterIP", **spec}
    if publish:
        body["publishNotReadyAddresses"] = True
    md: Obj = {"name": name, "namespace": ns, "uid": uid, "creationTimestamp": created, "resourceVersion": "5"}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": body}


def pod(name: str, ip: str | None = "10.0.0.1", ready: bool = True, labels: dict[str, str] | None = None,
        node: str = "node-1", ns: str = "default", ports: list[Obj] | None = None, phase: str = "Running",
        deleting: bool = False, ready_at: str = T0, uid: str | None = None, **spec: Any) -> Obj:
    status: Obj = {"phase": phase,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                   "lastTransitionTime": ready_at}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    md: Obj = {"name": name, "namespace": ns, "uid": uid or f"uid-{name}", "labels": labels or {"app": "web"},
               "resourceVersion": "7"}
    if deleting:
        md["deletionTimestamp"] = "2026-12-01T10:05:00Z"
        md["deletionGracePeriodSeconds"] = 30
    containers = [{"name": "c", "image": "nginx", "ports": ports if ports is not None else
                   [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]
    pod_spec: Obj = {"containers": containers, **spec}
    if node:
        pod_spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": pod_spec, "status": status}


def node(name: str, zone: str | None = None) -> Obj:
    labels = {"kubernetes.io/hostname": name}
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels, "uid": f"uid-{name}"}}


def ref(name: str, ns: str = "default") -> Obj:
    return {"kind": "Pod", "namespace": ns, "name": name, "uid": f"uid-{name}"}


def body(action: Any) -> Obj:
    """The object a Create or Update action writes (anything else fails the test)."""
    from controllers.machinery.actions import Create, Update
    assert isinstance(action, (Create, Update)), action
    return action.body
