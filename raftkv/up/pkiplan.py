"""Which certificates a cluster needs and with which names, as kubeadm lays them out: a Kubernetes CA
(`pki/ca.crt`) for the API servers, their clients and the kubelets, a separate etcd CA (`pki/etcd/ca.crt`) for
the members and their clients, and the service-account signing key pair (`pki/sa.key`, `pki/sa.pub`).

Pure: a list of specs; `raftkv.up.materialize` issues the missing ones with `raftkv.pki`.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftkv.up.layout import APISERVER_HOSTS, Layout

SERVICE_IP = "10.0.0.1"
"""The `kubernetes` Service's ClusterIP: the first address of the API server's default range (10.0.0.0/24)."""


@dataclass(frozen=True)
class CertSpec:
    ca: str  # "kubernetes" or "etcd": the directory of its CA, pki/ or pki/etcd/
    kind: str  # server, peer or client, as raftkv.pki.issue takes it
    name: str  # file name without .crt/.key
    cn: str
    orgs: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()


CA_DIRS = {"kubernetes": "pki", "etcd": "pki/etcd"}
CA_NAMES = {"kubernetes": "kubernetes", "etcd": "etcd-ca"}


def cert_specs(layout: Layout) -> list[CertSpec]:
    """Every certificate of the cluster (both CAs are implied)."""
    loopback = ("127.0.0.1", "localhost")
    specs = [
        CertSpec("etcd", "server", "server", "kube-etcd", hosts=loopback),
        CertSpec("etcd", "peer", "peer", "kube-etcd-peer", hosts=loopback),
        CertSpec("etcd", "client", "healthcheck-client", "kube-etcd-healthcheck-client"),
        CertSpec("etcd", "client", "apiserver-etcd-client", "kube-apiserver-etcd-client"),
        CertSpec("kubernetes", "server", "apiserver", "kube-apiserver",
                 hosts=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local", "localhost", SERVICE_IP,
                        *APISERVER_HOSTS[:layout.apiservers])),
        CertSpec("kubernetes", "client", "apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                 ("system:masters",)),
        CertSpec("kubernetes", "client", "admin", "kubernetes-admin", ("system:masters",)),
        CertSpec("kubernetes", "client", "controller-manager", "system:kube-controller-manager"),
        CertSpec("kubernetes", "client", "scheduler", "system:kube-scheduler"),
        CertSpec("kubernetes", "client", "kube-proxy", "system:kube-proxy"),
    ]
    for node in layout.nodes:
        specs.append(CertSpec("kubernetes", "client", f"kubelet-{node['name']}", f"system:node:{node['name']}",
                              ("system:nodes",)))
        specs.append(CertSpec("kubernetes", "server", f"kubelet-{node['name']}-serving", f"system:node:{node['name']}",
                              ("system:nodes",), hosts=(node["ip"], node["name"])))
    return specs


def cert_paths(spec: CertSpec) -> tuple[str, str]:
    """(certificate, key) relative to the cluster directory."""
    base = f"{CA_DIRS[spec.ca]}/{spec.name}"
    return f"{base}.crt", f"{base}.key"
