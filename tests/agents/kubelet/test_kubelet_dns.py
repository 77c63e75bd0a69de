"""Pod DNS and /etc/hosts as the 1.32 kubelet forms them (dns.py), table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from agents.kubelet.dns import hosts_file, parse_resolv_conf, pod_dns, resolv_conf_text

pytestmark = pytest.mark.unit
Obj = dict[str, Any]
HOST = ("# generated\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch old.example\n"
        "search corp.example. lab.example .\noptions timeout:2 ndots:1\noptions timeout:3\n")


def pod(**spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "ns1", "uid": "u1"}, "spec": spec}


CASES = [
    ("ClusterFirst default", pod(), ["10.96.0.10"],
     (["10.96.0.10"], ["ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "lab.example"],
      ["ndots:5"])),
    ("ClusterFirst dedups host searches", pod(dnsPolicy="ClusterFirst"), ["10.96.0.10", "10.96.0.11"],
     (["10.96.0.10", "10.96.0.11"],
      ["ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "lab.example"], ["ndots:5"])),
    ("Default is the host's", pod(dnsPolicy="Default"), ["10.96.0.10"],
     (["192.0.2.53", "192.0.2.54"], ["corp.example", "lab.example"], ["timeout:3", "ndots:1"])),
    ("ClusterFirst on the host network falls back to Default", pod(hostNetwork=True), ["10.96.0.10"],
     (["192.0.2.53", "192.0.2.54"], ["corp.example", "lab.example"], ["timeout:3", "ndots:1"])),
    ("ClusterFirstWithHostNet", pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), ["10.96.0.10"],
     (["10.96.0.10"], ["ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "lab.example"],
      ["ndots:5"])),
    ("None + dnsConfig", pod(dnsPolicy="None", dnsConfig={
        "nameservers": ["1.1.1.1"], "searches": ["a.example", "a.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}), ["10.96.0.10"],
     (["1.1.1.1"], ["a.example"], ["ndots:2", "edns0"])),
    ("ClusterFirst + dnsConfig merges", pod(dnsConfig={
        "nameservers": ["1.1.1.1", "10.96.0.10"], "searches": ["x.example"],
        "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]}), ["10.96.0.10"],
     (["10.96.0.10", "1.1.1.1"],
      ["ns1.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "lab.example", "x.example"],
      ["ndots:1", "single-request"])),
    ("ClusterFirst without clusterDNS falls back to Default", pod(), [],
     (["192.0.2.53", "192.0.2.54"], ["corp.example", "lab.example"], ["timeout:3", "ndots:1"])),
    ("at most 3 nameservers", pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.0.0.1", "1.0.0.2", "1.0.0.3",
                                                                                "1.0.0.4"]}), [],
     (["1.0.0.1", "1.0.0.2", "1.0.0.3"], [], [])),
]


@pytest.mark.parametrize(("name", "p", "cluster_dns", "want"), CASES, ids=[c[0] for c in CASES])
def test_pod_dns(name: str, p: Obj, cluster_dns: list[str], want: tuple[list[str], ...]) -> None:
    got = pod_dns(p, cluster_dns, "cluster.local", HOST).config
    assert (got.servers, got.searches, got.options) == want


def test_the_events_for_missing_cluster_dns_and_limits() -> None:
    assert pod_dns(pod(), [], "cluster.local", HOST).warnings == [(
        "MissingClusterDNS", 'pod: "p_ns1(u1)". kubelet does not have ClusterDNS IP configured and cannot create '
        'Pod using "ClusterFirst" policy. Falling back to "Default" policy.')]
    d = pod_dns(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.0.0.1", "1.0.0.2", "1.0.0.3", "1.0.0.4"]}),
                [], "", HOST)
    assert d.warnings == [("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been omitted, "
                                               "the applied nameserver line is: 1.0.0.1 1.0.0.2 1.0.0.3")]
    many = [f"d{i}.example" for i in range(40)] + ["x" * 254]
    d = pod_dns(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": many}), [], "", HOST)
    assert d.config.searches == many[:32] and d.warnings[0][1].startswith("Search Line limits were exceeded")
    long = [f"{i:02d}" + "y" * 200 for i in range(12)]  # 12 * 203 - 1 chars > 2048: the last two go
    d = pod_dns(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": long}), [], "", HOST)
    assert d.config.searches == long[:10]


def test_no_resolv_conf_means_localhost() -> None:
    got = pod_dns(pod(dnsPolicy="Default"), [], "", None, ["10.0.0.5", "fd00::5"]).config
    assert (got.servers, got.searches, got.options) == (["127.0.0.1", "::1"], ["."], [])


def test_the_file_as_the_runtime_writes_it() -> None:
    cfg = pod_dns(pod(), ["10.96.0.10"], "cluster.local", "nameserver 8.8.8.8\n").config
    assert resolv_conf_text(cfg) == ("search ns1.svc.cluster.local svc.cluster.local cluster.local\n"
                                     "nameserver 10.96.0.10\noptions ndots:5\n")
    assert parse_resolv_conf("").servers == []


HEADER = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")


@pytest.mark.parametrize(("p", "want"), [
    (pod(), HEADER + "10.244.0.5\tp\n"),
    (pod(hostname="web-0", subdomain="web"), HEADER + "10.244.0.5\tweb-0.web.ns1.svc.cluster.local\tweb-0\n"),
    (pod(hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]),
     HEADER + "10.244.0.5\tp\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"),
    (pod(hostNetwork=True, hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo"]}]),
     "# Kubernetes-managed hosts file (host network).\n127.0.0.1 node\n\n# Entries added by HostAliases.\n"
     "10.1.2.3\tfoo\n"),
])
def test_hosts_file(p: Obj, want: str) -> None:
    assert hosts_file(p, ["10.244.0.5"], "cluster.local", "127.0.0.1 node\n") == want
