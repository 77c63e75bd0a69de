"""A node and the pods counted on it, with the aggregates the plugins need precomputed (kube's NodeInfo):
requested and non-zero requested resources, host ports in use, pods with affinity terms, image names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controllers.scheduler.podinfo import PodInfo
from controllers.scheduler.quantity import QuantityError, amount

Object = dict[str, Any]


def normalized_image_name(name: str) -> str:
    """Images without a tag or digest mean :latest (kube's normalizedImageName, applied on both sides)."""
    if "@" in name or name.rfind(":") > name.rfind("/"):
        return name
    return name + ":latest"


def _resources(raw: Mapping[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in (raw or {}).items():
        try:
            out[k] = amount(k, v)
        except QuantityError:
            continue
    return out


@dataclass
class NodeInfo:
    node: Object
    name: str
    labels: Mapping[str, str]
    allocatable: dict[str, int]
    taints: list[Object]
    unschedulable: bool
    images: dict[str, int]  # image name -> size in bytes (every name the node reports for it)
    pods: dict[str, PodInfo] = field(default_factory=dict)  # by uid
    pods_by_namespace: dict[str, dict[str, PodInfo]] = field(default_factory=dict)  # ns -> uid -> pod
    requested: dict[str, int] = field(default_factory=dict)
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    used_ports: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # (protocol, port) -> host IPs
    affinity_pods: dict[str, PodInfo] = field(default_factory=dict)
    anti_affinity_pods: dict[str, PodInfo] = field(default_factory=dict)  # with required anti-affinity
    owner_counts: dict[str, int] = field(default_factory=dict)  # spread_owner -> live pods (default spreading)
    generation: int = 0

    @classmethod
    def from_node(cls, node: Object) -> NodeInfo:
        meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
        images: dict[str, int] = {}
        for img in status.get("images") or []:
            for name in img.get("names") or []:
                images[normalized_image_name(name)] = int(img.get("sizeBytes") or 0)
        return cls(node=node, name=meta.get("name") or "", labels=meta.get("labels") or {},
                   allocatable=_resources(status.get("allocatable") or status.get("capacity")),
                   taints=spec.get("taints") or [], unschedulable=bool(spec.get("unschedulable")), images=images)

    def set_node(self, node: Object) -> None:
        fresh = NodeInfo.from_node(node)
        self.node, self.labels, self.allocatable = fresh.node, fresh.labels, fresh.allocatable
        self.taints, self.unschedulable, self.images = fresh.taints, fresh.unschedulable, fresh.images
        self.generation += 1

    def add_pod(self, p: PodInfo) -> None:
        if p.uid in self.pods:
            self.remove_pod(p.uid)
        self.pods[p.uid] = p
        self.pods_by_namespace.setdefault(p.namespace, {})[p.uid] = p
        for k, v in p.requests.items():
            self.requested[k] = self.requested.get(k, 0) + v
        self.nonzero_cpu += p.nonzero_cpu
        self.nonzero_memory += p.nonzero_memory
        for ip, proto, port in p.ports:
            self.used_ports.setdefault((proto, port), set()).add(ip)
        if p.has_affinity:
            self.affinity_pods[p.uid] = p
        if p.required_anti_affinity:
            self.anti_affinity_pods[p.uid] = p
        if p.spread_owner and not p.terminating:
            self.owner_counts[p.spread_owner] = self.owner_counts.get(p.spread_owner, 0) + 1
        self.generation += 1

    def remove_pod(self, uid: str) -> PodInfo | None:
        p = self.pods.pop(uid, None)
        if p is None:
            return None
        in_ns = self.pods_by_namespace.get(p.namespace)
        if in_ns is not None:
            in_ns.pop(uid, None)
            if not in_ns:
                del self.pods_by_namespace[p.namespace]
        for k, v in p.requests.items():
            self.requested[k] = self.requested.get(k, 0) - v
        self.nonzero_cpu -= p.nonzero_cpu
        self.nonzero_memory -= p.nonzero_memory
        for ip, proto, port in p.ports:
            ips = self.used_ports.get((proto, port))
            if ips is not None:
                ips.discard(ip)
                if not ips:
                    del self.used_ports[(proto, port)]
        self.affinity_pods.pop(uid, None)
        self.anti_affinity_pods.pop(uid, None)
        if p.spread_owner and not p.terminating:
            left = self.owner_counts.get(p.spread_owner, 0) - 1
            if left > 0:
                self.owner_counts[p.spread_owner] = left
            else:
                self.owner_counts.pop(p.spread_owner, None)
        self.generation += 1
        return p

    def clone(self) -> NodeInfo:
        """A copy whose pod set can change (preemption's what-if) without touching the cache."""
        c = NodeInfo(self.node, self.name, self.labels, self.allocatable, self.taints, self.unschedulable,
                     self.images)
        for p in self.pods.values():
            c.add_pod(p)
        return c


@dataclass
class Snapshot:
    """The nodes of one scheduling cycle, in a stable order, and cluster-wide aggregates."""

    nodes: list[NodeInfo]
    by_name: dict[str, NodeInfo]
    image_nodes: dict[str, int]  # image name -> how many nodes have it
    pvcs: Mapping[str, Object] = field(default_factory=dict)  # "ns/name" -> PVC
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # for namespaceSelectors
    owner_nodes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # controller -> node -> pods

    @classmethod
    def of(cls, nodes: list[NodeInfo], pvcs: Mapping[str, Object] | None = None) -> Snapshot:
        image_nodes: dict[str, int] = {}
        for n in nodes:
            for img in n.images:
                image_nodes[img] = image_nodes.get(img, 0) + 1
        return cls(nodes, {n.name: n for n in nodes}, image_nodes, pvcs or {})

    def have_affinity(self) -> bool:
        return any(n.affinity_pods for n in self.nodes)

    def have_anti_affinity(self) -> bool:
        return any(n.anti_affinity_pods for n in self.nodes)
