"""raftkv-proxy end to end as root: a real API server, the proxy programming iptables in a 'node' network namespace
we create, two 'pod' namespaces behind its bridge with HTTP servers answering their names. The Service has no
selector and the test writes its EndpointSlice itself, to flip readiness and remove endpoints at will."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agents.proxy.netlab import NetLab, sh, skip_reason
from tests.conftest import register_process, stop_process, wait_for
from tests.controllers.cluster import ControlPlane, control_plane

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "-")]
NS = "proxy-e2e"
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def cp() -> Iterator[ControlPlane]:
    with control_plane("etcd") as plane:
        plane.create_namespace(NS)
        yield plane


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    lab = NetLab()
    try:
        yield lab.up()
    finally:
        lab.close()


@pytest.fixture(scope="module")
def proxy(cp: ControlPlane, lab: NetLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp_path_factory.mktemp("proxy") / "proxy.log"
    with open(log, "wb") as out:
        proc = register_process(subprocess.Popen(
            [sys.executable, "-m", "agents.proxy", "--kubeconfig", cp.admin_kubeconfig, "--hostname-override",
             "node1", "--netns", lab.node, "--cluster-cidr", "10.244.0.0/16", "-v"],
            stdout=out, stderr=subprocess.STDOUT, cwd=os.getcwd()))
    wait_for(lambda: "Using iptables Proxier" in log.read_text(), DEADLINE_S, "proxy start")
    yield proc
    stop_process(proc)
    if proc.returncode not in (0, None, -15):
        print(log.read_text()[-3000:])


def endpoint_slice(svc: str, endpoints: list[tuple[str, bool]], port: int) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{svc}-manual", "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": "node1",
                           "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                          for ip, ready in endpoints]}


def put_slice(cp: ControlPlane, body: dict[str, Any]) -> None:
    path = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
    current = cp.get(f"{path}/{body['metadata']['name']}")
    if current is None:
        cp.api("POST", path, body)
    else:
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        cp.api("PUT", f"{path}/{body['metadata']['name']}", body)


DIG = r"""
import sys, dns.message, dns.query
q = dns.message.make_query(sys.argv[1], sys.argv[2])
r = (dns.query.tcp if sys.argv[3] == "tcp" else dns.query.udp)(q, "10.0.0.10", timeout=3)
print(" ".join(sorted(rd.to_text() for rrset in r.answer for rd in rrset)) or dns.rcode.to_text(r.rcode()))
"""


def test_dns_from_a_pod_through_the_kube_dns_cluster_ip(cp: ControlPlane, lab: NetLab, proxy: subprocess.Popen[bytes],
                                                        tmp_path: Any) -> None:
    """raftkv-dns listens on the node's bridge address inside the node netns and registers kube-dns at 10.0.0.10;
    a pod asks 10.0.0.10, which the proxy's rules carry to it."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    log = tmp_path / "dns.log"
    with open(log, "wb") as out:
        dns_proc = register_process(subprocess.Popen(
            [sys.executable, "-m", "agents.dns", "--kubeconfig", cp.admin_kubeconfig, "--netns", lab.node,
             "--bind-address", "10.244.0.1", "--port", "53", "--advertise-address", "10.244.0.1",
             "--resolv-conf", str(resolv), "--forward-timeout", "0.5"],
            stdout=out, stderr=subprocess.STDOUT, cwd=os.getcwd()))
    try:
        wait_for(lambda: "listening on 10.244.0.1:53" in log.read_text(), DEADLINE_S, "raftkv-dns in the node netns")
        svc = cp.api("POST", f"/api/v1/namespaces/{NS}/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "named"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": lab.port}]}})

        def dig(name: str, rtype: str = "A", transport: str = "udp") -> str:
            out = subprocess.run(["ip", "netns", "exec", lab.pod(0), sys.executable, "-c", DIG, name, rtype, transport],
                                 capture_output=True, text=True, timeout=20)
            return out.stdout.strip() or out.stderr.strip()[-300:]
        name = f"named.{NS}.svc.cluster.local."
        wait_for(lambda: dig(name) == svc["spec"]["clusterIP"], DEADLINE_S, "A record from a pod via 10.0.0.10")
        assert dig(name, transport="tcp") == svc["spec"]["clusterIP"]
        assert dig(f"nope.{NS}.svc.cluster.local.") == "NXDOMAIN"
        if shutil.which("busybox"):
            out = subprocess.run(["ip", "netns", "exec", lab.pod(0), "busybox", "nslookup", name, "10.0.0.10"],
                                 capture_output=True, text=True, timeout=20).stdout
            assert svc["spec"]["clusterIP"] in out, out
    finally:
        stop_process(dns_proc)


def test_cluster_ip_spreads_follows_readiness_and_deletion(cp: ControlPlane, lab: NetLab,
                                                            proxy: subprocess.Popen[bytes]) -> None:
    svc = cp.api("POST", f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": lab.port, "protocol": "TCP"}]}})
    cip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    url = f"http://{cip}/"
    p0, p1 = lab.pod_ips
    put_slice(cp, endpoint_slice("web", [(p0, True), (p1, True)], lab.port))
    wait_for(lambda: set(lab.get(lab.node, url, 20)) == {"pod0", "pod1"}, DEADLINE_S, "both backends answer")
    spread = collections.Counter(lab.get(lab.node, url, 60))
    assert set(spread) == {"pod0", "pod1"} and min(spread.values()) >= 10, spread
    # from a pod: both backends, itself included (hairpin: masqueraded by its own SEP chain)
    assert set(lab.get(lab.pod(1), url, 30)) == {"pod0", "pod1"}
    # NodePort on the node's address, from a pod and from outside the node
    assert set(lab.get(lab.pod(0), f"http://{lab.node_ip}:{node_port}/", 30)) == {"pod0", "pod1"}
    wait_for(lambda: set(lab.get(lab.outside, f"http://{lab.node_ip}:{node_port}/", 20)) == {"pod0", "pod1"},
             DEADLINE_S, "NodePort from outside")
    # a not-ready endpoint gets no traffic
    put_slice(cp, endpoint_slice("web", [(p0, True), (p1, False)], lab.port))
    wait_for(lambda: set(lab.get(lab.node, url, 10)) == {"pod0"}, DEADLINE_S, "not-ready pod1 out")
    assert set(lab.get(lab.node, url, 30)) == {"pod0"}
    # back to ready, then deleted: gone from the rotation within 2 s
    put_slice(cp, endpoint_slice("web", [(p0, True), (p1, True)], lab.port))
    wait_for(lambda: set(lab.get(lab.node, url, 20)) == {"pod0", "pod1"}, DEADLINE_S, "pod1 back")
    put_slice(cp, endpoint_slice("web", [(p1, True)], lab.port))
    t0 = time.monotonic()
    wait_for(lambda: set(lab.get(lab.node, url, 10)) == {"pod1"}, DEADLINE_S, "pod0 deleted")
    assert time.monotonic() - t0 < 2.0 + 1.0, "deleted endpoint left the rotation late"  # +1 s: the 10 probes
    rules = sh("ip", "netns", "exec", lab.node, "iptables-save", "-t", "nat")
    assert f"--to-destination {p0}:{lab.port}" not in rules and f"--to-destination {p1}:{lab.port}" in rules
    # no endpoints at all: the filter table rejects (connection refused, not a hang)
    put_slice(cp, endpoint_slice("web", [], lab.port))
    wait_for(lambda: lab.get(lab.node, url, 1) == ["ERR URLError"], DEADLINE_S, "REJECT with no endpoints")


def test_bad_input_keeps_other_services(cp: ControlPlane, lab: NetLab, proxy: subprocess.Popen[bytes]) -> None:
    base = f"/api/v1/namespaces/{NS}/services"
    good = cp.api("POST", base, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "good"},
                                 "spec": {"ports": [{"name": "http", "port": 81, "targetPort": lab.port}]}})
    cp.api("POST", base, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nothing"},
                          "spec": {"selector": {"app": "none"}, "ports": [{"name": "http", "port": 82}]}})
    bad = endpoint_slice("good", [(lab.pod_ips[0], True)], lab.port)
    bad["endpoints"].append({"addresses": ["10.244.0.999"], "conditions": {"ready": True}})
    path = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
    refused = cp.request("POST", path, bad)  # as kube-apiserver 1.32: the whole slice is refused
    assert refused.code == 422, refused.code
    assert 'endpoints[1].addresses[0]: Invalid value: "10.244.0.999": must be a valid IPv4 address' in \
        refused.body["message"]
    bad["endpoints"].pop()
    cp.api("POST", path, bad)
    other = endpoint_slice("nothing", [(lab.pod_ips[1], True)], 9)  # a port name no pod serves: 9 refuses
    other["metadata"]["name"] = "nothing-x"
    other["ports"][0]["name"] = "other"
    cp.api("POST", path, other)
    url = f"http://{good['spec']['clusterIP']}:81/"
    wait_for(lambda: lab.get(lab.node, url, 5) == ["pod0"] * 5, DEADLINE_S, "good service served")
    assert proxy.poll() is None
