"""The `kube-dns` Service in kube-system at its fixed ClusterIP, and the Endpoints/EndpointSlice naming this server.

kubeadm's Service (labels, annotations, ports dns/dns-tcp/metrics) but without a selector: raftkv-dns runs as a
process, not as a pod, so the endpoint controllers must leave its Endpoints alone; the server writes them itself
with its own address and port. Idempotent: run at every start, it updates what an earlier run wrote.
"""

from __future__ import annotations

import logging
from typing import Any

from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.resources import ENDPOINTSLICES, SERVICES, Resource

log = logging.getLogger("raftkv-dns")
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints")
NAMESPACE = "kube-system"
NAME = "kube-dns"
LABELS = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}
MANAGED_BY = "raftkv-dns"


def service(cluster_ip: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS),
                         "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
            "spec": {"clusterIP": cluster_ip, "type": "ClusterIP",
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                               {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}}


def endpoints(ip: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
            "subsets": [{"addresses": [{"ip": ip}],
                         "ports": [{"name": "dns", "port": port, "protocol": "UDP"},
                                   {"name": "dns-tcp", "port": port, "protocol": "TCP"}]}]}


def endpoint_slice(ip: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{NAME}-{MANAGED_BY}", "namespace": NAMESPACE,
                         "labels": {**LABELS, "kubernetes.io/service-name": NAME,
                                    "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
            "addressType": "IPv6" if ":" in ip else "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True, "serving": True, "terminating": False}}],
            "ports": [{"name": "dns", "port": port, "protocol": "UDP"},
                      {"name": "dns-tcp", "port": port, "protocol": "TCP"}]}


async def _put(client: RESTClient, resource: Resource, body: dict[str, Any]) -> None:
    name = body["metadata"]["name"]
    try:
        current = await client.get(resource, NAMESPACE, name)
    except APIError as e:
        if not e.not_found:
            raise
        await client.create(resource, NAMESPACE, body)
        return
    merged = {**current, **{k: v for k, v in body.items() if k != "metadata"}}
    merged["metadata"] = {**current["metadata"], "labels": body["metadata"].get("labels", {}),
                          **({"annotations": body["metadata"]["annotations"]} if "annotations" in body["metadata"]
                             else {})}
    if resource is SERVICES:  # keep what the API server allocated or defaulted
        merged["spec"] = {**current.get("spec", {}), "ports": body["spec"]["ports"]}
    await client.update(resource, NAMESPACE, name, merged)


async def register(client: RESTClient, cluster_ip: str, ip: str, port: int) -> None:
    """Create or update the Service, its Endpoints and EndpointSlice; a refused Service is logged and left."""
    try:
        await _put(client, SERVICES, service(cluster_ip))
    except APIError as e:
        log.error("kube-dns Service at %s not registered: %s", cluster_ip, e.message)
        return
    await _put(client, ENDPOINTS, endpoints(ip, port))
    await _put(client, ENDPOINTSLICES, endpoint_slice(ip, port))
    log.info("registered %s/%s at %s -> %s:%d", NAMESPACE, NAME, cluster_ip, ip, port)
