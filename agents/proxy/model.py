"""Services and EndpointSlices (plain JSON dicts) → the service ports and endpoints kube-proxy programs.

Pure: no I/O. Bad input (a Service with no usable ClusterIP, a slice endpoint with an address that is not an IP, a
port number out of range) is skipped item by item so every other service keeps its rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Object = Mapping[str, Any]
DEFAULT_STICKY_SECONDS = 10800
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    ready: bool
    serving: bool
    terminating: bool
    node_name: str

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, as kube-proxy's ServicePortName plus what the rules need."""
    namespace: str
    name: str
    port_name: str
    protocol: str          # TCP, UDP, SCTP
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    lb_ips: tuple[str, ...] = ()
    external_local: bool = False
    internal_local: bool = False
    affinity_seconds: int = 0  # 0: no ClientIP session affinity
    endpoints: tuple[Endpoint, ...] = field(default=())

    @property
    def name_string(self) -> str:
        """ServicePortName.String(): ns/name, plus :port when the port is named."""
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.lb_ips)

    @property
    def external_policy_local(self) -> bool:
        return self.externally_accessible and self.external_local


def _valid_ip(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _port(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536 else 0


def service_ports(svc: Object) -> list[ServicePort]:
    """The ports kube-proxy handles for one Service: none for ExternalName, headless or IP-less Services."""
    spec = svc.get("spec") or {}
    meta = svc.get("metadata") or {}
    if spec.get("type") == "ExternalName":
        return []
    cluster_ip = _valid_ip(spec.get("clusterIP"))
    if cluster_ip is None:
        return []
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        t = cfg.get("timeoutSeconds")
        affinity = t if isinstance(t, int) and t > 0 else DEFAULT_STICKY_SECONDS
    ext_ips = tuple(ip for ip in (_valid_ip(x) for x in spec.get("externalIPs") or []) if ip)
    lb_ips = tuple(ip for ip in (_valid_ip(i.get("ip")) for i in
                                  ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
                                  if isinstance(i, Mapping)) if ip)
    out = []
    for p in spec.get("ports") or []:
        if not isinstance(p, Mapping) or not _port(p.get("port")):
            continue
        proto = p.get("protocol") or "TCP"
        if proto not in ("TCP", "UDP", "SCTP"):
            continue
        node_port = _port(p.get("nodePort")) if spec.get("type") in ("NodePort", "LoadBalancer") else 0
        out.append(ServicePort(
            namespace=meta.get("namespace") or "default", name=meta.get("name") or "",
            port_name=p.get("name") or "", protocol=proto, cluster_ip=cluster_ip, port=p["port"],
            node_port=node_port, external_ips=ext_ips, lb_ips=lb_ips,
            external_local=spec.get("externalTrafficPolicy") == "Local",
            internal_local=spec.get("internalTrafficPolicy") == "Local",
            affinity_seconds=affinity))
    return out


def slice_endpoints(slices: Iterable[Object], port_name: str, protocol: str) -> tuple[Endpoint, ...]:
    """Endpoints of a service port from its slices, deduplicated by ip:port (a pod moving between slices)."""
    seen: dict[str, Endpoint] = {}
    for s in slices:
        if s.get("addressType") not in (None, "IPv4", "IPv6"):
            continue
        port = 0
        for p in s.get("ports") or []:
            if isinstance(p, Mapping) and (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol:
                port = _port(p.get("port"))
                break
        if not port:
            continue
        for ep in s.get("endpoints") or []:
            if not isinstance(ep, Mapping):
                continue
            addrs = ep.get("addresses") or []
            ip = _valid_ip(addrs[0]) if addrs else None
            if ip is None:
                continue
            cond = ep.get("conditions") or {}
            ready = cond.get("ready") is not False
            serving = cond.get("serving") if isinstance(cond.get("serving"), bool) else ready
            e = Endpoint(ip, port, ready, bool(serving), cond.get("terminating") is True, ep.get("nodeName") or "")
            key = str(e)
            if key not in seen or (e.ready and not seen[key].ready):
                seen[key] = e
    return tuple(sorted(seen.values(), key=str))


def build(services: Iterable[Object], slices: Iterable[Object]) -> list[ServicePort]:
    """Every service port with its endpoints, sorted by name so the rule text is deterministic."""
    by_service: dict[tuple[str, str], list[Object]] = {}
    for s in slices:
        meta = s.get("metadata") or {}
        svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if svc:
            by_service.setdefault((meta.get("namespace") or "default", svc), []).append(s)
    out = []
    for svc in services:
        for sp in service_ports(svc):
            eps = slice_endpoints(by_service.get((sp.namespace, sp.name), []), sp.port_name, sp.protocol)
            out.append(ServicePort(**{**sp.__dict__, "endpoints": eps}))
    out.sort(key=lambda sp: (sp.name_string, sp.protocol))
    return out
