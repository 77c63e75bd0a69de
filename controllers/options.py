"""kube-controller-manager's command line (the flags this manager implements), with its names and defaults."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import Any

from controllers.registry import CONTROLLERS

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

# --concurrent-*-syncs flag per controller (kube-controller-manager 1.32 names and defaults).
CONCURRENCY_FLAGS: dict[str, tuple[str, int]] = {
    "replicationcontroller": ("concurrent-rc-syncs", 5),
    "replicaset": ("concurrent-replicaset-syncs", 5),
    "deployment": ("concurrent-deployment-syncs", 5),
    "daemonset": ("concurrent-daemonset-syncs", 2),
    "job": ("concurrent-job-syncs", 5),
    "cronjob": ("concurrent-cron-job-syncs", 5),
    "statefulset": ("concurrent-statefulset-syncs", 5),
    "endpoint": ("concurrent-endpoint-syncs", 5),
    "endpointslice": ("concurrent-service-endpoint-syncs", 5),
    "namespace": ("concurrent-namespace-syncs", 10),
    "serviceaccount": ("concurrent-serviceaccount-syncs", 1),
    "garbagecollector": ("concurrent-gc-syncs", 20),
    "resourcequota": ("concurrent-resource-quota-syncs", 5),
    "ttl-after-finished": ("concurrent-ttl-after-finished-syncs", 5),
}

# The kube-system service account each controller acts as with --use-service-account-credentials
# (kube-controller-manager's ClientBuilder names).
SERVICE_ACCOUNTS: dict[str, str] = {
    "replicationcontroller": "replication-controller",
    "replicaset": "replicaset-controller",
    "deployment": "deployment-controller",
    "daemonset": "daemon-set-controller",
    "job": "job-controller",
    "cronjob": "cronjob-controller",
    "statefulset": "statefulset-controller",
    "endpoint": "endpoint-controller",
    "endpointslice": "endpointslice-controller",
    "namespace": "namespace-controller",
    "serviceaccount": "service-account-controller",
    "root-ca-cert-publisher": "root-ca-cert-publisher",
    "garbagecollector": "generic-garbage-collector",
    "podgc": "pod-garbage-collector",
    "nodelifecycle": "node-controller",
    "resourcequota": "resourcequota-controller",
    "ttl-after-finished": "ttl-after-finished-controller",
    "disruption": "disruption-controller",
}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration for the units flags use ("15s", "1m30s", "500ms"); a bare number is seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return total


def parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "t", "yes"):
        return True
    if text.lower() in ("false", "0", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


class ControllerSelectionError(ValueError):
    """--controllers names a controller that does not exist."""


@dataclass(frozen=True)
class Selection:
    """The parsed --controllers list: explicit names, disabled names, and whether '*' was given."""
    star: bool
    enabled: frozenset[str]
    disabled: frozenset[str]

    def is_enabled(self, name: str) -> bool:
        if name in self.disabled:
            return False
        return name in self.enabled or self.star

    def explicit(self, name: str) -> bool:
        return name in self.enabled


def parse_controllers(items: list[str], known: frozenset[str] = frozenset(CONTROLLERS)) -> Selection:
    """kube's syntax: '*' (every default-on controller), 'foo' (enable foo), '-foo' (disable foo)."""
    names = [n.strip() for item in items for n in item.split(",") if n.strip()]
    star = "*" in names
    enabled = {n for n in names if n != "*" and not n.startswith("-")}
    disabled = {n[1:] for n in names if n.startswith("-")}
    unknown = sorted((enabled | disabled) - known)
    if unknown:
        raise ControllerSelectionError(f"{unknown[0]!r} is not in the list of known controllers")
    return Selection(star, frozenset(enabled), frozenset(disabled))


@dataclass
class ControllerManagerOptions:
    kubeconfig: str = ""
    master: str = ""
    controllers: Selection = field(default_factory=lambda: parse_controllers(["*"]))
    kube_api_qps: float = 20.0
    kube_api_burst: int = 30
    leader_elect: bool = True
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    leader_elect_resource_namespace: str = "kube-system"
    leader_elect_resource_name: str = "kube-controller-manager"
    use_service_account_credentials: bool = False
    node_monitor_grace_period: float = 40.0
    node_monitor_period: float = 5.0
    node_startup_grace_period: float = 60.0
    terminated_pod_gc_threshold: int = 12500
    resource_quota_sync_period: float = 300.0
    namespace_sync_period: float = 300.0
    large_cluster_size_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    root_ca_file: str = ""
    max_endpoints_per_slice: int = 100
    secure_port: int = 10257
    bind_address: str = "0.0.0.0"
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    verbosity: int = 0
    concurrency: dict[str, int] = field(default_factory=lambda: {k: d for k, (_, d) in CONCURRENCY_FLAGS.items()})

    def workers(self, controller: str) -> int:
        """How many workers `controller` runs (its --concurrent-*-syncs, 1 if it has none)."""
        return self.concurrency.get(controller, 1)

    def __getattr__(self, name: str) -> Any:
        # concurrent_replicaset_syncs & co. read through `concurrency`, so controllers may use the flag's name
        for ctrl, (flag, _) in CONCURRENCY_FLAGS.items():
            if flag.replace("-", "_") == name:
                return self.concurrency.get(ctrl, 1)
        raise AttributeError(name)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raftkv-controller-manager",
                                description="kube-controller-manager for the raftkv API server.")
    p.add_argument("--kubeconfig", default="", help="kubeconfig with the API server and the manager's credentials")
    p.add_argument("--master", default="", help="overrides the kubeconfig's server")
    p.add_argument("--controllers", action="append", default=[],
                   help="'*' enables all, 'foo' enables foo, '-foo' disables foo (default '*')")
    p.add_argument("--kube-api-qps", type=float, default=20.0)
    p.add_argument("--kube-api-burst", type=int, default=30)
    b = dict(type=parse_bool, nargs="?", const=True)
    p.add_argument("--leader-elect", default=True, **b)  # type: ignore[arg-type]
    p.add_argument("--leader-elect-lease-duration", type=parse_duration, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=parse_duration, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=parse_duration, default=2.0)
    p.add_argument("--leader-elect-resource-lock", default="leases", choices=["leases"])
    p.add_argument("--leader-elect-resource-namespace", default="kube-system")
    p.add_argument("--leader-elect-resource-name", default="kube-controller-manager")
    p.add_argument("--use-service-account-credentials", default=False, **b)  # type: ignore[arg-type]
    p.add_argument("--node-monitor-grace-period", type=parse_duration, default=40.0)
    p.add_argument("--node-monitor-period", type=parse_duration, default=5.0)
    p.add_argument("--node-startup-grace-period", type=parse_duration, default=60.0)
    p.add_argument("--terminated-pod-gc-threshold", type=int, default=12500)
    p.add_argument("--resource-quota-sync-period", type=parse_duration, default=300.0)
    p.add_argument("--namespace-sync-period", type=parse_duration, default=300.0)
    p.add_argument("--large-cluster-size-threshold", type=int, default=50)
    p.add_argument("--unhealthy-zone-threshold", type=float, default=0.55)
    p.add_argument("--node-eviction-rate", type=float, default=0.1)
    p.add_argument("--secondary-node-eviction-rate", type=float, default=0.01)
    p.add_argument("--root-ca-file", default="")
    p.add_argument("--max-endpoints-per-slice", type=int, default=100)
    p.add_argument("--secure-port", type=int, default=10257, help="/healthz port; 0 disables serving")
    p.add_argument("--bind-address", default="0.0.0.0")
    p.add_argument("--tls-cert-file", default="")
    p.add_argument("--tls-private-key-file", default="")
    for ctrl, (flag, default) in CONCURRENCY_FLAGS.items():
        p.add_argument(f"--{flag}", type=int, default=default, dest=f"conc_{ctrl}")
    p.add_argument("-v", "--v", type=int, default=0, dest="verbosity")
    return p


def parse_options(argv: list[str]) -> ControllerManagerOptions:
    p = build_parser()
    a = p.parse_args(argv)
    try:
        selection = parse_controllers(a.controllers or ["*"])
    except ControllerSelectionError as e:
        p.error(str(e))
    if a.leader_elect_renew_deadline >= a.leader_elect_lease_duration:
        p.error("leaderElectConfiguration.leaseDuration must be greater than renewDeadline")
    if a.leader_elect_retry_period <= 0 or a.leader_elect_renew_deadline <= a.leader_elect_retry_period * 1.2:
        p.error("leaderElectConfiguration.renewDeadline must be greater than retryPeriod*JitterFactor(1.2)")
    if not a.kubeconfig and not a.master:
        p.error("--kubeconfig is required")
    return ControllerManagerOptions(
        kubeconfig=a.kubeconfig, master=a.master, controllers=selection, kube_api_qps=a.kube_api_qps,
        kube_api_burst=a.kube_api_burst, leader_elect=a.leader_elect,
        leader_elect_lease_duration=a.leader_elect_lease_duration,
        leader_elect_renew_deadline=a.leader_elect_renew_deadline,
        leader_elect_retry_period=a.leader_elect_retry_period,
        leader_elect_resource_namespace=a.leader_elect_resource_namespace,
        leader_elect_resource_name=a.leader_elect_resource_name,
        use_service_account_credentials=a.use_service_account_credentials,
        node_monitor_grace_period=a.node_monitor_grace_period, node_monitor_period=a.node_monitor_period,
        node_startup_grace_period=a.node_startup_grace_period,
        terminated_pod_gc_threshold=a.terminated_pod_gc_threshold,
        resource_quota_sync_period=a.resource_quota_sync_period, namespace_sync_period=a.namespace_sync_period,
        large_cluster_size_threshold=a.large_cluster_size_threshold,
        unhealthy_zone_threshold=a.unhealthy_zone_threshold, node_eviction_rate=a.node_eviction_rate,
        secondary_node_eviction_rate=a.secondary_node_eviction_rate, root_ca_file=a.root_ca_file,
        max_endpoints_per_slice=a.max_endpoints_per_slice,
        secure_port=a.secure_port, bind_address=a.bind_address, tls_cert_file=a.tls_cert_file,
        tls_private_key_file=a.tls_private_key_file, verbosity=a.verbosity,
        concurrency={ctrl: getattr(a, f"conc_{ctrl}") for ctrl in CONCURRENCY_FLAGS})
