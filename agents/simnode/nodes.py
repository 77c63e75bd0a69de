"""What a kubelet 1.32 writes for its Node and its kube-node-lease Lease (pure: names, addresses and `now` are
passed in).

Registration (kubelet_node_status.go initialNode and the nodestatus setters): the hostname/os/arch labels (stable
and beta), --node-labels, --register-with-taints, the attach-detach annotation, spec.podCIDR (set here because no
nodeipam controller runs; kwok does the same), capacity and allocatable (memory less the 100Mi hard eviction
threshold, ephemeral-storage less its 10%), InternalIP and Hostname addresses, nodeInfo, daemonEndpoints and the
four conditions in the kubelet's order with its reasons and messages.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from agents.simnode.clockfmt import micro, rfc3339

Obj = dict[str, Any]

KUBELET_VERSION = "v1.32.0"
NODE_LEASE_NAMESPACE = "kube-node-lease"
KUBELET_PORT = 10250
EVICTION_MEMORY_BYTES = 100 * 1024 * 1024  # memory.available<100Mi
EVICTION_NODEFS_FRACTION = 0.10  # nodefs.available<10%

_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9,
          "T": 10**12}


def quantity_bytes(text: str) -> int:
    """"16Gi" -> 17179869184 (binary and decimal suffixes; plain numbers are bytes)."""
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * _UNITS[suffix])
    return int(text)


@dataclass(frozen=True)
class NodeProfile:
    """What every node of one simnode process looks like (flags)."""
    cpu: str = "4"
    memory: str = "16Gi"
    pods: int = 110
    ephemeral_storage: str = "100Gi"
    arch: str = "amd64"
    zone: str = ""
    region: str = ""
    instance_type: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Obj, ...] = ()
    os_image: str = "Debian GNU/Linux 12 (bookworm)"
    kernel_version: str = "6.1.0-28-amd64"
    container_runtime_version: str = "containerd://1.7.24"


def node_labels(name: str, profile: NodeProfile) -> dict[str, str]:
    labels = {"beta.kubernetes.io/arch": profile.arch, "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": profile.arch, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    if profile.instance_type:
        labels["node.kubernetes.io/instance-type"] = profile.instance_type
        labels["beta.kubernetes.io/instance-type"] = profile.instance_type
    if profile.zone:
        labels["topology.kubernetes.io/zone"] = profile.zone
        labels["failure-domain.beta.kubernetes.io/zone"] = profile.zone
    if profile.region:
        labels["topology.kubernetes.io/region"] = profile.region
        labels["failure-domain.beta.kubernetes.io/region"] = profile.region
    labels.update(profile.labels)
    return labels


def _stable_uuid(name: str, what: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(f"{what}/{name}".encode()).digest()[:16], version=4))


def capacity(profile: NodeProfile) -> tuple[dict[str, str], dict[str, str]]:
    """(capacity, allocatable) in the units the kubelet reports them (memory in Ki, allocatable storage in bytes)."""
    mem = quantity_bytes(profile.memory)
    disk = quantity_bytes(profile.ephemeral_storage)
    cap = {"cpu": profile.cpu, "ephemeral-storage": f"{disk // 1024}Ki", "hugepages-1Gi": "0",
           "hugepages-2Mi": "0", "memory": f"{mem // 1024}Ki", "pods": str(profile.pods)}
    alloc = {"cpu": profile.cpu, "ephemeral-storage": str(int(disk * (1 - EVICTION_NODEFS_FRACTION))),
             "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": f"{max(0, mem - EVICTION_MEMORY_BYTES) // 1024}Ki",
             "pods": str(profile.pods)}
    return cap, alloc


CONDITIONS_READY = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_conditions(now: float, old: list[Obj] | None = None) -> list[Obj]:
    """The four kubelet conditions of a healthy node, heartbeat `now`; a condition whose status did not change
    keeps its lastTransitionTime (a node coming back from Unknown gets a new one)."""
    before = {c.get("type"): c for c in old or []}
    out = []
    for ctype, status, reason, message in CONDITIONS_READY:
        prev = before.get(ctype)
        since = prev.get("lastTransitionTime") if prev and prev.get("status") == status else None
        out.append({"type": ctype, "status": status, "lastHeartbeatTime": rfc3339(now),
                    "lastTransitionTime": since or rfc3339(now), "reason": reason, "message": message})
    return out


def node_status(name: str, internal_ip: str, profile: NodeProfile, now: float,
                old_conditions: list[Obj] | None = None) -> Obj:
    cap, alloc = capacity(profile)
    return {
        "capacity": cap, "allocatable": alloc,
        "conditions": node_conditions(now, old_conditions),
        "addresses": [{"type": "InternalIP", "address": internal_ip}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {"machineID": hashlib.md5(name.encode()).hexdigest(),
                     "systemUUID": _stable_uuid(name, "system"), "bootID": _stable_uuid(name, "boot"),
                     "kernelVersion": profile.kernel_version, "osImage": profile.os_image,
                     "containerRuntimeVersion": profile.container_runtime_version,
                     "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
                     "architecture": profile.arch},
    }


def node_object(name: str, internal_ip: str, pod_cidr: str, profile: NodeProfile, now: float) -> Obj:
    """The Node a kubelet POSTs when it registers (status included: nodes accept status on create)."""
    spec: Obj = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    if profile.taints:
        spec["taints"] = [dict(t) for t in profile.taints]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": node_labels(name, profile),
                         "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": spec, "status": node_status(name, internal_ip, profile, now)}


def lease_object(name: str, node_uid: str, duration_s: int, now: float) -> Obj:
    """The node's Lease in kube-node-lease, owned by its Node (so it goes when the Node is deleted)."""
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": duration_s, "renewTime": micro(now)}}


def renewed(lease: Obj, now: float) -> Obj:
    """The same Lease (resourceVersion kept, so a PUT is guarded) with renewTime `now`."""
    return {**lease, "spec": {**(lease.get("spec") or {}), "renewTime": micro(now)}}


def renew_offset(index: int, count: int, interval_s: float) -> float:
    """Where in the renewal period node `index` of `count` renews: spread evenly, so N nodes cost N/interval
    writes a second instead of a burst of N every interval."""
    return (index % max(1, count)) * interval_s / max(1, count)
