"""Services and EndpointSlices (plain JSON dicts) → an index of the names the cluster zone holds.

Pure. Built anew from the informer caches when they change (the resolver reads one immutable index per query), so a
half-applied update is never visible. Bad input (a ClusterIP or endpoint address that is not an IP, a port without
a name or number) is skipped item by item.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Object = Mapping[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Port:
    name: str
    protocol: str  # lower case, as in the _proto label
    port: int


@dataclass(frozen=True)
class Backend:
    """A ready endpoint of a headless service: its IP and the DNS label it is published under."""
    ip: str
    hostname: str  # the endpoint's hostname (StatefulSet pods) or "" (then the dashed IP is used)

    @property
    def label(self) -> str:
        return self.hostname or self.ip.replace(".", "-").replace(":", "-")


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    cluster_ips: tuple[str, ...]       # () for headless
    external_name: str                 # ExternalName target, else ""
    ports: tuple[Port, ...]
    backends: tuple[Backend, ...] = ()  # headless only
    backend_ports: tuple[Port, ...] = ()

    @property
    def headless(self) -> bool:
        return not self.cluster_ips and not self.external_name


@dataclass
class Index:
    services: dict[tuple[str, str], Service] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    by_cluster_ip: dict[str, Service] = field(default_factory=dict)


def _ip(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _ports(items: object) -> tuple[Port, ...]:
    out = []
    for p in items if isinstance(items, list) else []:
        if not isinstance(p, Mapping):
            continue
        port = p.get("port")
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            out.append(Port(p.get("name") or "", str(p.get("protocol") or "TCP").lower(), port))
    return tuple(out)


def build(services: Iterable[Object], slices: Iterable[Object]) -> Index:
    idx = Index()
    slices_by_svc: dict[tuple[str, str], list[Object]] = {}
    for s in slices:
        meta = s.get("metadata") or {}
        name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if name:
            slices_by_svc.setdefault((meta.get("namespace") or "", name), []).append(s)
    for obj in services:
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        ns, name = meta.get("namespace") or "", meta.get("name") or ""
        if not ns or not name:
            continue
        idx.namespaces.add(ns)
        if spec.get("type") == "ExternalName":
            target = spec.get("externalName")
            if isinstance(target, str) and target:
                idx.services[(ns, name)] = Service(ns, name, (), target.rstrip(".") + ".", ())
            continue
        ips = [x for x in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if x not in (None, "", "None")]
        cluster_ips = tuple(ip for ip in (_ip(x) for x in ips) if ip)
        if ips and not cluster_ips:
            continue  # a ClusterIP that is not an IP: publish nothing rather than a wrong headless answer
        svc = Service(ns, name, cluster_ips, "", _ports(spec.get("ports")))
        if svc.headless:
            backends: dict[str, Backend] = {}
            bports: dict[tuple[str, str], Port] = {}
            for s in slices_by_svc.get((ns, name), []):
                for p in _ports(s.get("ports")):
                    bports.setdefault((p.name, p.protocol), p)
                for ep in s.get("endpoints") or []:
                    if not isinstance(ep, Mapping):
                        continue
                    cond = ep.get("conditions") or {}
                    if cond.get("ready") is False and not spec.get("publishNotReadyAddresses"):
                        continue
                    raw = ep.get("hostname")
                    host = raw if isinstance(raw, str) else ""
                    for a in ep.get("addresses") or []:
                        ip = _ip(a)
                        if ip:
                            backends.setdefault(ip, Backend(ip, host))
            svc = Service(ns, name, (), "", svc.ports, tuple(sorted(backends.values(), key=lambda b: b.ip)),
                          tuple(bports.values()))
        idx.services[(ns, name)] = svc
        for ip in cluster_ips:
            idx.by_cluster_ip[ip] = svc
    return idx
