"""rbac.authorization.k8s.io, coordination.k8s.io and discovery.k8s.io validation; pure."""

from __future__ import annotations

from typing import Any

from apiserver.errors import Cause
from apiserver.validation import names
from apiserver.validation.field import (
    as_dict,
    as_list,
    invalid,
    nonnegative,
    not_supported,
    one_of,
    positive,
    required,
)

RBAC_GROUP = "rbac.authorization.k8s.io"


def rules(obj: dict[str, Any], *, namespaced: bool) -> list[Cause]:
    """PolicyRules of a Role or ClusterRole (an aggregated ClusterRole's rules are filled by its controller)."""
    causes: list[Cause] = []
    for i, rule in enumerate(as_list(obj.get("rules"))):
        p = f"rules[{i}]"
        rule = as_dict(rule)
        if not rule.get("verbs"):
            causes.append(required(f"{p}.verbs", "verbs must contain at least one value"))
        urls = rule.get("nonResourceURLs")
        if urls:
            if namespaced:
                causes.append(invalid(f"{p}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource "
                                      "URLs"))
            if rule.get("apiGroups") or rule.get("resources"):
                causes.append(invalid(f"{p}.nonResourceURLs", urls, "rules cannot apply to both regular resources "
                                      "and non-resource URLs"))
            continue
        if not rule.get("apiGroups"):
            causes.append(required(f"{p}.apiGroups", "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            causes.append(required(f"{p}.resources", "resource rules must supply at least one resource"))
    return causes


def binding(obj: dict[str, Any], *, cluster: bool) -> list[Cause]:
    ref = as_dict(obj.get("roleRef"))
    causes: list[Cause] = []
    if ref.get("apiGroup") != RBAC_GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", (RBAC_GROUP,)))
    kinds = ("ClusterRole",) if cluster else ("Role", "ClusterRole")
    if ref.get("kind") not in kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    if not ref.get("name"):
        causes.append(required("roleRef.name"))
    elif ref["name"] in (".", "..") or "/" in ref["name"] or "%" in ref["name"]:
        causes.append(invalid("roleRef.name", ref["name"], "may not contain '/' or '%'"))
    for i, s in enumerate(as_list(obj.get("subjects"))):
        p = f"subjects[{i}]"
        s = as_dict(s)
        if not s.get("name"):
            causes.append(required(f"{p}.name"))
        kind = s.get("kind")
        if kind == "ServiceAccount":
            if s.get("apiGroup"):
                causes.append(not_supported(f"{p}.apiGroup", s["apiGroup"], ("",)))
            if s.get("name"):
                causes += [invalid(f"{p}.name", s["name"], m) for m in names.dns1123_subdomain(str(s["name"]))]
            if cluster and not s.get("namespace"):
                causes.append(required(f"{p}.namespace"))
        elif kind in ("User", "Group"):
            if s.get("apiGroup") != RBAC_GROUP:
                causes.append(not_supported(f"{p}.apiGroup", s.get("apiGroup") or "", (RBAC_GROUP,)))
        else:
            causes.append(not_supported(f"{p}.kind", kind or "", ("ServiceAccount", "User", "Group")))
    return causes


def _go_role_ref(ref: Any) -> str:
    ref = as_dict(ref)
    return (f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup") or ""}", Kind:"{ref.get("kind") or ""}", '
            f'Name:"{ref.get("name") or ""}"}}')


def binding_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    if as_dict(new.get("roleRef")) != as_dict(old.get("roleRef")):
        # The real message shows the Go value of the new roleRef (field.Invalid with a rbac.RoleRef).
        return [Cause("FieldValueInvalid", f"Invalid value: {_go_role_ref(new.get('roleRef'))}: cannot change roleRef",
                      "roleRef")]
    return []


def lease(obj: dict[str, Any]) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = positive(spec, "leaseDurationSeconds", "spec") + nonnegative(spec, "leaseTransitions", "spec")
    if spec.get("preferredHolder") and not spec.get("strategy"):
        causes.append(required("spec.strategy", "must be specified when preferredHolder is set"))
    return causes


ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
MAX_ENDPOINTS, MAX_PORTS, MAX_ADDRESSES = 1000, 20000, 100


def endpoint_slice(obj: dict[str, Any]) -> list[Cause]:
    address_type = obj.get("addressType")
    causes = one_of(obj, "addressType", "", ADDRESS_TYPES, required_=True)
    for i, ep in enumerate(as_list(obj.get("endpoints"))):
        p = f"endpoints[{i}]"
        addresses = as_list(as_dict(ep).get("addresses"))
        if not addresses:
            causes.append(required(f"{p}.addresses", "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            causes.append(Cause("FieldValueTooMany", f"Too many: {len(addresses)}: must have at most "
                                f"{MAX_ADDRESSES} items", f"{p}.addresses"))
        for j, addr in enumerate(addresses):
            ap = f"{p}.addresses[{j}]"
            if address_type in ("IPv4", "IPv6"):
                causes += [invalid(ap, addr, m) for m in names.ip_address(str(addr), address_type)]
            elif address_type == "FQDN":
                causes += [invalid(ap, addr, m) for m in names.dns1123_subdomain(str(addr))]
    seen: set[str] = set()
    for i, port in enumerate(as_list(obj.get("ports"))):
        p = f"ports[{i}]"
        port = as_dict(port)
        name = port.get("name") or ""
        if name:
            causes += [invalid(f"{p}.name", name, m) for m in names.dns1123_label(str(name))]
        if name in seen:
            causes.append(Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{p}.name"))
        seen.add(name)
        number = port.get("port")
        if isinstance(number, int) and not isinstance(number, bool):
            causes += [invalid(f"{p}.port", number, m) for m in names.port_number(number)]
        causes += one_of(port, "protocol", p, ("SCTP", "TCP", "UDP"))
    return causes


def endpoint_slice_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    if new.get("addressType") != old.get("addressType"):
        return [invalid("addressType", new.get("addressType"), "field is immutable")]
    return []
