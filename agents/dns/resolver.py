"""One DNS question + the cluster index → the answer CoreDNS's kubernetes plugin gives, or "forward it".

Pure: dnspython messages in and out, no sockets, no clock (the SOA serial is passed in). The names and records
follow the Kubernetes DNS specification as CoreDNS implements it with kubeadm's Corefile
(`kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure; fallthrough in-addr.arpa ip6.arpa; ttl 5 }`):
services, headless backends, SRV, ExternalName CNAMEs, pod names, PTR for ClusterIPs, NXDOMAIN/NODATA with the zone's
SOA. Names outside the zone are for the forwarder.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from agents.dns.records import Index, Service

A, AAAA, SRV, CNAME, SOA, NS, PTR, ANY = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.SRV,
                                          dns.rdatatype.CNAME, dns.rdatatype.SOA, dns.rdatatype.NS,
                                          dns.rdatatype.PTR, dns.rdatatype.ANY)
IN = dns.rdataclass.IN
REVERSE_ZONES = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."))


@dataclass(frozen=True)
class Settings:
    zone: str = "cluster.local."
    ttl: int = 5
    dns_ip: str = "10.0.0.10"  # the kube-dns ClusterIP, the A record of ns.dns.<zone>


@dataclass
class Result:
    response: dns.message.Message | None  # None: forward the query upstream
    forward: bool = False


def _rr(owner: dns.name.Name, ttl: int, rtype: dns.rdatatype.RdataType, text: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(owner, ttl, IN, rtype, text)


def soa(settings: Settings, serial: int) -> dns.rrset.RRset:
    """CoreDNS's SOA for the zone: ns.dns.<zone> hostmaster.<zone> serial 7200 1800 86400 ttl."""
    z = settings.zone
    return _rr(dns.name.from_text(z), settings.ttl, SOA,
               f"ns.dns.{z} hostmaster.{z} {serial % 2**32} 7200 1800 86400 {settings.ttl}")


def resolve(index: Index, query: dns.message.Message, settings: Settings, serial: int) -> Result:
    if query.opcode() != dns.opcode.QUERY:
        r = dns.message.make_response(query)
        r.set_rcode(dns.rcode.NOTIMP)
        return Result(r)
    if len(query.question) != 1:
        r = dns.message.make_response(query)
        r.set_rcode(dns.rcode.FORMERR)
        return Result(r)
    q = query.question[0]
    zone = dns.name.from_text(settings.zone)
    if q.name.is_subdomain(zone):
        return Result(_in_zone(index, query, settings, serial, zone))
    if any(q.name.is_subdomain(z) for z in REVERSE_ZONES):
        ptr = _reverse(index, query, settings)
        if ptr is not None:
            return Result(ptr)
    return Result(None, forward=True)


def _response(query: dns.message.Message) -> dns.message.Message:
    r = dns.message.make_response(query)
    r.flags |= dns.flags.AA
    return r


def _negative(r: dns.message.Message, settings: Settings, serial: int, nxdomain: bool) -> dns.message.Message:
    if nxdomain:
        r.set_rcode(dns.rcode.NXDOMAIN)
    r.authority.append(soa(settings, serial))
    return r


def _addresses(owner: dns.name.Name, ips: list[str], qtype: int, ttl: int) -> list[dns.rrset.RRset]:
    want = [ip for ip in ips if (":" in ip) == (qtype == AAAA)]
    if qtype not in (A, AAAA, ANY) or not want:
        return []
    out: dict[int, dns.rrset.RRset] = {}
    for ip in ips if qtype == ANY else want:
        t = AAAA if ":" in ip else A
        rrset = out.get(t)
        if rrset is None:
            rrset = out[t] = dns.rrset.RRset(owner, IN, t)
            rrset.update_ttl(ttl)
        rrset.add(dns.rdata.from_text(IN, t, ip))
    return list(out.values())


def _in_zone(index: Index, query: dns.message.Message, settings: Settings, serial: int,
             zone: dns.name.Name) -> dns.message.Message:
    q = query.question[0]
    owner, qtype, ttl = q.name, q.rdtype, settings.ttl
    r = _response(query)
    labels = [lb.decode("ascii", "replace").lower() for lb in q.name.relativize(zone).labels] \
        if q.name != zone else []
    if not labels:
        if qtype in (SOA, ANY):
            r.answer.append(soa(settings, serial))
        elif qtype == NS:
            ns = f"ns.dns.{settings.zone}"
            r.answer.append(_rr(owner, ttl, NS, ns))
            r.additional.append(_rr(dns.name.from_text(ns), ttl, A, settings.dns_ip))
        else:
            return _negative(r, settings, serial, False)
        return r
    kind = labels[-1]
    if kind == "svc":
        return _service_name(index, r, labels[:-1], qtype, settings, serial, zone)
    if kind == "pod":
        return _pod_name(index, r, labels[:-1], qtype, settings, serial)
    if labels == ["ns", "dns"] and qtype in (A, ANY):
        r.answer.append(_rr(owner, ttl, A, settings.dns_ip))
        return r
    return _negative(r, settings, serial, labels not in (["dns"], ["ns", "dns"]))


def _service_name(index: Index, r: dns.message.Message, labels: list[str], qtype: int, settings: Settings,
                  serial: int, zone: dns.name.Name) -> dns.message.Message:
    owner, ttl = r.question[0].name, settings.ttl
    if not labels:
        return _negative(r, settings, serial, False)
    if len(labels) == 1:
        return _negative(r, settings, serial, labels[0] not in index.namespaces)
    ns, name = labels[-1], labels[-2]
    svc = index.services.get((ns, name))
    rest = labels[:-2]
    if svc is None or len(rest) > 2:
        return _negative(r, settings, serial, True)
    svc_name = dns.name.from_text(f"{name}.{ns}.svc", zone)
    if svc.external_name:
        if rest:
            return _negative(r, settings, serial, True)
        r.answer.append(_rr(owner, ttl, CNAME, svc.external_name))
        return r
    if len(rest) == 2:  # _port._proto.svc.ns.svc.<zone>
        pname, proto = rest
        if not (pname.startswith("_") and proto.startswith("_")):
            return _negative(r, settings, serial, True)
        ports = [p for p in (svc.backend_ports if svc.headless else svc.ports)
                 if p.name == pname[1:] and p.protocol == proto[1:]]
        if not ports or (svc.headless and not svc.backends):
            return _negative(r, settings, serial, True)
        return _srv(r, svc, svc_name, ports, qtype, settings, serial)
    if len(rest) == 1:  # hostname.svc.ns.svc.<zone>: a headless backend
        backends = [b for b in svc.backends if b.label == rest[0]]
        if not backends:
            return _negative(r, settings, serial, True)
        answers = _addresses(owner, [b.ip for b in backends], qtype, ttl)
        r.answer.extend(answers)
        return r if answers else _negative(r, settings, serial, False)
    if qtype == SRV:
        named = [p for p in (svc.backend_ports if svc.headless else svc.ports)]
        if not named or (svc.headless and not svc.backends):
            return _negative(r, settings, serial, False)
        return _srv(r, svc, svc_name, named, qtype, settings, serial)
    ips = list(svc.cluster_ips) if not svc.headless else [b.ip for b in svc.backends]
    if svc.headless and not ips:
        return _negative(r, settings, serial, True)
    answers = _addresses(owner, ips, qtype, ttl)
    r.answer.extend(answers)
    return r if answers else _negative(r, settings, serial, False)


def _srv(r: dns.message.Message, svc: Service, svc_name: dns.name.Name, ports: list, qtype: int,
         settings: Settings, serial: int) -> dns.message.Message:
    """SRV 0 <weight> port target: the service name for a ClusterIP service, each backend's name if headless."""
    owner, ttl = r.question[0].name, settings.ttl
    if qtype not in (SRV, ANY):
        ips = list(svc.cluster_ips) or [b.ip for b in svc.backends]
        answers = _addresses(owner, ips, qtype, ttl)
        r.answer.extend(answers)
        return r if answers else _negative(r, settings, serial, False)
    targets = [(svc_name, list(svc.cluster_ips))] if not svc.headless else \
        [(dns.name.Name((b.label.encode(),)).concatenate(svc_name), [b.ip]) for b in svc.backends]
    count = len(targets) * len(ports)
    weight = 100 // count if count else 0
    rrset = dns.rrset.RRset(owner, IN, SRV)
    rrset.update_ttl(ttl)
    for port in ports:
        for target, _ in targets:
            rrset.add(dns.rdata.from_text(IN, SRV, f"0 {weight} {port.port} {target}"))
    r.answer.append(rrset)
    for target, ips in targets:
        r.additional.extend(_addresses(target, ips, A, ttl) + _addresses(target, ips, AAAA, ttl))
    return r


def _pod_name(index: Index, r: dns.message.Message, labels: list[str], qtype: int, settings: Settings,
              serial: int) -> dns.message.Message:
    """a-b-c-d.<ns>.pod.<zone> → a.b.c.d ("pods insecure": the address is not checked against a pod)."""
    if len(labels) != 2:
        return _negative(r, settings, serial, len(labels) != 1 or labels[0] not in index.namespaces)
    text = labels[0]
    try:
        ip = str(ipaddress.ip_address(text.replace("-", ".") if text.count("-") == 3 else text.replace("-", ":")))
    except ValueError:
        return _negative(r, settings, serial, True)
    answers = _addresses(r.question[0].name, [ip], qtype, settings.ttl)
    r.answer.extend(answers)
    return r if answers else _negative(r, settings, serial, False)


def _reverse(index: Index, query: dns.message.Message, settings: Settings) -> dns.message.Message | None:
    """PTR for a ClusterIP (svc.ns.svc.<zone>); other reverse names fall through to the forwarder."""
    q = query.question[0]
    try:
        ip = str(dns.reversename.to_address(q.name))
    except Exception:  # noqa: BLE001 - any malformed reverse name is simply not ours
        return None
    svc = index.by_cluster_ip.get(ip)
    if svc is None:
        return None
    r = _response(query)
    if q.rdtype in (PTR, ANY):
        r.answer.append(_rr(q.name, settings.ttl, PTR, f"{svc.name}.{svc.namespace}.svc.{settings.zone}"))
    return r
