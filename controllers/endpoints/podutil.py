"""What the Endpoints and EndpointSlice controllers both ask of a pod and a service, written once.

These mirror kube-controller-manager's endpointslice util (ShouldPodBeInEndpoints, ShouldSetHostname, FindPort) so the
two controllers agree on which pods serve a Service and on which port; both cores import them from here.
"""

from __future__ import annotations

from typing import Any

from controllers.podcontrol import Obj, condition, is_terminal, meta, spec, status

HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"


def service_selector(service: Obj) -> dict[str, str] | None:
    """The Service's map selector, or None when the Service has none (its Endpoints are then the user's).

    An empty selector counts as none: a Go API server drops `selector: {}` when it stores the Service."""
    selector = spec(service).get("selector")
    return dict(selector) if selector else None


def selects(selector: dict[str, str], pod: Obj) -> bool:
    """A Service's map selector matches a pod's labels when every pair is present (labels.Set(...).AsSelector)."""
    labels = meta(pod).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def selected_pods(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The pods of the Service's namespace its selector picks; none for a selector-less Service."""
    selector = service_selector(service)
    if selector is None:
        return []
    ns = meta(service).get("namespace")
    return [p for p in pods if meta(p).get("namespace", ns) == ns and selects(selector, p)]


def pod_ips(pod: Obj) -> list[str]:
    """status.podIPs in order; status.podIP alone when an agent set only that."""
    ips = [p["ip"] for p in status(pod).get("podIPs") or [] if p.get("ip")]
    if not ips and status(pod).get("podIP"):
        ips = [status(pod)["podIP"]]
    return ips


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Terminal pods and pods without an IP never serve; terminating ones only when asked (publishNotReadyAddresses
    for Endpoints; always for EndpointSlices, which report them with terminating=true)."""
    if is_terminal(pod) or not pod_ips(pod):
        return False
    return include_terminating or meta(pod).get("deletionTimestamp") is None


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """A pod's hostname is published when it names the Service as its subdomain (headless DNS records)."""
    return (bool(spec(pod).get("hostname")) and spec(pod).get("subdomain") == meta(service).get("name")
            and meta(pod).get("namespace") == meta(service).get("namespace"))


def is_service_ip_set(service: Obj) -> bool:
    cluster_ip = spec(service).get("clusterIP") or ""
    return cluster_ip not in ("", "None")


def is_ipv6(ip: str) -> bool:
    return ":" in ip


def service_ip_family(service: Obj, pod: Obj) -> str:
    """The family a Service's Endpoints use: spec.ipFamilies[0], else that of the cluster IP, else (headless) the
    pod's first IP's, as the Endpoints controller decides it."""
    families = spec(service).get("ipFamilies") or []
    if families:
        return str(families[0])
    cluster_ip = spec(service).get("clusterIP") or ""
    if is_service_ip_set(service):
        return "IPv6" if is_ipv6(cluster_ip) else "IPv4"
    first = (pod_ips(pod) or [""])[0]
    return "IPv6" if is_ipv6(first) else "IPv4"


def port_protocol(port: Obj) -> str:
    return str(port.get("protocol") or "TCP")


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's port for a Service port: a numeric targetPort as is (the port itself when unset); a named one looked
    up among the pod's containers, then its sidecars (restartable init containers), with the same protocol."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = port_protocol(service_port)
    containers = list(spec(pod).get("containers") or [])
    containers += [c for c in spec(pod).get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == target and port_protocol(port) == protocol:
                return int(port["containerPort"])
    return None


def target_ref(pod: Obj) -> Obj:
    m = meta(pod)
    return {"kind": "Pod", "namespace": m.get("namespace", ""), "name": m.get("name", ""), "uid": m.get("uid", "")}


def ready_transition_time(pod: Obj) -> str | None:
    """When the pod's Ready condition last changed: the moment that changed its Endpoints (the trigger time)."""
    c = condition(pod, "Ready")
    return (c.get("lastTransitionTime") or None) if c is not None else None


def semantic(value: Any) -> Any:
    """A value as Kubernetes' semantic equality sees it when comparing endpoints: empty and absent are the same,
    and a targetRef's resourceVersion does not count (a pod's annotation change must not rewrite its endpoints)."""
    if isinstance(value, dict):
        return {k: semantic(v) for k, v in value.items()
                if v not in (None, "", [], {}) and k != "resourceVersion"}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value
