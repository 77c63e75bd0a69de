"""RBAC: Role/ClusterRole rules reached through bindings, the escalation check, and ClusterRole aggregation.

Objects are plain rbac.authorization.k8s.io/v1 dicts read through an ``RBACLister``; nothing here touches storage.
There are no deny rules, so the authorizer answers ALLOW or NO_OPINION, never DENY.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from apiserver.authn.serviceaccount import service_account_username
from apiserver.authn.types import UserInfo
from apiserver.authz.types import Attributes, Decision

RBAC_GROUP = "rbac.authorization.k8s.io"
Obj = dict[str, Any]


class RBACLister(Protocol):
    def get_role(self, namespace: str, name: str) -> Obj | None: ...
    def get_cluster_role(self, name: str) -> Obj | None: ...
    def list_role_bindings(self, namespace: str) -> list[Obj]: ...
    def list_cluster_role_bindings(self) -> list[Obj]: ...
    def list_cluster_roles(self) -> list[Obj]: ...


class DictLister:
    """An RBACLister over in-memory object lists (tests, and the watch-cache adapter's snapshot)."""

    def __init__(self, objects: Iterable[Obj] = ()) -> None:
        self.roles: dict[tuple[str, str], Obj] = {}
        self.cluster_roles: dict[str, Obj] = {}
        self.role_bindings: dict[str, list[Obj]] = {}
        self.cluster_role_bindings: list[Obj] = []
        for obj in objects:
            self.add(obj)

    def add(self, obj: Obj) -> None:
        kind, meta = obj.get("kind"), obj.get("metadata") or {}
        if kind == "Role":
            self.roles[(meta.get("namespace", ""), meta["name"])] = obj
        elif kind == "ClusterRole":
            self.cluster_roles[meta["name"]] = obj
        elif kind == "RoleBinding":
            self.role_bindings.setdefault(meta.get("namespace", ""), []).append(obj)
        elif kind == "ClusterRoleBinding":
            self.cluster_role_bindings.append(obj)
        else:
            raise ValueError(f"DictLister does not hold kind {kind!r}")

    def get_role(self, namespace: str, name: str) -> Obj | None:
        return self.roles.get((namespace, name))

    def get_cluster_role(self, name: str) -> Obj | None:
        return self.cluster_roles.get(name)

    def list_role_bindings(self, namespace: str) -> list[Obj]:
        return list(self.role_bindings.get(namespace, []))

    def list_cluster_role_bindings(self) -> list[Obj]:
        return list(self.cluster_role_bindings)

    def list_cluster_roles(self) -> list[Obj]:
        return list(self.cluster_roles.values())


# --- rule matching ---------------------------------------------------------------------------------------------

def _verb_matches(rule: Obj, verb: str) -> bool:
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def _group_matches(rule: Obj, group: str) -> bool:
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def _resource_matches(rule: Obj, resource: str, subresource: str) -> bool:
    resources = rule.get("resources") or []
    if "*" in resources:
        return True
    combined = f"{resource}/{subresource}" if subresource else resource
    if combined in resources:
        return True
    return bool(subresource) and f"*/{subresource}" in resources


def _name_matches(rule: Obj, name: str) -> bool:
    names = rule.get("resourceNames") or []
    return not names or name in names


def _url_matches(rule: Obj, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Obj) -> bool:
    if attrs.is_resource_request:
        return (_verb_matches(rule, attrs.verb) and _group_matches(rule, attrs.api_group)
                and _resource_matches(rule, attrs.resource, attrs.subresource) and _name_matches(rule, attrs.name))
    return _verb_matches(rule, attrs.verb) and _url_matches(rule, attrs.path)


# --- subjects and rule resolution ------------------------------------------------------------------------------

def subject_matches(subject: Obj, user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return bool(ns) and user.name == service_account_username(ns, name)
    return False


@dataclass(frozen=True)
class BoundRules:
    """Rules that apply to a user, with where they came from (for reasons and rules reviews)."""

    source: str
    rules: tuple[Obj, ...]


class RuleResolver:
    def __init__(self, lister: RBACLister) -> None:
        self.lister = lister

    def _role_rules(self, ref: Obj, namespace: str) -> tuple[Obj, ...] | None:
        kind, name = ref.get("kind"), ref.get("name", "")
        role = self.lister.get_cluster_role(name) if kind == "ClusterRole" else (
            self.lister.get_role(namespace, name) if kind == "Role" else None)
        if role is None:
            return None
        return tuple(role.get("rules") or [])

    def visit(self, user: UserInfo, namespace: str) -> Iterator[BoundRules]:
        """Yields the rules granted to ``user`` cluster-wide and, when ``namespace`` is set, in that namespace."""
        for crb in self.lister.list_cluster_role_bindings():
            if any(subject_matches(s, user, "") for s in crb.get("subjects") or []):
                rules = self._role_rules(crb.get("roleRef") or {}, "")
                if rules is not None:
                    yield BoundRules(f'ClusterRoleBinding "{crb["metadata"]["name"]}"', rules)
        if not namespace:
            return
        for rb in self.lister.list_role_bindings(namespace):
            if any(subject_matches(s, user, namespace) for s in rb.get("subjects") or []):
                rules = self._role_rules(rb.get("roleRef") or {}, namespace)
                if rules is not None:
                    yield BoundRules(f'RoleBinding "{rb["metadata"]["name"]}" of namespace "{namespace}"', rules)

    def rules_for(self, user: UserInfo, namespace: str) -> list[Obj]:
        return [rule for bound in self.visit(user, namespace) for rule in bound.rules]


class RBACAuthorizer:
    def __init__(self, lister: RBACLister) -> None:
        self.resolver = RuleResolver(lister)

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        for bound in self.resolver.visit(attrs.user, attrs.namespace):
            if any(rule_allows(attrs, rule) for rule in bound.rules):
                return Decision.ALLOW, f"RBAC: allowed by {bound.source}"
        return Decision.NO_OPINION, ""


# --- aggregation -----------------------------------------------------------------------------------------------

def label_selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    """metav1.LabelSelector: matchLabels AND matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown label selector operator {op!r}")
    return True


def aggregate_rules(target: Obj, cluster_roles: Iterable[Obj]) -> list[Obj]:
    """The rules the aggregation controller would write into ``target``: every rule of every ClusterRole whose
    labels match one of the target's aggregationRule selectors, de-duplicated, in name order."""
    rule = target.get("aggregationRule") or {}
    selectors = rule.get("clusterRoleSelectors") or []
    out: list[Obj] = []
    name = (target.get("metadata") or {}).get("name")
    for role in sorted(cluster_roles, key=lambda r: r["metadata"]["name"]):
        if role["metadata"]["name"] == name:
            continue
        labels = role["metadata"].get("labels") or {}
        if any(label_selector_matches(sel, labels) for sel in selectors):
            for r in role.get("rules") or []:
                if r not in out:
                    out.append(r)
    return out


def aggregate_all(cluster_roles: list[Obj]) -> list[Obj]:
    """Fills in every aggregated ClusterRole (to a fixed point, since aggregated roles may feed each other)."""
    roles = {r["metadata"]["name"]: dict(r) for r in cluster_roles}
    for _ in range(len(roles) + 1):
        changed = False
        for name, role in roles.items():
            if role.get("aggregationRule"):
                new = aggregate_rules(role, roles.values())
                if new != role.get("rules"):
                    roles[name] = {**role, "rules": new}
                    changed = True
        if not changed:
            break
    return list(roles.values())


# --- escalation prevention -------------------------------------------------------------------------------------

def _atoms(rule: Obj) -> Iterator[Obj]:
    """Breaks a rule into single-verb, single-group, single-resource, single-name rules."""
    verbs = rule.get("verbs") or []
    if rule.get("nonResourceURLs"):
        for url in rule["nonResourceURLs"]:
            for verb in verbs:
                yield {"verbs": [verb], "nonResourceURLs": [url]}
        return
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in verbs:
                names = rule.get("resourceNames") or []
                for name in names or [None]:
                    atom: Obj = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                    if name is not None:
                        atom["resourceNames"] = [name]
                    yield atom


def _covers_atom(owner: Obj, atom: Obj) -> bool:
    if not _verb_matches(owner, atom["verbs"][0]):
        return False
    if "nonResourceURLs" in atom:
        url = atom["nonResourceURLs"][0]
        for own in owner.get("nonResourceURLs") or []:
            if own == "*" or own == url or (own.endswith("*") and url.startswith(own[:-1])):
                return True
        return False
    if owner.get("nonResourceURLs") and not owner.get("resources"):
        return False
    if not _group_matches(owner, atom["apiGroups"][0]):
        return False
    res = atom["resources"][0]
    owned = owner.get("resources") or []
    if not ("*" in owned or res in owned or ("/" in res and "*/" + res.split("/", 1)[1] in owned)):
        return False
    names = owner.get("resourceNames") or []
    if not names:
        return True
    return bool(atom.get("resourceNames")) and atom["resourceNames"][0] in names


def uncovered_rules(owner_rules: list[Obj], requested: list[Obj]) -> list[Obj]:
    """The atomic rules in ``requested`` that no owner rule covers (empty means no escalation)."""
    return [atom for rule in requested for atom in _atoms(rule)
            if not any(_covers_atom(own, atom) for own in owner_rules)]


def _fmt_list(values: list[str]) -> str:
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def compact_rule(rule: Obj) -> str:
    """A rule as kube-apiserver prints it in escalation errors, e.g. ``{APIGroups:[""], Resources:["pods"], ...}``."""
    parts = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"), ("resourceNames", "ResourceNames"),
                       ("nonResourceURLs", "NonResourceURLs"), ("verbs", "Verbs")):
        if rule.get(key):
            parts.append(f"{label}:{_fmt_list(rule[key])}")
    return "{" + ", ".join(parts) + "}"


def compact_atoms(atoms: list[Obj]) -> list[Obj]:
    """Merges atomic rules that differ only in verb, as kube-apiserver does before printing missing rights."""
    merged: dict[tuple[Any, ...], Obj] = {}
    for atom in atoms:
        key = (tuple(atom.get("apiGroups") or []), tuple(atom.get("resources") or []),
               tuple(atom.get("resourceNames") or []), tuple(atom.get("nonResourceURLs") or []))
        if key in merged:
            if atom["verbs"][0] not in merged[key]["verbs"]:
                merged[key]["verbs"].append(atom["verbs"][0])
        else:
            merged[key] = {**atom, "verbs": list(atom["verbs"])}
    return list(merged.values())


class EscalationError(Exception):
    """Raised by the escalation check; the registry maps it to 403 Forbidden on the Role or Binding."""

    http_code = 403
    reason = "Forbidden"


def confirm_no_escalation(user: UserInfo, rules: list[Obj], namespace: str, resolver: RuleResolver) -> None:
    if "system:masters" in user.groups:
        return
    missing = uncovered_rules(resolver.rules_for(user, namespace), rules)
    if missing:
        listed = "\n".join(sorted({compact_rule(r) for r in compact_atoms(missing)}))
        raise EscalationError(f'user "{user.name}" (groups={_fmt_list(list(user.groups))}) is attempting to grant '
                              f"RBAC permissions not currently held:\n{listed}")


def check_role_write(user: UserInfo, role: Obj, authorizer: RBACAuthorizer) -> None:
    """Create/update of a Role or ClusterRole: allowed if the user holds every rule, or has ``escalate``."""
    kind = role.get("kind")
    resource = "clusterroles" if kind == "ClusterRole" else "roles"
    meta = role.get("metadata") or {}
    namespace = meta.get("namespace", "") if kind == "Role" else ""
    attrs = Attributes(user, "escalate", RBAC_GROUP, resource, "", namespace, meta.get("name", ""))
    if authorizer.authorize(attrs)[0] == Decision.ALLOW:
        return
    confirm_no_escalation(user, list(role.get("rules") or []), namespace, authorizer.resolver)


def check_binding_write(user: UserInfo, binding: Obj, authorizer: RBACAuthorizer) -> None:
    """Create/update of a RoleBinding or ClusterRoleBinding: allowed if the user has ``bind`` on the referenced role,
    or already holds every rule of it."""
    meta = binding.get("metadata") or {}
    namespace = meta.get("namespace", "") if binding.get("kind") == "RoleBinding" else ""
    ref = binding.get("roleRef") or {}
    resource = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
    attrs = Attributes(user, "bind", RBAC_GROUP, resource, "", namespace, ref.get("name", ""))
    if authorizer.authorize(attrs)[0] == Decision.ALLOW:
        return
    rules = authorizer.resolver._role_rules(ref, namespace)
    if rules is None:
        raise EscalationError(f'{resource}.{RBAC_GROUP} "{ref.get("name", "")}" not found')
    confirm_no_escalation(user, list(rules), namespace, authorizer.resolver)
