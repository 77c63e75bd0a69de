"""kube-scheduler's command line (the flags raftkv-scheduler honours); `--config` overrides come after flags only
where kube-scheduler lets the file win (leaderElection, clientConnection.kubeconfig)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import yaml

from controllers.options import parse_bool, parse_duration
from controllers.scheduler import config as schedconfig


@dataclass
class SchedulerOptions:
    kubeconfig: str
    master: str
    config: schedconfig.SchedulerConfig
    leader_elect: bool
    lease_duration: float
    renew_deadline: float
    retry_period: float
    lock_namespace: str
    lock_name: str
    secure_port: int
    bind_address: str
    kube_api_qps: float
    kube_api_burst: int
    verbosity: int


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raftkv-scheduler", description="kube-scheduler for the raftkv API server.")
    p.add_argument("--kubeconfig", default="")
    p.add_argument("--master", default="")
    p.add_argument("--config", default="", help="a KubeSchedulerConfiguration YAML file")
    b: dict[str, Any] = dict(type=parse_bool, nargs="?", const=True)
    p.add_argument("--leader-elect", default=None, **b)
    p.add_argument("--leader-elect-lease-duration", type=parse_duration, default=None)
    p.add_argument("--leader-elect-renew-deadline", type=parse_duration, default=None)
    p.add_argument("--leader-elect-retry-period", type=parse_duration, default=None)
    p.add_argument("--leader-elect-resource-lock", default="leases", choices=["leases"])
    p.add_argument("--leader-elect-resource-namespace", default=None)
    p.add_argument("--leader-elect-resource-name", default=None)
    p.add_argument("--secure-port", type=int, default=10259, help="/healthz and /metrics port; 0 disables serving")
    p.add_argument("--bind-address", default="0.0.0.0")
    p.add_argument("--kube-api-qps", type=float, default=50.0)
    p.add_argument("--kube-api-burst", type=int, default=100)
    p.add_argument("-v", "--v", type=int, default=0, dest="verbosity")
    return p


def _pick(flag: Any, file_value: Any, default: Any, conv: Any = None) -> Any:
    if flag is not None:
        return flag
    if file_value is not None:
        return conv(file_value) if conv else file_value
    return default


def parse_options(argv: list[str]) -> SchedulerOptions:
    a = build_parser().parse_args(argv)
    raw: dict[str, Any] = {}
    if a.config:
        with open(a.config) as f:
            raw = yaml.safe_load(f) or {}
    cfg = schedconfig.load(raw)
    le = cfg.leader_election
    dur = lambda v: parse_duration(str(v))  # noqa: E731
    return SchedulerOptions(
        kubeconfig=a.kubeconfig or cfg.client_connection.get("kubeconfig") or "", master=a.master, config=cfg,
        leader_elect=_pick(a.leader_elect, le.get("leaderElect"), True),
        lease_duration=_pick(a.leader_elect_lease_duration, le.get("leaseDuration"), 15.0, dur),
        renew_deadline=_pick(a.leader_elect_renew_deadline, le.get("renewDeadline"), 10.0, dur),
        retry_period=_pick(a.leader_elect_retry_period, le.get("retryPeriod"), 2.0, dur),
        lock_namespace=_pick(a.leader_elect_resource_namespace, le.get("resourceNamespace"), "kube-system"),
        lock_name=_pick(a.leader_elect_resource_name, le.get("resourceName"), "kube-scheduler"),
        secure_port=a.secure_port, bind_address=a.bind_address,
        kube_api_qps=float(cfg.client_connection.get("qps") or a.kube_api_qps),
        kube_api_burst=int(cfg.client_connection.get("burst") or a.kube_api_burst), verbosity=a.verbosity)
