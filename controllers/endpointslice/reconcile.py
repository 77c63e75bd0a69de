"""The EndpointSlice controller's decision, pure: given a Service, the pods it selects, the nodes and the slices that
exist, the creates, updates and deletes of `discovery.k8s.io/v1` EndpointSlices that make them match — changing as few
slices as it can.

As kube-controller-manager 1.32 (k8s.io/endpointslice Reconciler): slices are grouped by address type (the Service's
ipFamilies) and, within one, by their set of ports (a pod whose named targetPort resolves differently lands in another
group). Every selected pod with an IP is an endpoint — terminating ones too, with conditions ready/serving/terminating
— carrying nodeName, the node's `topology.kubernetes.io/zone` and a reference to the pod. Per port group, existing
slices first drop endpoints no longer wanted and take changed ones in place; slices already being rewritten are filled
up (fullest first) with new endpoints; what is left goes into the unchanged slice that it fills closest to full, else
into new slices (generateName `<service>-`), at most `max_endpoints_per_slice` each. A Service with no endpoints keeps
one empty placeholder slice. A create that coincides with a delete becomes an update of the slice to be deleted. A pod
on a node that is not (yet) known is left out and reported, so the Service is retried. With
`service.kubernetes.io/topology-mode: Auto` endpoints are hinted to zones by allocatable CPU (`topology`); with
`trafficDistribution: PreferClose` ready endpoints carry a hint for their own zone; otherwise no hints. An endpoint
whose only change is its hints does not make its slice rewritten (EndpointsEqualBeyondHash).

Where Kubernetes picks "any" endpoint from a hash set, this core takes them in pod order, so its output is a function
of its input.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from controllers.endpoints import podutil
from controllers.endpoints.podutil import HEADLESS_LABEL, TRIGGER_TIME_ANNOTATION, semantic
from controllers.endpointslice import topology
from controllers.machinery.actions import Action, Create, Delete, Event, Update
from controllers.machinery.resources import ENDPOINTSLICES
from controllers.podcontrol import Obj, is_ready, meta, spec

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100
RESERVED_LABELS = frozenset({LABEL_SERVICE_NAME, LABEL_MANAGED_BY, HEADLESS_LABEL})

PortMapKey = tuple[tuple[str, int, str, str], ...]
EndpointKey = tuple[tuple[str, ...], str, str, str]


@dataclass
class Result:
    """The writes, in the order to make them (creates, updates, deletes), and the problems to report and retry on
    (each becomes part of a FailedToUpdateEndpointSlices event) even though the writes are still made."""
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # about the Service (topology hints enabled/disabled)
    hints_populated: bool = False  # topology-mode hints now set for this Service (the adapter remembers it)


def managed_slices(service: Obj, slices: list[Obj]) -> list[Obj]:
    """The slices this controller keeps for the Service: its service-name label, our managed-by label, not being
    deleted (what the controller lists from its informer)."""
    name, ns = meta(service).get("name"), meta(service).get("namespace")
    out = []
    for s in slices:
        labels = meta(s).get("labels") or {}
        if (meta(s).get("namespace", ns) == ns and labels.get(LABEL_SERVICE_NAME) == name
                and labels.get(LABEL_MANAGED_BY) == CONTROLLER_NAME and not meta(s).get("deletionTimestamp")):
            out.append(s)
    return out


def address_types(service: Obj) -> list[str]:
    """IPv4/IPv6 from spec.ipFamilies; an API server that sets none: the cluster IP's family, or both if headless."""
    families = spec(service).get("ipFamilies") or []
    types = {f for f in families if f in ("IPv4", "IPv6")}
    if types:
        return sorted(types)
    if podutil.is_service_ip_set(service):
        return ["IPv6" if podutil.is_ipv6(spec(service)["clusterIP"]) else "IPv4"]
    return ["IPv4", "IPv6"]


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The slice ports for this pod, in Service port order; a port the pod does not offer is left out."""
    ports = spec(service).get("ports") or []
    out = []
    for service_port in ports:
        number = podutil.find_port(pod, service_port)
        if number is None:
            continue
        port: Obj = {"name": service_port.get("name") or "", "port": number,
                     "protocol": podutil.port_protocol(service_port)}
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        out.append(port)
    return out


def port_map_key(ports: list[Obj] | None) -> PortMapKey:
    return tuple(sorted((p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP",
                         p.get("appProtocol") or "") for p in ports or []))


def endpoint_key(endpoint: Obj) -> EndpointKey:
    """An endpoint's identity (addresses, hostname, pod): what stays when only its conditions or topology change."""
    ref = endpoint.get("targetRef") or {}
    return (tuple(sorted(endpoint.get("addresses") or [])), endpoint.get("hostname") or "",
            ref.get("namespace") or "", ref.get("name") or "")


def equal_beyond_key(a: Obj, b: Obj) -> bool:
    """EndpointsEqualBeyondHash: two endpoints of the same identity differ only in node, zone, conditions or pod
    reference (its resourceVersion aside); hints are the topology step's business, not a reason to rewrite."""
    def view(e: Obj) -> tuple[Any, ...]:
        c = e.get("conditions") or {}
        return (e.get("nodeName"), e.get("zone"), c.get("ready"), c.get("serving"), c.get("terminating"),
                semantic(e.get("targetRef") or {}))
    return view(a) == view(b)


def pod_to_endpoint(pod: Obj, node: Obj | None, service: Obj, address_type: str) -> Obj:
    serving = is_ready(pod)
    terminating = meta(pod).get("deletionTimestamp") is not None
    # ready is never true for a terminating pod, unless the Service publishes not-ready addresses
    ready = bool(spec(service).get("publishNotReadyAddresses")) or (serving and not terminating)
    endpoint: Obj = {
        "addresses": [ip for ip in podutil.pod_ips(pod) if podutil.is_ipv6(ip) == (address_type == "IPv6")],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": podutil.target_ref(pod),
    }
    if spec(pod).get("nodeName"):
        endpoint["nodeName"] = spec(pod)["nodeName"]
    zone = ((meta(node).get("labels") or {}) if node else {}).get(ZONE_LABEL)
    if zone:
        endpoint["zone"] = zone
    if podutil.should_set_hostname(pod, service):
        endpoint["hostname"] = spec(pod)["hostname"]
    return endpoint


def slice_labels(current: Obj | None, service: Obj) -> tuple[dict[str, str], bool]:
    """The labels a slice must carry (the Service's, minus reserved keys, plus service-name, managed-by and the
    headless label) and whether the Service's own labels differ from the slice's."""
    have = {k: v for k, v in ((meta(current).get("labels") or {}) if current else {}).items()
            if k not in RESERVED_LABELS}
    want = {k: v for k, v in (meta(service).get("labels") or {}).items() if k not in RESERVED_LABELS}
    changed = have != want
    if not podutil.is_service_ip_set(service):
        want[HEADLESS_LABEL] = ""
    want[LABEL_SERVICE_NAME] = meta(service)["name"]
    want[LABEL_MANAGED_BY] = CONTROLLER_NAME
    return want, changed


def owner_reference(service: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "name": meta(service)["name"], "uid": meta(service).get("uid", ""),
            "controller": True, "blockOwnerDeletion": True}


def owned_by(slice_: Obj, service: Obj) -> bool:
    return any(o.get("uid") == meta(service).get("uid") and o.get("kind") == "Service" and o.get("apiVersion") == "v1"
               for o in meta(slice_).get("ownerReferences") or [])


def new_slice(service: Obj, ports: list[Obj], address_type: str) -> Obj:
    labels, _ = slice_labels(None, service)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": f"{meta(service)['name']}-", "namespace": meta(service).get("namespace"),
                         "labels": labels, "ownerReferences": [owner_reference(service)]},
            "addressType": address_type, "endpoints": [], "ports": copy.deepcopy(ports)}


def _is_placeholder_of(existing: Obj, placeholder: Obj) -> bool:
    """The one comparison Kubernetes makes before deleting and recreating an empty placeholder slice."""
    return (meta(existing).get("namespace") == meta(placeholder).get("namespace")
            and (meta(existing).get("labels") or {}) == meta(placeholder)["labels"]
            and meta(existing).get("ownerReferences") == meta(placeholder)["ownerReferences"]
            and existing.get("addressType") == placeholder["addressType"]
            and not existing.get("endpoints") and not existing.get("ports"))


@dataclass
class _Plan:
    creates: list[Obj] = field(default_factory=list)
    updates: list[Obj] = field(default_factory=list)
    deletes: list[Obj] = field(default_factory=list)


def _reconcile_port_map(service: Obj, existing: list[Obj], desired: dict[EndpointKey, Obj], ports: list[Obj],
                        address_type: str, max_per_slice: int) -> _Plan:
    plan = _Plan()
    by_name: dict[str, Obj] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[str] = []
    # 1. existing slices: drop endpoints no longer desired, take changed ones in place, mirror the Service's labels
    for current in sorted(existing, key=lambda s: meta(s).get("name", "")):
        name = meta(current)["name"]
        by_name[name] = current
        kept: list[Obj] = []
        changed = False
        for endpoint in current.get("endpoints") or []:
            want = desired.pop(endpoint_key(endpoint), None)
            if want is not None:
                kept.append(want)
                changed = changed or not equal_beyond_key(want, endpoint)
        labels, labels_changed = slice_labels(current, service)
        if changed or len(kept) != len(current.get("endpoints") or []):
            if not kept:
                to_delete.append(name)
                continue
            updated = copy.deepcopy(current)
            updated["endpoints"] = kept
            updated["metadata"]["labels"] = labels
            by_name[name] = updated
            to_update.append(name)
        elif labels_changed:
            updated = copy.deepcopy(current)
            updated["endpoints"] = list(updated.get("endpoints") or [])
            updated["metadata"]["labels"] = labels
            by_name[name] = updated
            to_update.append(name)
        else:
            unchanged.append(name)
    pending = list(desired.values())
    # 2. slices being rewritten anyway take new endpoints first, the fullest first
    if pending and to_update:
        for name in sorted(to_update, key=lambda n: -len(by_name[n]["endpoints"])):
            rewritten = by_name[name]
            while pending and len(rewritten["endpoints"]) < max_per_slice:
                rewritten["endpoints"].append(pending.pop(0))
    # 3. the rest: into the unchanged slice it fills closest to full, else into new slices
    while pending:
        fill: Obj | None = None
        if len(pending) < max_per_slice and unchanged:
            fill = _slice_to_fill([by_name[n] for n in unchanged], len(pending), max_per_slice)
        if fill is None:
            target = new_slice(service, ports, address_type)
        else:
            target = copy.deepcopy(fill)
            target["endpoints"] = list(target.get("endpoints") or [])
            by_name[meta(target)["name"]] = target
        while pending and len(target["endpoints"]) < max_per_slice:
            target["endpoints"].append(pending.pop(0))
        name = meta(target).get("name")
        if name:
            to_update.append(name)
            unchanged.remove(name)
        else:
            plan.creates.append(target)
    plan.updates = [by_name[n] for n in to_update]
    plan.deletes = [by_name[n] for n in to_delete]
    return plan


def _slice_to_fill(slices: list[Obj], count: int, max_per_slice: int) -> Obj | None:
    closest, best = max_per_slice, None
    for s in slices:
        diff = max_per_slice - (count + len(s.get("endpoints") or []))
        if 0 <= diff < closest:
            closest, best = diff, s
            if diff == 0:
                break
    return best


def _reconcile_address_type(service: Obj, pods: list[Obj], nodes: dict[str, Obj], existing: list[Obj],
                            address_type: str, max_per_slice: int, result: Result,
                            zone_ratios: dict[str, float] | None) -> _Plan:
    plan = _Plan()
    existing_by_ports: dict[PortMapKey, list[Obj]] = {}
    for s in existing:
        if owned_by(s, service):
            existing_by_ports.setdefault(port_map_key(s.get("ports")), []).append(s)
        else:
            plan.deletes.append(s)
    desired: dict[PortMapKey, dict[EndpointKey, Obj]] = {}
    ports_of: dict[PortMapKey, list[Obj]] = {}
    publish = bool(spec(service).get("publishNotReadyAddresses"))
    svc_ref = f"{meta(service).get('namespace')}/{meta(service)['name']}"
    for pod in pods:
        if not podutil.should_pod_be_in_endpoints(pod, include_terminating=True):
            continue
        ports = endpoint_ports(service, pod)
        key = port_map_key(ports)
        group = desired.setdefault(key, {})
        ports_of.setdefault(key, ports)
        node_name = spec(pod).get("nodeName") or ""
        node = nodes.get(node_name)
        if node is None and not publish:
            result.errors.append(f"skipping Pod {meta(pod)['name']} for Service {svc_ref}: Node {node_name} Not Found")
            continue
        endpoint = pod_to_endpoint(pod, node, service, address_type)
        if endpoint["addresses"]:
            group[endpoint_key(endpoint)] = endpoint
    for key, endpoints in desired.items():
        sub = _reconcile_port_map(service, existing_by_ports.get(key, []), endpoints, ports_of[key], address_type,
                                  max_per_slice)
        plan.creates += sub.creates
        plan.updates += sub.updates
        plan.deletes += sub.deletes
    for key, slices in existing_by_ports.items():
        if key not in desired:
            plan.deletes += slices
    if len(existing) == len(plan.deletes) and not plan.creates:
        placeholder = new_slice(service, [], address_type)
        if len(plan.deletes) == 1 and _is_placeholder_of(plan.deletes[0], placeholder):
            plan.deletes = []
        else:
            plan.creates.append(placeholder)
    _reconcile_hints(service, plan, existing, address_type, zone_ratios, result)
    return plan


def _ready(endpoint: Obj) -> bool:
    return bool((endpoint.get("conditions") or {}).get("ready"))


def topology_mode_auto(service: Obj) -> bool:
    """hintsEnabled: the deprecated topology-aware-hints annotation, else topology-mode, says Auto."""
    annotations = meta(service).get("annotations") or {}
    value = annotations.get("service.kubernetes.io/topology-aware-hints",
                            annotations.get("service.kubernetes.io/topology-mode"))
    return value in ("Auto", "auto")


def _prefer_close(service: Obj) -> bool:
    """trafficDistribution: PreferClose counts unless topology-mode hints are asked for."""
    return spec(service).get("trafficDistribution") == "PreferClose" and not topology_mode_auto(service)


def _hints_wrong(slice_: Obj) -> bool:
    for e in slice_.get("endpoints") or []:
        if not _ready(e):
            continue
        zones = ((e.get("hints") or {}).get("forZones")) or []
        if e.get("zone") and (len(zones) != 1 or zones[0].get("name") != e["zone"]):
            return True
        if not e.get("zone") and zones:
            return True
    return False


def _reconcile_hints(service: Obj, plan: _Plan, existing: list[Obj], address_type: str,
                     zone_ratios: dict[str, float] | None, result: Result) -> None:
    """1.32's hints step. topology-mode Auto: hints proportional to the zones' CPU (`topology.add_hints`).
    Otherwise hints set that way before are dropped (TopologyAwareHintsDisabled) and, with PreferClose, every ready
    endpoint is hinted to its own zone; without, no endpoint carries hints. Unchanged slices whose hints are
    missing, wrong or stale are rewritten too."""
    touched = {meta(s).get("name") for s in plan.updates + plan.deletes}
    unchanged = [s for s in existing if meta(s).get("name") not in touched]
    if topology_mode_auto(service):
        events, result.hints_populated = topology.add_hints(plan.creates, plan.updates, unchanged, zone_ratios,
                                                            address_type, result.hints_populated)
        result.events += [Event(service, e.type, e.reason, e.message) for e in events]
        return
    if result.hints_populated:
        result.events.append(Event(service, "Warning", "TopologyAwareHintsDisabled",
                                   topology.with_address_type(topology.DISABLED, address_type)))
        result.hints_populated = False
    if not _prefer_close(service):
        topology.remove_hints(plan.creates, plan.updates, unchanged)
        return
    plan.updates += [copy.deepcopy(s) for s in unchanged if _hints_wrong(s)]
    for s in plan.creates + plan.updates:
        for e in s.get("endpoints") or []:
            if not _ready(e):
                continue
            if e.get("zone"):
                e["hints"] = {"forZones": [{"name": e["zone"]}]}
            else:
                e.pop("hints", None)


def _finalize(service: Obj, plan: _Plan, trigger_time: str | None) -> list[Action]:
    """A create meeting a delete of an owned slice of the same address type becomes an update of that slice."""
    creates, updates, deletes = list(plan.creates), list(plan.updates), []
    for doomed in plan.deletes:
        if creates and doomed.get("addressType") == creates[-1]["addressType"] and owned_by(doomed, service):
            body = creates.pop()
            body["metadata"].pop("generateName", None)
            for k in ("name", "resourceVersion", "uid", "creationTimestamp"):
                if k in meta(doomed):
                    body["metadata"][k] = meta(doomed)[k]
            if meta(doomed).get("annotations"):
                body["metadata"]["annotations"] = dict(meta(doomed)["annotations"])
            updates.append(body)
        else:
            deletes.append(doomed)
    ns = meta(service).get("namespace")
    actions: list[Action] = []
    if not meta(service).get("deletionTimestamp"):  # never race the garbage collector of a Service being deleted
        for body in creates:
            _annotate(body, trigger_time)
            actions.append(Create(ENDPOINTSLICES, ns, body))
    for body in updates:
        _annotate(body, trigger_time)
        actions.append(Update(ENDPOINTSLICES, ns, meta(body)["name"], body))
    for doomed in deletes:
        actions.append(Delete(ENDPOINTSLICES, ns, meta(doomed)["name"]))
    return actions


def _annotate(body: Obj, trigger_time: str | None) -> None:
    annotations = dict(body["metadata"].get("annotations") or {})
    if trigger_time:
        annotations[TRIGGER_TIME_ANNOTATION] = trigger_time
    else:
        annotations.pop(TRIGGER_TIME_ANNOTATION, None)
    if annotations:
        body["metadata"]["annotations"] = annotations
    else:
        body["metadata"].pop("annotations", None)


def reconcile(service: Obj | None, pods: list[Obj], nodes: dict[str, Obj], slices: list[Obj],
              trigger_time: str | None, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
              hints_populated: bool = False) -> Result:
    """The slice writes for `service` (None: deleted — its slices go with it through their ownerReference, so
    nothing is written). `pods` are the namespace's pods (the selector is applied here), `nodes` by name, `slices`
    the namespace's EndpointSlices (those this controller manages for the Service are picked here);
    `hints_populated` is what the last sync's Result said."""
    if service is None or spec(service).get("type") == "ExternalName" or podutil.service_selector(service) is None:
        return Result(hints_populated=hints_populated)
    result = Result(hints_populated=hints_populated)
    zone_ratios = topology.zone_cpu_ratios(list(nodes.values()))
    selected = sorted(podutil.selected_pods(service, pods), key=lambda p: meta(p).get("name", ""))
    mine = managed_slices(service, slices)
    types = address_types(service)
    actions: list[Action] = []
    for address_type in types:
        plan = _reconcile_address_type(service, selected, nodes,
                                       [s for s in mine if s.get("addressType") == address_type],
                                       address_type, max_endpoints_per_slice, result, zone_ratios)
        actions += _finalize(service, plan, trigger_time)
    ns = meta(service).get("namespace")
    actions += [Delete(ENDPOINTSLICES, ns, meta(s)["name"]) for s in mine if s.get("addressType") not in types]
    result.actions = actions
    return result
