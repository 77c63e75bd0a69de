"""The `kubernetes` Service in `default` and its Endpoints/EndpointSlice, as kube-apiserver's bootstrap controller
and endpoint reconciler keep them (pure: the objects to write, given what is stored).

The Service: ClusterIP = the range's first address, port 443 `https` → the secure port, no selector. The
endpoints list every API server's advertise address on the secure port. kube-apiserver's lease reconciler also
removes servers whose lease expired; ours is the simple version: each server adds itself and removes nothing (a
server that left stays listed until someone edits the objects)."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

NAME = "kubernetes"
NAMESPACE = "default"
SERVICE_LABELS = {"component": "apiserver", "provider": "kubernetes"}
SERVICE_PORT = 443
PORT_NAME = "https"


def service(cluster_ip: str, secure_port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(SERVICE_LABELS)},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "sessionAffinity": "None",
                     "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP",
                                "targetPort": secure_port}]}}


def advertise_address(advertise: str, bind: str) -> str:
    """--advertise-address, else the bind address; an unspecified or loopback-only bind (0.0.0.0, ::) gives
    127.0.0.1 here (kube-apiserver would pick the host's default-route address, which a loopback-only test
    machine does not have)."""
    if advertise:
        return advertise
    try:
        ip = ipaddress.ip_address(bind)
    except ValueError:
        return "127.0.0.1"
    return "127.0.0.1" if ip.is_unspecified else str(ip)


def _address_type(ip: str) -> str:
    return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"


def endpoints(current: dict[str, Any] | None, ip: str, port: int) -> dict[str, Any] | None:
    """The Endpoints with this server added, or None when it is already listed."""
    obj: dict[str, Any] = copy.deepcopy(current) if current else {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}}
    subsets: list[dict[str, Any]] = obj.get("subsets") or []
    obj["subsets"] = subsets
    want_ports = [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]
    for subset in subsets:
        if subset.get("ports") == want_ports:
            addrs = subset.setdefault("addresses", [])
            if any(a.get("ip") == ip for a in addrs):
                return None
            addrs.append({"ip": ip})
            addrs.sort(key=lambda a: str(a.get("ip")))
            return obj
    subsets.append({"addresses": [{"ip": ip}], "ports": want_ports})
    return obj


def endpoint_slice(current: dict[str, Any] | None, ip: str, port: int) -> dict[str, Any] | None:
    """The EndpointSlice `kubernetes` with this server added, or None when it is already listed."""
    obj: dict[str, Any] = copy.deepcopy(current) if current else {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"kubernetes.io/service-name": NAME}},
        "addressType": _address_type(ip),
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}], "endpoints": []}
    eps: list[dict[str, Any]] = obj.get("endpoints") or []
    obj["endpoints"] = eps
    if any(ip in (e.get("addresses") or []) for e in eps):
        return None
    eps.append({"addresses": [ip], "conditions": {"ready": True}})
    eps.sort(key=lambda e: str((e.get("addresses") or [""])[0]))
    return obj
