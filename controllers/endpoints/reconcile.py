"""The Endpoints controller's decision, pure: the Endpoints object a Service's selected pods call for, and the one
write (create, update or delete) that brings the stored object there — or none when it already matches.

As kube-controller-manager 1.32 (pkg/controller/endpoint): a Service without a selector (user-managed Endpoints) or of
type ExternalName is left alone; ready pods become `addresses`, not-ready ones `notReadyAddresses` (all of them
`addresses` with publishNotReadyAddresses); pods without an IP, terminal pods and (unless publishNotReadyAddresses)
terminating pods are skipped; each Service port is resolved per pod (a named targetPort looked up among the pod's
container ports), and a pod without that port is left out of that port only; a headless Service may have no ports.
Subsets are repacked into the canonical form (one subset per distinct address set, not-ready winning over ready for
an address offered on several ports), the Endpoints carry the Service's labels plus `service.kubernetes.io/headless`
for headless Services, the trigger-time annotation, and at most 1,000 addresses with
`endpoints.kubernetes.io/over-capacity: truncated` beyond.

One deliberate difference: Kubernetes orders ports and subsets by an md5 of Go's spew dump of each struct (an order
no user can rely on); here ports sort by (name, port, protocol) and subsets by their ports then addresses, which is
just as stable and readable.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from controllers.endpoints import podutil
from controllers.endpoints.podutil import HEADLESS_LABEL, TRIGGER_TIME_ANNOTATION, semantic
from controllers.machinery.actions import Action, Create, Delete, Update
from controllers.machinery.resources import ENDPOINTS
from controllers.podcontrol import Obj, is_ready, meta, spec

MAX_CAPACITY = 1000
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
TRUNCATED = "truncated"
# Endpoints that hold a leader-election record have no Service; they are never cleaned up as leftovers.
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"

PortKey = tuple[str, int, str, str]
AddrKey = tuple[str, str]
_NO_PORT: PortKey = ("", -1, "", "")  # a headless Service's port-less subset keeps its addresses through repacking


def endpoint_address(service: Obj, pod: Obj) -> Obj | None:
    """The pod's address of the Service's IP family (None when it has none), its node and a reference to it."""
    family = podutil.service_ip_family(service, pod)
    ip = next((ip for ip in podutil.pod_ips(pod) if podutil.is_ipv6(ip) == (family == "IPv6")), None)
    if ip is None:
        return None
    address: Obj = {"ip": ip}
    if podutil.should_set_hostname(pod, service):
        address["hostname"] = spec(pod)["hostname"]
    if spec(pod).get("nodeName"):
        address["nodeName"] = spec(pod)["nodeName"]
    address["targetRef"] = podutil.target_ref(pod)
    return address


def endpoint_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {"port": number, "protocol": podutil.port_protocol(service_port)}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def desired_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The repacked subsets for the Service over `pods` (the pods its selector picks)."""
    publish = bool(spec(service).get("publishNotReadyAddresses"))
    ports = spec(service).get("ports") or []
    headless = (spec(service).get("clusterIP") or "") == "None"
    subsets: list[Obj] = []
    for pod in pods:
        if not podutil.should_pod_be_in_endpoints(pod, include_terminating=publish):
            continue
        address = endpoint_address(service, pod)
        if address is None:
            continue
        field = "addresses" if publish or is_ready(pod) else "notReadyAddresses"
        if not ports:
            if headless:
                subsets.append({field: [address]})
            continue
        for service_port in ports:
            number = podutil.find_port(pod, service_port)
            if number is None:
                continue
            subsets.append({field: [address], "ports": [endpoint_port(service_port, number)]})
    return repack(subsets)


def _port_key(port: Obj) -> PortKey:
    return (port.get("name") or "", int(port.get("port", 0)), podutil.port_protocol(port), port.get("appProtocol") or "")


def _port_from_key(key: PortKey) -> Obj:
    name, number, protocol, app_protocol = key
    port: Obj = {"port": number, "protocol": protocol}
    if name:
        port["name"] = name
    if app_protocol:
        port["appProtocol"] = app_protocol
    return port


def _addr_key(address: Obj) -> AddrKey:
    return (address.get("ip", ""), (address.get("targetRef") or {}).get("uid", ""))


def repack(subsets: list[Obj]) -> list[Obj]:
    """Expand subsets to (port, address, ready) and regroup them: one subset per distinct set of addresses (with
    their readiness), carrying every port those addresses offer; addresses deduplicated by (IP, pod UID)."""
    addresses: dict[AddrKey, Obj] = {}
    by_port: dict[PortKey, dict[AddrKey, bool]] = {}
    for subset in subsets:
        port_keys = [_port_key(p) for p in subset.get("ports") or []] or [_NO_PORT]
        for port in port_keys:
            readiness = by_port.setdefault(port, {})
            for field, ready in (("addresses", True), ("notReadyAddresses", False)):
                for address in subset.get(field) or []:
                    key = _addr_key(address)
                    addresses.setdefault(key, address)
                    if readiness.get(key, True):  # not ready, once seen for a port, wins
                        readiness[key] = ready
    groups: dict[frozenset[tuple[AddrKey, bool]], list[PortKey]] = {}
    for port, readiness in by_port.items():
        groups.setdefault(frozenset(readiness.items()), []).append(port)
    result: list[Obj] = []
    for members, port_keys in groups.items():
        ready_keys = sorted(k for k, r in members if r)
        not_ready_keys = sorted(k for k, r in members if not r)
        packed: Obj = {}
        if ready_keys:
            packed["addresses"] = [copy.deepcopy(addresses[k]) for k in ready_keys]
        if not_ready_keys:
            packed["notReadyAddresses"] = [copy.deepcopy(addresses[k]) for k in not_ready_keys]
        real_ports = sorted(p for p in port_keys if p != _NO_PORT)
        if real_ports:
            packed["ports"] = [_port_from_key(p) for p in real_ports]
        if ready_keys or not_ready_keys:
            result.append(packed)
    return sorted(result, key=_subset_sort_key)


def _subset_sort_key(subset: Obj) -> tuple[list[PortKey], list[AddrKey], list[AddrKey]]:
    return ([_port_key(p) for p in subset.get("ports") or []],
            [_addr_key(a) for a in subset.get("addresses") or []],
            [_addr_key(a) for a in subset.get("notReadyAddresses") or []])


def truncate(subsets: list[Obj]) -> bool:
    """Cut `subsets` in place to MAX_CAPACITY addresses, ready ones first, each subset keeping its share (rounded
    up, the last ones getting what is left). True when something was cut."""
    total_ready = sum(len(s.get("addresses") or []) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = total_ready > MAX_CAPACITY
    limit, total = (MAX_CAPACITY, total_ready) if truncate_ready else (MAX_CAPACITY - total_ready, total_not_ready)
    room = limit
    for subset in subsets:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        members = subset.get(field) or []
        share = min(math.ceil(len(members) / total * limit), room)
        subset[field] = members[:share]
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        room -= len(subset[field])
        if not subset[field]:
            del subset[field]
    return True


def _capacity_annotation_correct(annotations: dict[str, str], subsets: list[Obj]) -> bool:
    count = sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets)
    return count <= MAX_CAPACITY and OVER_CAPACITY_ANNOTATION not in annotations


def reconcile(namespace: str, name: str, service: Obj | None, pods: list[Obj], current: Obj | None,
              trigger_time: str | None) -> list[Action]:
    """The write that makes Endpoints `namespace/name` match Service `service` (None: deleted) over `pods` (every
    pod of the namespace; the selector is applied here). `current` is the stored Endpoints or None;
    `trigger_time` comes from `triggertime.compute`."""
    if service is None:
        if current is None or LEADER_ANNOTATION in (meta(current).get("annotations") or {}):
            return []
        return [Delete(ENDPOINTS, namespace, name)]
    if spec(service).get("type") == "ExternalName" or podutil.service_selector(service) is None:
        return []
    subsets = desired_subsets(service, podutil.selected_pods(service, pods))
    service_labels = dict(meta(service).get("labels") or {})
    if current is not None:
        labels = {k: v for k, v in (meta(current).get("labels") or {}).items() if k != HEADLESS_LABEL}
        annotations = meta(current).get("annotations") or {}
        stored = current.get("subsets") or []
        if (semantic(stored) == semantic(subsets) and labels == service_labels
                and _capacity_annotation_correct(annotations, stored)):
            return []
    body: Obj = copy.deepcopy(current) if current is not None else {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace}}
    body.setdefault("apiVersion", "v1")
    body.setdefault("kind", "Endpoints")
    annotations = dict(body["metadata"].get("annotations") or {})
    if trigger_time:
        annotations[TRIGGER_TIME_ANNOTATION] = trigger_time
    else:
        annotations.pop(TRIGGER_TIME_ANNOTATION, None)
    if truncate(subsets):
        annotations[OVER_CAPACITY_ANNOTATION] = TRUNCATED
    else:
        annotations.pop(OVER_CAPACITY_ANNOTATION, None)
    labels = dict(service_labels)
    if podutil.is_service_ip_set(service):
        labels.pop(HEADLESS_LABEL, None)
    else:
        labels[HEADLESS_LABEL] = ""
    _set_or_drop(body["metadata"], "labels", labels)
    _set_or_drop(body["metadata"], "annotations", annotations)
    _set_or_drop(body, "subsets", subsets)
    if current is None:
        return [Create(ENDPOINTS, namespace, body)]
    return [Update(ENDPOINTS, namespace, name, body)]


def _set_or_drop(obj: Obj, key: str, value: Any) -> None:
    if value:
        obj[key] = value
    else:
        obj.pop(key, None)
