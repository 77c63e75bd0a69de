"""raftkv-dns end to end: the real process on a loopback port, fed by a real API server with the endpoint and
endpointslice controllers; questions asked with dnspython over UDP and TCP, garbage and huge names thrown in."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from tests.conftest import register_process, stop_process, wait_for
from tests.controllers.cluster import SYSTEM_CONTROLLERS, ControlPlane, control_plane
from tests.controllers.fakenodes import FakeNodes

pytestmark = pytest.mark.e2e
DEADLINE_S = 60.0
NS = "dns-e2e"


@pytest.fixture(scope="module")
def cp() -> Iterator[ControlPlane]:
    with control_plane("etcd", background=(*SYSTEM_CONTROLLERS, "endpoint", "endpointslice")) as plane:
        yield plane


@pytest.fixture(scope="module")
def nodes(cp: ControlPlane) -> Iterator[FakeNodes]:
    cp.create_namespace(NS)
    with FakeNodes(cp.admin_kubeconfig, namespaces={NS}) as fake:
        yield fake


class DNSProcess:
    def __init__(self, proc: subprocess.Popen[bytes], log_path: str, port: int) -> None:
        self.proc, self.log_path, self.port = proc, log_path, port

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]


@pytest.fixture(scope="module")
def dns_server(cp: ControlPlane, nodes: FakeNodes, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[DNSProcess]:
    tmp = tmp_path_factory.mktemp("dns")
    resolv = tmp / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")  # nothing listens on :53 there: forwards time out fast
    log_path = str(tmp / "dns.log")
    with open(log_path, "wb") as out:
        proc = register_process(subprocess.Popen(
            [sys.executable, "-m", "agents.dns", "--kubeconfig", cp.admin_kubeconfig,
             "--bind-address", "127.0.0.1", "--port", "0", "--resolv-conf", str(resolv), "--forward-timeout", "0.5"],
            stdout=out, stderr=subprocess.STDOUT, cwd=os.getcwd()))
    d = DNSProcess(proc, log_path, 0)

    def port() -> int:
        assert proc.poll() is None, d.log()
        for line in d.log().splitlines():
            if line.startswith("listening on 127.0.0.1:"):
                return int(line.split(":")[1].split()[0])
        return 0
    d.port = wait_for(port, DEADLINE_S, "raftkv-dns listening")
    yield d
    stop_process(proc)


def ask(d: DNSProcess, name: str, rtype: str = "A", tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rtype)
    return (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", timeout=5, port=d.port)


def addrs(r: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in r.answer for rd in rrset
                  if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.CNAME, dns.rdatatype.SRV))


def create(cp: ControlPlane, path: str, body: dict[str, Any]) -> Any:
    return cp.api("POST", path, body)


def pod(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}],
                     **spec}}


def service(name: str, selector: dict[str, str] | None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}], **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def test_names_resolve_from_the_api_server(cp: ControlPlane, dns_server: DNSProcess) -> None:
    base = f"/api/v1/namespaces/{NS}"
    svc = create(cp, f"{base}/services", service("my-svc", {"app": "my"}))
    cip = svc["spec"]["clusterIP"]
    create(cp, f"{base}/services", service("web", {"app": "web"}, clusterIP="None"))
    create(cp, f"{base}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                                 "spec": {"type": "ExternalName", "externalName": "example.com"}})
    create(cp, f"{base}/services", service("nothing", {"app": "none-at-all"}))
    for i in range(2):
        create(cp, f"{base}/pods", pod(f"web-{i}", {"app": "web"}, hostname=f"web-{i}", subdomain="web"))
    name = f"my-svc.{NS}.svc.cluster.local."
    r = wait_for(lambda: (x := ask(dns_server, name)).answer and x, DEADLINE_S, "service A record")
    assert addrs(r) == [cip] and r.answer[0].ttl == 5
    assert addrs(ask(dns_server, name, tcp=True)) == [cip]
    headless = wait_for(lambda: len(addrs(x := ask(dns_server, f"web.{NS}.svc.cluster.local."))) == 2 and x,
                        DEADLINE_S, "headless A records")
    pod_ips = addrs(headless)
    assert all(ip.startswith("10.244.") for ip in pod_ips)
    one = addrs(ask(dns_server, f"web-1.web.{NS}.svc.cluster.local."))
    assert len(one) == 1 and one[0] in pod_ips
    srv = ask(dns_server, f"_http._tcp.web.{NS}.svc.cluster.local.", "SRV")
    assert sorted(a.split()[-1] for a in addrs(srv)) == [f"web-0.web.{NS}.svc.cluster.local.",
                                                          f"web-1.web.{NS}.svc.cluster.local."]
    assert addrs(ask(dns_server, f"ext.{NS}.svc.cluster.local.")) == ["example.com."]
    assert addrs(ask(dns_server, f"{pod_ips[0].replace('.', '-')}.{NS}.pod.cluster.local.")) == [pod_ips[0]]
    nx = ask(dns_server, f"nope.{NS}.svc.cluster.local.")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.authority[0].to_text().split()[4:6] == ["ns.dns.cluster.local.", "hostmaster.cluster.local."]
    # a Service selecting nothing is a name with its ClusterIP (and no backends), as CoreDNS
    assert ask(dns_server, f"nothing.{NS}.svc.cluster.local.").rcode() == dns.rcode.NOERROR
    # a pod's resolv.conf as the kubelet writes it: search <ns>.svc.cluster.local svc.cluster.local cluster.local,
    # ndots:5 — short names resolve through the search path
    res = dns.resolver.Resolver(configure=False)
    res.nameservers, res.port, res.ndots = ["127.0.0.1"], dns_server.port, 5
    res.search = [dns.name.from_text(f"{NS}.svc.cluster.local"), dns.name.from_text("svc.cluster.local"),
                  dns.name.from_text("cluster.local")]
    res.use_search_by_default = True
    assert [a.to_text() for a in res.resolve("my-svc", "A")] == [cip]
    assert [a.to_text() for a in res.resolve(f"my-svc.{NS}", "A")] == [cip]
    assert [a.to_text() for a in res.resolve("kubernetes.default", "A")]
    # kube-dns registered at its fixed ClusterIP, with this server's address
    kd = cp.get("/api/v1/namespaces/kube-system/services/kube-dns")
    assert kd is not None and kd["spec"]["clusterIP"] == "10.0.0.10"
    assert kd["metadata"]["labels"]["k8s-app"] == "kube-dns"
    ep = cp.get("/api/v1/namespaces/kube-system/endpoints/kube-dns")
    assert ep is not None and ep["subsets"][0]["addresses"][0]["ip"] == "127.0.0.1"
    assert ep["subsets"][0]["ports"][0]["port"] == dns_server.port
    assert addrs(ask(dns_server, "kube-dns.kube-system.svc.cluster.local.")) == ["10.0.0.10"]


def test_deleted_service_goes_away(cp: ControlPlane, dns_server: DNSProcess) -> None:
    base = f"/api/v1/namespaces/{NS}"
    create(cp, f"{base}/services", service("short", {"app": "short"}))
    name = f"short.{NS}.svc.cluster.local."
    wait_for(lambda: ask(dns_server, name).answer, DEADLINE_S, "short's A record")
    cp.api("DELETE", f"{base}/services/short")
    wait_for(lambda: ask(dns_server, name).rcode() == dns.rcode.NXDOMAIN, DEADLINE_S, "NXDOMAIN after delete")


def test_garbage_and_huge_names_do_not_stop_the_server(cp: ControlPlane, dns_server: DNSProcess) -> None:
    name = "kubernetes.default.svc.cluster.local."
    wait_for(lambda: ask(dns_server, name).answer, DEADLINE_S, "kubernetes A record")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff\xff", ("127.0.0.1", dns_server.port))
        reply, _ = s.recvfrom(4096)
        assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR
        s.sendto(b"xx", ("127.0.0.1", dns_server.port))          # too short to answer: silently dropped
        s.sendto(os.urandom(900), ("127.0.0.1", dns_server.port))
        # a 300-byte name: labels of 63 chars, past the 255 limit
        qname = b"".join(bytes([63]) + b"a" * 63 for _ in range(5)) + b"\x00"
        s.sendto(b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + qname + b"\x00\x01\x00\x01",
                 ("127.0.0.1", dns_server.port))
        deadline_replies = []
        for _ in range(3):
            try:
                deadline_replies.append(s.recvfrom(4096)[0])
            except TimeoutError:
                break
        assert any(r[:2] == b"\xab\xcd" and r[3] & 0x0F == dns.rcode.FORMERR for r in deadline_replies)
    with socket.create_connection(("127.0.0.1", dns_server.port), timeout=5) as c:
        junk = os.urandom(40)
        c.sendall(struct.pack("!H", len(junk)) + junk)
        c.recv(2)  # FORMERR or a close: either way the server is still up
    assert dns_server.proc.poll() is None
    assert addrs(ask(dns_server, name)) and addrs(ask(dns_server, name, tcp=True))
    # outside the zone, with an upstream that never answers: SERVFAIL after the forward timeout, not silence
    assert ask(dns_server, "example.invalid.").rcode() == dns.rcode.SERVFAIL
