"""The resolver core against CoreDNS's kubernetes plugin answers (kubeadm's Corefile, ttl 5, pods insecure)."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype

from agents.dns import records, resolver

S = resolver.Settings()
SERIAL = 1733616000


def svc(ns: str, name: str, ip: str | None, ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    sp: dict[str, Any] = {"ports": ports or [{"name": "http", "port": 80, "protocol": "TCP"}], **spec}
    if ip is not None:
        sp["clusterIP"] = ip
    return {"metadata": {"namespace": ns, "name": name}, "spec": sp}


def eslice(ns: str, name: str, *eps: dict[str, Any], port: int = 8080) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name + "-x", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": list(eps)}


def ep(ip: str, ready: bool = True, hostname: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"addresses": [ip], "conditions": {"ready": ready}}
    if hostname:
        e["hostname"] = hostname
    return e


INDEX = records.build(
    [svc("default", "kubernetes", "10.0.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
     svc("my-ns", "my-svc", "10.0.0.42"),
     svc("my-ns", "web", "None"),
     svc("my-ns", "empty", "None"),
     svc("my-ns", "ext", None, type="ExternalName", externalName="example.com"),
     svc("my-ns", "broken", "not-an-ip")],
    [eslice("my-ns", "web", ep("10.244.1.5", hostname="web-0"), ep("10.244.2.6", hostname="web-1"),
            ep("10.244.3.7", ready=False, hostname="web-2")),
     eslice("my-ns", "my-svc", ep("10.244.1.9"))])


def ask(name: str, rtype: str = "A") -> dns.message.Message:
    r = resolver.resolve(INDEX, dns.message.make_query(name, rtype), S, SERIAL)
    assert r.response is not None and not r.forward
    return r.response


def lines(section: list[Any]) -> list[str]:
    return sorted(line for rrset in section for line in rrset.to_text().splitlines())


SOA_LINE = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1733616000 7200 1800 86400 5"


def test_service_a_record() -> None:
    r = ask("my-svc.my-ns.svc.cluster.local.")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert lines(r.answer) == ["my-svc.my-ns.svc.cluster.local. 5 IN A 10.0.0.42"]


def test_headless_returns_ready_pod_ips_only() -> None:
    r = ask("web.my-ns.svc.cluster.local.")
    assert lines(r.answer) == ["web.my-ns.svc.cluster.local. 5 IN A 10.244.1.5",
                               "web.my-ns.svc.cluster.local. 5 IN A 10.244.2.6"]


def test_statefulset_hostname_under_headless_service() -> None:
    assert lines(ask("web-1.web.my-ns.svc.cluster.local.").answer) == ["web-1.web.my-ns.svc.cluster.local. 5 IN A 10.244.2.6"]
    assert ask("web-2.web.my-ns.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN  # not ready


def test_srv_for_named_port() -> None:
    r = ask("_http._tcp.my-svc.my-ns.svc.cluster.local.", "SRV")
    assert lines(r.answer) == ["_http._tcp.my-svc.my-ns.svc.cluster.local. 5 IN SRV 0 100 80 my-svc.my-ns.svc.cluster.local."]
    assert lines(r.additional) == ["my-svc.my-ns.svc.cluster.local. 5 IN A 10.0.0.42"]
    h = ask("_http._tcp.web.my-ns.svc.cluster.local.", "SRV")
    assert lines(h.answer) == [
        "_http._tcp.web.my-ns.svc.cluster.local. 5 IN SRV 0 50 8080 web-0.web.my-ns.svc.cluster.local.",
        "_http._tcp.web.my-ns.svc.cluster.local. 5 IN SRV 0 50 8080 web-1.web.my-ns.svc.cluster.local."]
    assert ask("_nope._tcp.my-svc.my-ns.svc.cluster.local.", "SRV").rcode() == dns.rcode.NXDOMAIN
    assert ask("_http._udp.my-svc.my-ns.svc.cluster.local.", "SRV").rcode() == dns.rcode.NXDOMAIN


def test_external_name_is_a_cname() -> None:
    assert lines(ask("ext.my-ns.svc.cluster.local.").answer) == ["ext.my-ns.svc.cluster.local. 5 IN CNAME example.com."]


def test_pod_a_record() -> None:
    assert lines(ask("10-244-1-5.my-ns.pod.cluster.local.").answer) == ["10-244-1-5.my-ns.pod.cluster.local. 5 IN A 10.244.1.5"]
    assert ask("10-244-1.my-ns.pod.cluster.local.").rcode() == dns.rcode.NXDOMAIN


def test_nxdomain_and_nodata_carry_the_zone_soa() -> None:
    r = ask("nope.my-ns.svc.cluster.local.")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA
    assert lines(r.authority) == [SOA_LINE]
    n = ask("my-svc.my-ns.svc.cluster.local.", "AAAA")
    assert n.rcode() == dns.rcode.NOERROR and not n.answer and lines(n.authority) == [SOA_LINE]
    assert ask("my-ns.svc.cluster.local.").rcode() == dns.rcode.NOERROR   # a namespace with services
    assert ask("other.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN
    assert ask("empty.my-ns.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN  # headless, no ready backend
    assert ask("broken.my-ns.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN
    # the search path's first tries (ndots:5) for an outside name end in NXDOMAIN, not a forward
    assert ask("example.com.my-ns.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN
    assert lines(ask("cluster.local.", "SOA").answer) == [SOA_LINE]


def test_case_is_kept_in_the_answer() -> None:
    assert lines(ask("My-Svc.MY-NS.svc.cluster.local.").answer) == ["My-Svc.MY-NS.svc.cluster.local. 5 IN A 10.0.0.42"]


def test_ptr_for_cluster_ip_and_forward_for_others() -> None:
    assert lines(ask("42.0.0.10.in-addr.arpa.", "PTR").answer) == ["42.0.0.10.in-addr.arpa. 5 IN PTR my-svc.my-ns.svc.cluster.local."]
    assert resolver.resolve(INDEX, dns.message.make_query("1.1.168.192.in-addr.arpa.", "PTR"), S, SERIAL).forward
    assert resolver.resolve(INDEX, dns.message.make_query("example.com.", "A"), S, SERIAL).forward


def test_non_query_opcode_is_notimp() -> None:
    q = dns.message.make_query("my-svc.my-ns.svc.cluster.local.", "A")
    q.set_opcode(dns.opcode.UPDATE)
    r = resolver.resolve(INDEX, q, S, SERIAL).response
    assert r is not None and r.rcode() == dns.rcode.NOTIMP
