"""Flags and KubeletConfiguration: the kubelet's names, file values overridden by flags."""

from __future__ import annotations

import pathlib

import pytest

from agents.kubelet.config import load, parse_duration, parse_taints

pytestmark = pytest.mark.unit


def test_durations_as_go_writes_them() -> None:
    assert [parse_duration(d) for d in ("10s", "1m0s", "500ms", "1h", "1m30s", 7)] == [10, 60, 0.5, 3600, 90, 7]


def test_taints_and_labels_flags() -> None:
    assert parse_taints("dedicated=infra:NoSchedule,gpu:NoExecute") == [
        {"key": "dedicated", "value": "infra", "effect": "NoSchedule"}, {"key": "gpu", "effect": "NoExecute"}]
    cfg, _ = load(["--kubeconfig", "k", "--node-labels", "a=1,b=2", "--hostname-override", "Node-1"])
    assert cfg.node_labels == {"a": "1", "b": "2"} and cfg.node_name == "node-1"


def test_the_config_file_and_flags_over_it(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 50\n"
                 "staticPodPath: /etc/kubernetes/manifests\nnodeStatusUpdateFrequency: 20s\npodPidsLimit: 100\n"
                 "authentication:\n  x509:\n    clientCAFile: /ca.crt\n  anonymous:\n    enabled: false\n"
                 "authorization:\n  mode: AlwaysAllow\nregisterWithTaints:\n- key: k\n  effect: NoSchedule\n")
    cfg, _ = load(["--kubeconfig", "k", "--config", str(f), "--max-pods", "7"])
    assert cfg.max_pods == 7 and cfg.static_pod_path == "/etc/kubernetes/manifests"
    assert cfg.node_status_update_frequency == 20 and cfg.pod_pids_limit == 100
    assert cfg.client_ca_file == "/ca.crt" and cfg.authorization_mode == "AlwaysAllow" and not cfg.anonymous_auth
    assert cfg.register_with_taints == [{"key": "k", "effect": "NoSchedule"}]
    f.write_text("kind: KubeProxyConfiguration\n")
    with pytest.raises(ValueError, match="is not KubeletConfiguration"):
        load(["--kubeconfig", "k", "--config", str(f)])


def test_cluster_dns_from_the_file_and_the_flags(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("kind: KubeletConfiguration\nclusterDNS: [10.96.0.10]\nclusterDomain: cluster.local\n"
                 "resolvConf: /run/systemd/resolve/resolv.conf\n")
    cfg, _ = load(["--kubeconfig", "k", "--config", str(f)])
    assert (cfg.cluster_dns, cfg.cluster_domain, cfg.resolv_conf) == (
        ["10.96.0.10"], "cluster.local", "/run/systemd/resolve/resolv.conf")
    cfg, _ = load(["--kubeconfig", "k", "--config", str(f), "--cluster-dns", "10.0.0.10,fd00::a",
                   "--cluster-domain", "k8s.test", "--resolv-conf", ""])
    assert (cfg.cluster_dns, cfg.cluster_domain, cfg.resolv_conf) == (["10.0.0.10", "fd00::a"], "k8s.test", "")
    assert load(["--kubeconfig", "k"])[0].resolv_conf == "/etc/resolv.conf"
