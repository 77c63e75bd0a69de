"""Service ClusterIP and NodePort allocation as kube-apiserver 1.32 does it by default (the bitmap allocators of
`pkg/registry/core/service/{ipallocator,portallocator}`), as pure functions.

Each range's state is one RangeAllocation object in the store (`/registry/ranges/serviceips`,
`/registry/ranges/servicenodeports`): `range` is the flag's value and `data` a bitmap, bit i = offset i, stored as
the big-endian bytes of that integer (Go's `big.Int.Bytes()`). The adapter (`service_alloc.py`) reads the objects,
calls `plan_create` / `plan_update` / `plan_release`, and writes the changed bitmaps in the same etcd Txn as the
Service, guarded on their mod_revisions: two API servers can never hand out one address, and a failed write leaks
nothing.

Dynamic picks are random, first from the upper part of the range: its lower band (16 addresses of a /24, 86 ports of
30000-32767) is kept for the addresses and ports users choose themselves, as KEP-3070/3668 do.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from apiserver import errors
from apiserver.errors import Cause

DEFAULT_SERVICE_CIDR = "10.0.0.0/24"
DEFAULT_NODE_PORT_RANGE = "30000-32767"
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
SERVICE_IPS_KEY = "/registry/ranges/serviceips"
NODE_PORTS_KEY = "/registry/ranges/servicenodeports"


class RandomSource(Protocol):
    def randrange(self, start: int, stop: int | None = ..., step: int = ...) -> int: ...


def _band(size: int, lowest: int, highest: int, step: int) -> int:
    """The size of the statically-allocated lower band: min(max(lowest, size/step), highest)."""
    if size <= lowest:
        return 0
    return max(lowest, min(highest, size // step))


@dataclass(frozen=True)
class IPRange:
    """An IPv4 service CIDR; offsets skip the network and broadcast addresses, so offset 0 is the first host."""

    spec: str
    base: int  # the integer of the first usable address
    size: int
    band: int

    @classmethod
    def parse(cls, text: str) -> IPRange:
        try:
            net = ipaddress.ip_network(text.strip(), strict=True)
        except ValueError as e:
            raise ValueError(f"--service-cluster-ip-range {text!r}: {e}") from e
        if net.version != 4:
            raise ValueError(f"--service-cluster-ip-range {text!r}: only IPv4 single-stack is supported")
        if net.prefixlen > 30:
            raise ValueError(f"--service-cluster-ip-range {text!r}: the range is too small (at most /30)")
        total = net.num_addresses
        return cls(str(net), int(net.network_address) + 1, total - 2, _band(total, 16, 256, 16))

    def offset(self, ip: str) -> int | None:
        try:
            n = int(ipaddress.IPv4Address(ip))
        except ValueError:
            return None
        off = n - self.base
        return off if 0 <= off < self.size else None

    def ip(self, offset: int) -> str:
        return str(ipaddress.IPv4Address(self.base + offset))

    @property
    def first(self) -> str:
        """The `kubernetes` Service's address."""
        return self.ip(0)


@dataclass(frozen=True)
class PortRange:
    spec: str
    base: int
    size: int
    band: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """`30000-32767`, `30000+2767` (base+size) or a single port, as kube's net.ParsePortRange reads them."""
        t = text.strip()
        try:
            if "-" in t:
                lo, hi = (int(x) for x in t.split("-", 1))
            elif "+" in t:
                lo, extra = (int(x) for x in t.split("+", 1))
                hi = lo + extra
            else:
                lo = hi = int(t)
        except ValueError as e:
            raise ValueError(f"--service-node-port-range {text!r}: not a port range") from e
        if not 0 < lo <= hi <= 65535:
            raise ValueError(f"--service-node-port-range {text!r}: not a port range")
        size = hi - lo + 1
        return cls(f"{lo}-{hi}", lo, size, _band(size, 16, 128, 32))


def decode_bits(data: str) -> int:
    return int.from_bytes(base64.b64decode(data), "big") if data else 0


def encode_bits(bits: int) -> str:
    return base64.b64encode(bits.to_bytes((bits.bit_length() + 7) // 8, "big")).decode() if bits else ""


def range_object(spec: str, bits: int) -> bytes:
    """The stored RangeAllocation (kube-apiserver writes the same fields, as protobuf)."""
    obj = {"kind": "RangeAllocation", "apiVersion": "v1", "metadata": {"creationTimestamp": None},
           "range": spec, "data": encode_bits(bits)}
    return json.dumps(obj, separators=(",", ":")).encode()


def read_range(raw: bytes | None, spec: str) -> int:
    """The allocated bits of a stored RangeAllocation; a missing object, or one for another range (the flag
    changed), reads as empty — the start-up repair (`repaired`) refills it from the Services."""
    if not raw:
        return 0
    try:
        obj = json.loads(raw)
    except ValueError:
        return 0
    if not isinstance(obj, dict) or obj.get("range") != spec:
        return 0
    try:
        return decode_bits(str(obj.get("data") or ""))
    except ValueError:
        return 0


def pick(bits: int, size: int, band: int, rng: RandomSource) -> int | None:
    """A random free offset, from [band, size) first, then from the band; None when the range is full. From a
    random start the scan goes forward and wraps (kube's randomScanStrategyWithOffset); it runs over the bitmap as
    a string, so a nearly full /12 (a million bits) is one pass, not a big-int shift per probe."""
    text = ""
    for lo, hi in ((band, size), (0, band)):
        if hi <= lo:
            continue
        start = lo + rng.randrange(hi - lo)
        if not bits >> start & 1:
            return start
        text = text or format(bits, "b")[::-1].ljust(size, "0")  # text[i] is bit i
        at = text.find("0", start, hi)
        if at < 0:
            at = text.find("0", lo, start)
        if at >= 0:
            return at
    return None


# ------------------------------------------------------------------ what a Service holds
def _spec(svc: dict[str, Any]) -> dict[str, Any]:
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def _type(svc: dict[str, Any] | None) -> str:
    return str(_spec(svc).get("type") or "ClusterIP") if svc else ""


def wants_node_ports(svc: dict[str, Any]) -> bool:
    return _type(svc) in ("NodePort", "LoadBalancer")


def _allocates_new_node_ports(svc: dict[str, Any]) -> bool:
    """shouldAllocateNodePorts: a LoadBalancer may opt out with allocateLoadBalancerNodePorts=false."""
    if _type(svc) == "NodePort":
        return True
    return _type(svc) == "LoadBalancer" and _spec(svc).get("allocateLoadBalancerNodePorts") is not False


def held_ips(svc: dict[str, Any] | None) -> list[str]:
    if not svc or _type(svc) == "ExternalName":
        return []
    spec = _spec(svc)
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [str(ip) for ip in ips if ip and ip != "None"]


def _ints(values: list[Any]) -> list[int]:
    return sorted({int(p) for p in values if isinstance(p, int) and not isinstance(p, bool) and p})


def _node_ports(svc: dict[str, Any] | None) -> list[int]:
    return _ints([p.get("nodePort") for p in _spec(svc).get("ports") or [] if isinstance(p, dict)]) if svc else []


def held_ports(svc: dict[str, Any] | None) -> list[int]:
    """The node ports a stored Service holds: its ports' and, when it needs one, its health check port."""
    if not svc:
        return []
    held = _node_ports(svc) if wants_node_ports(svc) else []
    if needs_health_check(svc):
        held += _ints([_spec(svc).get("healthCheckNodePort")])
    return sorted(set(held))


# ------------------------------------------------------------------ plans
@dataclass
class Ranges:
    """The two ranges and their bitmaps as read (the plan functions return changed copies)."""

    ips: IPRange
    ports: PortRange
    ip_bits: int = 0
    port_bits: int = 0


@dataclass
class Plan:
    ip_bits: int
    port_bits: int
    changed_ips: bool = False
    changed_ports: bool = False
    causes: list[Cause] = field(default_factory=list)


def _invalid(path: str, shown: Any, detail: str) -> Cause:
    """A field error whose value is already printed as Go prints it (`[]string{...}`) or is a number."""
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", path)


def _go_strings(values: list[Any]) -> str:
    return "[]string{" + ", ".join(json.dumps(str(v)) for v in values) + "}"


def _name(svc: dict[str, Any]) -> str:
    return str((svc.get("metadata") or {}).get("name") or "")


def init_ip_families(svc: dict[str, Any], old: dict[str, Any] | None) -> None:
    """initIPFamilyFields for a single-stack IPv4 cluster: ipFamilyPolicy (kept from the old object, else
    RequireDualStack for headless selectorless Services, else SingleStack), ipFamilies, and clusterIP/clusterIPs
    made consistent."""
    if _type(svc) == "ExternalName":
        return
    spec = svc.setdefault("spec", {})
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    elif spec.get("clusterIPs") and not spec.get("clusterIP"):
        spec["clusterIP"] = spec["clusterIPs"][0]
    headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
    if not spec.get("ipFamilyPolicy"):
        old_policy = _spec(old).get("ipFamilyPolicy") if old else None
        spec["ipFamilyPolicy"] = old_policy or ("RequireDualStack" if headless_selectorless else "SingleStack")
    policy = spec["ipFamilyPolicy"]
    causes: list[Cause] = []
    if policy not in IP_FAMILY_POLICIES:
        allowed = ", ".join(json.dumps(p) for p in IP_FAMILY_POLICIES)
        raise errors.invalid("Service", "", _name(svc), [Cause(
            "FieldValueNotSupported", f"Unsupported value: {json.dumps(policy)}: supported values: {allowed}",
            "spec.ipFamilyPolicy")])
    if policy == "SingleStack":
        for key, what in (("clusterIPs", "cluster IPs"), ("ipFamilies", "IP families")):
            if isinstance(spec.get(key), list) and len(spec[key]) == 2:
                causes.append(_invalid("spec.ipFamilyPolicy", json.dumps(policy), "must be 'RequireDualStack' or "
                                       f"'PreferDualStack' when multiple {what} are specified"))
    if causes:
        raise errors.invalid("Service", "", _name(svc), causes)
    if headless_selectorless:  # allowed any families, even on a single-stack cluster
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"] + (["IPv6"] if policy != "SingleStack" else [])
        return
    if policy == "RequireDualStack":
        causes.append(_invalid("spec.ipFamilyPolicy", json.dumps(policy),
                               "this cluster is not configured for dual-stack services"))
    for i, family in enumerate(spec.get("ipFamilies") or []):
        if family != "IPv4":
            causes.append(_invalid(f"spec.ipFamilies[{i}]", json.dumps(family), "not configured on this cluster"))
    if causes:
        raise errors.invalid("Service", "", _name(svc), causes)
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv4"]


def _claim_ip(svc: dict[str, Any], r: Ranges, plan: Plan, rng: RandomSource) -> None:
    spec = svc["spec"]
    ip = str(spec.get("clusterIP") or "")
    if ip == "None":
        return
    if not ip:
        off = pick(plan.ip_bits, r.ips.size, r.ips.band, rng)
        if off is None:
            raise errors.internal("failed to allocate a serviceIP: range is full")
        ip = r.ips.ip(off)
    else:
        off = r.ips.offset(ip)
        shown = _go_strings(spec.get("clusterIPs") or [ip])
        if off is None:
            plan.causes.append(_invalid("spec.clusterIPs", shown, f"failed to allocate IP {ip}: provided IP is not "
                                       f"in the valid range. The range of valid IPs is {r.ips.spec}"))
            return
        if plan.ip_bits >> off & 1:
            plan.causes.append(_invalid("spec.clusterIPs", shown,
                                       f"failed to allocate IP {ip}: provided IP is already allocated"))
            return
    plan.ip_bits |= 1 << off
    plan.changed_ips = True
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]


def _claim_port(port: int, path: str, r: Ranges, plan: Plan) -> bool:
    off = port - r.ports.base
    if not 0 <= off < r.ports.size:
        plan.causes.append(_invalid(path, port, "provided port is not in the valid range. The range of valid ports "
                                   f"is {r.ports.spec}"))
        return False
    if plan.port_bits >> off & 1:
        plan.causes.append(_invalid(path, port, "provided port is already allocated"))
        return False
    plan.port_bits |= 1 << off
    plan.changed_ports = True
    return True


def _claim_node_ports(svc: dict[str, Any], keep: set[int], r: Ranges, plan: Plan, rng: RandomSource) -> None:
    """initNodePorts/updateNodePorts: a requested nodePort is claimed (unless the old object held it), a missing
    one is picked; service ports with the same number share one node port."""
    by_port: dict[Any, int] = {}
    ports = [p for p in _spec(svc).get("ports") or [] if isinstance(p, dict)]
    for p in ports:
        if p.get("nodePort"):
            by_port.setdefault(p.get("port"), p["nodePort"])
    claimed: set[int] = set()
    for i, p in enumerate(ports):
        np = p.get("nodePort")
        if not np:
            if not _allocates_new_node_ports(svc):
                continue
            np = by_port.get(p.get("port"))
            if np is None:
                off = pick(plan.port_bits, r.ports.size, r.ports.band, rng)
                if off is None:
                    raise errors.internal("failed to allocate a nodePort: range is full")
                np = r.ports.base + off
                plan.port_bits |= 1 << off
                plan.changed_ports = True
                claimed.add(np)
                by_port[p.get("port")] = np
            p["nodePort"] = np
            continue
        if not isinstance(np, int) or isinstance(np, bool) or np in keep or np in claimed:
            continue
        if _claim_port(np, f"spec.ports[{i}].nodePort", r, plan):
            claimed.add(np)


def _release(plan: Plan, r: Ranges, ips: list[str], ports: list[int]) -> None:
    for ip in ips:
        off = r.ips.offset(ip)
        if off is not None and plan.ip_bits >> off & 1:
            plan.ip_bits &= ~(1 << off)
            plan.changed_ips = True
    for port in ports:
        off = port - r.ports.base
        if 0 <= off < r.ports.size and plan.port_bits >> off & 1:
            plan.port_bits &= ~(1 << off)
            plan.changed_ports = True


def _raise(svc: dict[str, Any], plan: Plan) -> None:
    if plan.causes:
        raise errors.invalid("Service", "", _name(svc), plan.causes)


def needs_health_check(svc: dict[str, Any] | None) -> bool:
    """A LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort (apiservice.NeedsHealthCheck)."""
    return svc is not None and _type(svc) == "LoadBalancer" and _spec(svc).get("externalTrafficPolicy") == "Local"


def _claim_health_check_port(svc: dict[str, Any], r: Ranges, plan: Plan, rng: RandomSource) -> None:
    spec = svc["spec"]
    port = spec.get("healthCheckNodePort")
    if port:
        off = port - r.ports.base if isinstance(port, int) and not isinstance(port, bool) else -1
        if not 0 <= off < r.ports.size or plan.port_bits >> off & 1:
            why = "provided port is already allocated" if 0 <= off < r.ports.size else (
                f"provided port is not in the valid range. The range of valid ports is {r.ports.spec}")
            raise errors.internal(f"failed to allocate requested HealthCheck NodePort {port}: {why}")
    else:
        picked = pick(plan.port_bits, r.ports.size, r.ports.band, rng)
        if picked is None:
            raise errors.internal("failed to allocate a HealthCheck NodePort 0: range is full")
        off = picked
        spec["healthCheckNodePort"] = r.ports.base + off
    plan.port_bits |= 1 << off
    plan.changed_ports = True


def plan_create(svc: dict[str, Any], r: Ranges, rng: RandomSource) -> Plan:
    """Fills `svc` (ipFamilies, clusterIP(s), nodePorts) and returns the bitmaps with its claims; 422 for a
    requested address or port that is taken or out of range."""
    plan = Plan(r.ip_bits, r.port_bits)
    init_ip_families(svc, None)
    if _type(svc) != "ExternalName":
        _claim_ip(svc, r, plan, rng)
    if wants_node_ports(svc):
        _claim_node_ports(svc, set(), r, plan, rng)
    _raise(svc, plan)
    if needs_health_check(svc):
        _claim_health_check_port(svc, r, plan, rng)
    return plan


def plan_update(new: dict[str, Any], old: dict[str, Any], r: Ranges, rng: RandomSource) -> Plan:
    """Type changes: to ExternalName releases the addresses, from it allocates them; leaving NodePort/LoadBalancer
    releases the node ports, and node ports no longer used are released, new ones claimed."""
    plan = Plan(r.ip_bits, r.port_bits)
    init_ip_families(new, old)
    old_type, new_type = _type(old), _type(new)
    if old_type == "ExternalName" and new_type != "ExternalName":
        _claim_ip(new, r, plan, rng)
    elif old_type != "ExternalName" and new_type == "ExternalName":
        _release(plan, r, held_ips(old), [])
        spec = new.setdefault("spec", {})
        for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(k, None)
    old_ports = _node_ports(old) if wants_node_ports(old) else []
    if wants_node_ports(new):
        _claim_node_ports(new, set(old_ports), r, plan, rng)
        _release(plan, r, [], [p for p in old_ports if p not in _node_ports(new)])
    else:
        _release(plan, r, [], old_ports)
        for p in _spec(new).get("ports") or []:
            if isinstance(p, dict):
                p.pop("nodePort", None)
    _raise(new, plan)
    old_hc = _spec(old).get("healthCheckNodePort") if needs_health_check(old) else None
    if needs_health_check(new):
        if not old_hc:
            _claim_health_check_port(new, r, plan, rng)
        elif _spec(new).get("healthCheckNodePort") in (None, 0):
            new["spec"]["healthCheckNodePort"] = old_hc
    elif old_hc:
        _release(plan, r, [], [old_hc])
        new.setdefault("spec", {}).pop("healthCheckNodePort", None)
    return plan


def plan_release(old: dict[str, Any], r: Ranges) -> Plan:
    """What a deleted Service gives back."""
    plan = Plan(r.ip_bits, r.port_bits)
    _release(plan, r, held_ips(old), held_ports(old))
    return plan


def rebuilt(services: list[dict[str, Any]], r: Ranges) -> Plan:
    """kube's repair controllers: the bitmaps rebuilt from what the stored Services hold (an address no Service
    holds is reclaimed). Safe only when `r` was read before `services` was listed and the result is written
    guarded on the revisions `r` was read at: any allocation or release in between moves the bitmap first."""
    plan = Plan(0, 0)
    for svc in services:
        for ip in held_ips(svc):
            off = r.ips.offset(ip)
            if off is not None:
                plan.ip_bits |= 1 << off
        for port in held_ports(svc):
            off = port - r.ports.base
            if 0 <= off < r.ports.size:
                plan.port_bits |= 1 << off
    plan.changed_ips = plan.ip_bits != r.ip_bits
    plan.changed_ports = plan.port_bits != r.port_bits
    return plan
