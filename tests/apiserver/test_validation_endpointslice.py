"""EndpointSlice validation as kube-apiserver 1.32's (pkg/apis/discovery/validation): whole cause lists."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.validation.other import endpoint_slice, non_special_ip

pytestmark = pytest.mark.unit
Obj = dict[str, Any]


def es(address_type: str = "IPv4", endpoints: list[Obj] | None = None, ports: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": address_type,
            "endpoints": [{"addresses": ["10.244.0.5"]}] if endpoints is None else endpoints,
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}] if ports is None else ports}


def addr(*a: str, **more: Any) -> list[Obj]:
    return [{"addresses": list(a), **more}]


IPV4 = "must be a valid IPv4 address"
CASES: list[tuple[str, Obj, list[tuple[str, str]]]] = [
    ("valid", es(), []),
    ("valid sloppy ipv4 and mapped", es(endpoints=addr("010.1.2.3", "::ffff:10.1.2.3")), []),
    ("valid ipv6", es("IPv6", addr("fd00::5", "2001:db8::1")), []),
    ("valid fqdn", es("FQDN", addr("a.example.com", "b.example.")), []),
    ("bad ipv4", es(endpoints=addr("10.244.0.999")),
     [("endpoints[0].addresses[0]", f'Invalid value: "10.244.0.999": {IPV4}')]),
    ("ipv6 in an ipv4 slice", es(endpoints=addr("fd00::1")),
     [("endpoints[0].addresses[0]", f'Invalid value: "fd00::1": {IPV4}')]),
    ("bad ipv6", es("IPv6", addr("zz::1", "10.1.2.3", "fe80::1%eth0")), [
        ("endpoints[0].addresses[0]", 'Invalid value: "zz::1": must be a valid IPv6 address'),
        ("endpoints[0].addresses[1]", 'Invalid value: "10.1.2.3": must be a valid IPv6 address'),
        ("endpoints[0].addresses[2]", 'Invalid value: "fe80::1%eth0": must be a valid IPv6 address')]),
    ("bad fqdn", es("FQDN", addr("Foo.example", "localhost", "")), [
        ("endpoints[0].addresses[0]", 'Invalid value: "Foo.example": a lowercase RFC 1123 subdomain must consist '
         "of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
         "(e.g. 'example.com', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ("endpoints[0].addresses[1]", 'Invalid value: "localhost": should be a domain with at least two segments '
                                      "separated by dots"),
        ("endpoints[0].addresses[2]", "Required value")]),
    ("no addresses", es(endpoints=[{"addresses": []}]),
     [("endpoints[0].addresses", "Required value: must contain at least 1 address")]),
    ("101 addresses", es(endpoints=addr(*[f"10.0.{i // 250}.{i % 250 + 1}" for i in range(101)])),
     [("endpoints[0].addresses", "Too many: 101: must have at most 100 items")]),
    ("100 addresses", es(endpoints=addr(*[f"10.0.{i // 250}.{i % 250 + 1}" for i in range(100)])), []),
    ("1001 endpoints", es(endpoints=[{"addresses": ["10.0.0.1"]}] * 1001),
     [("endpoints", "Too many: 1001: must have at most 1000 items")]),
    ("node name and zone", es(endpoints=addr("10.0.0.1", nodeName="Node_1", zone="a b")), [
        ("endpoints[0].nodeName", 'Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist of lower '
         "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
         "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
         "[a-z0-9])?)*')"),
        ("endpoints[0].zone", 'Invalid value: "a b": a valid label must be an empty string or consist of '
         "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
         "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
         "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")]),
    ("zone in deprecatedTopology", es(endpoints=addr("10.0.0.1", deprecatedTopology={
        "topology.kubernetes.io/zone": "a"})),
     [("endpoints[0].deprecatedTopology[topology.kubernetes.io/zone]",
       "Internal error: reserved key, use zone instead")]),
    ("duplicate zone hints", es(endpoints=addr("10.0.0.1", hints={"forZones": [{"name": "a"}, {"name": "a"}]})),
     [("endpoints[0].hints.forZones[1].name", 'Duplicate value: "a"')]),
    ("ports", es(ports=[{"name": "HTTP", "port": 80, "protocol": "TCP"}, {"name": "h", "protocol": "ICMP"},
                        {"name": "h", "protocol": "UDP", "appProtocol": "a/b/c"}, {"name": "x"}]), [
        ("ports[0].name", 'Invalid value: "HTTP": a lowercase RFC 1123 label must consist of lower case '
         "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
         "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
        ("ports[1].protocol", 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
        ("ports[2].name", 'Duplicate value: "h"'),
        ("ports[2].appProtocol", "Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric "
         "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
         "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with "
         "an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
        ("ports[3].protocol", "Required value")]),
    ("port numbers are not range-checked", es(ports=[{"name": "", "port": 0, "protocol": "TCP"}]), []),
    ("unknown addressType validates no address", es("IPv5", addr("nonsense")),
     [("addressType", 'Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"')]),
]


@pytest.mark.parametrize(("name", "obj", "want"), CASES, ids=[c[0] for c in CASES])
def test_endpoint_slice(name: str, obj: Obj, want: list[tuple[str, str]]) -> None:
    assert [(c.field, c.message) for c in endpoint_slice(obj)] == want


def test_non_special_ip_as_kube_words_it() -> None:
    """ValidateNonSpecialIP (not applied to slices yet: see SPECIAL_IPS_REFUSED)."""
    got = [(c.field, c.message) for ip in ("127.0.0.1", "0.0.0.0", "169.254.1.1", "224.0.0.5", "::1", "zz", "10.1.2.3")
           for c in non_special_ip(ip, "a")]
    assert got == [
        ("a", 'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'),
        ("a", 'Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'),
        ("a", 'Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'),
        ("a", 'Invalid value: "224.0.0.5": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'),
        ("a", 'Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)'),
        ("a", 'Invalid value: "zz": must be a valid IP address')]
