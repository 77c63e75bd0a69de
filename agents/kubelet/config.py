"""raftkv-kubelet's flags and KubeletConfiguration file (kubelet.config.k8s.io/v1beta1), with the kubelet's names
and defaults. Flags override the file, as the kubelet does."""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass
class KubeletConfig:
    kubeconfig: str = ""
    hostname_override: str = ""
    node_ip: str = ""
    container_runtime_endpoint: str = "unix:///run/containerd/containerd.sock"
    root_dir: str = "/var/lib/kubelet"
    pod_logs_dir: str = "/var/log/pods"
    static_pod_path: str = ""
    max_pods: int = 110
    node_labels: dict[str, str] = field(default_factory=dict)
    register_with_taints: list[dict[str, str]] = field(default_factory=list)
    port: int = 10250
    address: str = "0.0.0.0"
    node_status_update_frequency: float = 10.0
    node_status_report_frequency: float = 300.0
    node_lease_duration_seconds: int = 40
    sync_frequency: float = 60.0
    file_check_frequency: float = 20.0
    housekeeping_interval: float = 2.0
    pleg_relist_period: float = 1.0
    runtime_status_period: float = 2.0  # the kubelet checks every 5 s; sooner here so a crash shows fast
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    authorization_mode: str = "Webhook"  # KubeletConfiguration's default (the bare flag's is AlwaysAllow)
    anonymous_auth: bool = False
    cgroup_root: str = ""
    pod_pids_limit: int = -1  # podPidsLimit / --pod-max-pids: pids.max of each pod's cgroup (-1: unlimited)
    capacity_cpu: str = ""
    cluster_dns: list[str] = field(default_factory=list)  # clusterDNS / --cluster-dns (comma-separated IPs)
    cluster_domain: str = ""  # clusterDomain / --cluster-domain
    resolv_conf: str = "/etc/resolv.conf"  # resolvConf / --resolv-conf
    capacity_memory: str = ""

    @property
    def node_name(self) -> str:
        return (self.hostname_override or socket.gethostname()).lower()


_FILE_KEYS = {  # KubeletConfiguration field -> our attribute
    "staticPodPath": "static_pod_path", "maxPods": "max_pods", "port": "port", "address": "address",
    "nodeStatusUpdateFrequency": "node_status_update_frequency",
    "nodeStatusReportFrequency": "node_status_report_frequency",
    "nodeLeaseDurationSeconds": "node_lease_duration_seconds", "syncFrequency": "sync_frequency",
    "fileCheckFrequency": "file_check_frequency", "podLogsDir": "pod_logs_dir",
    "tlsCertFile": "tls_cert_file", "tlsPrivateKeyFile": "tls_private_key_file",
    "containerRuntimeEndpoint": "container_runtime_endpoint", "cgroupRoot": "cgroup_root",
    "podPidsLimit": "pod_pids_limit", "clusterDNS": "cluster_dns", "clusterDomain": "cluster_domain",
    "resolvConf": "resolv_conf",
}
_DURATIONS = {"node_status_update_frequency", "node_status_report_frequency", "sync_frequency",
              "file_check_frequency"}


def parse_duration(text: str | int | float) -> float:
    """Go durations as KubeletConfiguration writes them: 10s, 1m0s, 500ms, 1h."""
    if isinstance(text, int | float):
        return float(text)
    total, num = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in units else ch
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    return total + (float(num) if num else 0.0)


def apply_file(cfg: KubeletConfig, doc: dict[str, Any]) -> None:
    if doc.get("kind") not in (None, "KubeletConfiguration"):
        raise ValueError(f"--config: kind {doc.get('kind')!r} is not KubeletConfiguration")
    for key, attr in _FILE_KEYS.items():
        if key in doc:
            value = doc[key]
            setattr(cfg, attr, parse_duration(value) if attr in _DURATIONS else value)
    authn = doc.get("authentication") or {}
    if (authn.get("x509") or {}).get("clientCAFile"):
        cfg.client_ca_file = authn["x509"]["clientCAFile"]
    if "enabled" in (authn.get("anonymous") or {}):
        cfg.anonymous_auth = bool(authn["anonymous"]["enabled"])
    if (doc.get("authorization") or {}).get("mode"):
        cfg.authorization_mode = doc["authorization"]["mode"]
    if doc.get("registerWithTaints"):
        cfg.register_with_taints = list(doc["registerWithTaints"])


def parse_labels(text: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in text.split(",") if kv)


def parse_taints(text: str) -> list[dict[str, str]]:
    """key=value:Effect,key:Effect"""
    out = []
    for item in (t for t in text.split(",") if t):
        kv, _, effect = item.rpartition(":")
        key, _, value = kv.partition("=")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        out.append(taint)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raftkv-kubelet", description="raftkv's node agent (a kubelet on CRI)")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--config", default="")
    p.add_argument("--hostname-override", default=None)
    p.add_argument("--node-ip", default=None)
    p.add_argument("--container-runtime-endpoint", default=None)
    p.add_argument("--root-dir", default=None)
    p.add_argument("--pod-manifest-path", default=None)
    p.add_argument("--max-pods", type=int, default=None)
    p.add_argument("--node-labels", default=None)
    p.add_argument("--register-with-taints", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--address", default=None)
    p.add_argument("--node-status-update-frequency", default=None)
    p.add_argument("--sync-frequency", default=None)
    p.add_argument("--file-check-frequency", default=None)
    p.add_argument("--tls-cert-file", default=None)
    p.add_argument("--tls-private-key-file", default=None)
    p.add_argument("--client-ca-file", default=None)
    p.add_argument("--pod-logs-dir", default=None, help="(KubeletConfiguration podLogsDir)")
    p.add_argument("--cgroup-root", default=None)
    p.add_argument("--pod-max-pids", type=int, default=None)
    p.add_argument("--cluster-dns", default=None, help="comma-separated IPs (KubeletConfiguration clusterDNS)")
    p.add_argument("--cluster-domain", default=None)
    p.add_argument("--resolv-conf", default=None)
    p.add_argument("--authorization-mode", choices=("AlwaysAllow", "Webhook"), default=None)
    p.add_argument("--anonymous-auth", default=None, help="true|false")
    p.add_argument("-v", "--v", type=int, default=0)
    return p


def load(argv: list[str] | None = None) -> tuple[KubeletConfig, argparse.Namespace]:
    ns = build_parser().parse_args(argv)
    cfg = KubeletConfig(kubeconfig=ns.kubeconfig)
    if ns.config:
        with open(ns.config) as f:
            apply_file(cfg, yaml.safe_load(f) or {})
    simple = {"hostname_override": ns.hostname_override, "node_ip": ns.node_ip,
              "container_runtime_endpoint": ns.container_runtime_endpoint, "root_dir": ns.root_dir,
              "static_pod_path": ns.pod_manifest_path, "max_pods": ns.max_pods, "port": ns.port,
              "address": ns.address, "tls_cert_file": ns.tls_cert_file,
              "tls_private_key_file": ns.tls_private_key_file, "client_ca_file": ns.client_ca_file,
              "pod_logs_dir": ns.pod_logs_dir, "cgroup_root": ns.cgroup_root, "pod_pids_limit": ns.pod_max_pids,
              "cluster_domain": ns.cluster_domain, "resolv_conf": ns.resolv_conf}
    for attr, value in simple.items():
        if value is not None:
            setattr(cfg, attr, value)
    for attr in ("node_status_update_frequency", "sync_frequency", "file_check_frequency"):
        value = getattr(ns, attr)
        if value is not None:
            setattr(cfg, attr, parse_duration(value))
    if ns.authorization_mode is not None:
        cfg.authorization_mode = ns.authorization_mode
    if ns.anonymous_auth is not None:
        cfg.anonymous_auth = ns.anonymous_auth.lower() in ("1", "true", "yes")
    if ns.cluster_dns is not None:
        cfg.cluster_dns = [ip.strip() for ip in ns.cluster_dns.split(",") if ip.strip()]
    if ns.node_labels is not None:
        cfg.node_labels = parse_labels(ns.node_labels)
    if ns.register_with_taints is not None:
        cfg.register_with_taints = parse_taints(ns.register_with_taints)
    return cfg, ns
