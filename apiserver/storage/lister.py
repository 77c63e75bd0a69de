"""An in-memory copy of the objects authentication, authorization and admission read; pure.

Why: those decisions run on every request and must not cost a store round trip each, and the cores
(`apiserver.authn`, `apiserver.authz`, `apiserver.admission`) take their state through small synchronous
interfaces. This one class implements all of them over the same dicts:

- admission `State`: ``get(resource, namespace, name)`` / ``list(resource, namespace)``
- RBAC `RBACLister` (with ClusterRole aggregation computed on read, the aggregation controller's job)
- Node authorizer `PodsByNode`
- the service account authenticator's ``lookup(resource, namespace, name)``

The informer adapter (`apiserver.storage.informer`) feeds it from list + watch; the registry also feeds it each
object it has just written, so a request sees the effect of the previous one (read-your-writes on this server).
Every change carries the store revision it was made at; an older revision never overwrites a newer one, so the
two feeds may arrive in any order.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from apiserver.authz.rbac import aggregate_all

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)


class Lister:
    def __init__(self, resources: Iterable[str]) -> None:
        self.objects: dict[str, dict[Key, Obj]] = {r: {} for r in resources}
        # Revision of the last change seen per object, kept for deletions too (tombstones) so a late replay of an
        # older put cannot resurrect a deleted object.
        self.revisions: dict[str, dict[Key, int]] = {r: {} for r in resources}
        self._pods_by_node: dict[str, dict[Key, Obj]] = {}
        self._aggregated: dict[str, list[Obj]] | None = None

    # ------------------------------------------------------------------ feeding
    def tracks(self, resource: str) -> bool:
        return resource in self.objects

    def apply(self, resource: str, namespace: str, name: str, obj: Obj | None, revision: int) -> bool:
        """Records ``obj`` (None: deleted) as of ``revision``; returns False when it is older than what is held."""
        if resource not in self.objects:
            return False
        key = (namespace, name)
        if self.revisions[resource].get(key, 0) > revision:
            return False
        self.revisions[resource][key] = revision
        old = self.objects[resource].pop(key, None)
        if obj is not None:
            self.objects[resource][key] = obj
        if resource == "pods":
            self._index_pod(key, old, obj)
        if resource == "clusterroles":
            self._aggregated = None
        return True

    def replace(self, resource: str, items: list[tuple[str, str, Obj, int]]) -> None:
        """A fresh list: (namespace, name, object, mod_revision) for everything that exists now."""
        present = {(ns, name) for ns, name, _, _ in items}
        for key in list(self.objects.get(resource, {})):
            if key not in present:
                self.apply(resource, key[0], key[1], None, self.revisions[resource].get(key, 0))
        for ns, name, obj, rev in items:
            self.apply(resource, ns, name, obj, rev)

    def _index_pod(self, key: Key, old: Obj | None, new: Obj | None) -> None:
        if old is not None:
            node = (old.get("spec") or {}).get("nodeName") or ""
            self._pods_by_node.get(node, {}).pop(key, None)
        if new is not None:
            node = (new.get("spec") or {}).get("nodeName") or ""
            self._pods_by_node.setdefault(node, {})[key] = new

    # ------------------------------------------------------------------ admission State
    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get(resource, {}).get((namespace, name))

    def list(self, resource: str, namespace: str) -> builtins.list[Obj]:
        objs = self.objects.get(resource, {})
        if not namespace:
            return list(objs.values())
        return [o for (ns, _), o in list(objs.items()) if ns == namespace]

    def lookup(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The service account authenticator's view (pods, secrets, serviceaccounts)."""
        return self.get(resource, namespace, name)

    # ------------------------------------------------------------------ RBACLister
    def get_role(self, namespace: str, name: str) -> Obj | None:
        return self.get("roles", namespace, name)

    def get_cluster_role(self, name: str) -> Obj | None:
        role = self.get("clusterroles", "", name)
        if role is None or not role.get("aggregationRule"):
            return role
        if self._aggregated is None:
            # Recomputed only after a ClusterRole changed; to a fixed point, as aggregated roles feed each other.
            self._aggregated = {r["metadata"]["name"]: list(r.get("rules") or [])
                                for r in aggregate_all(self.list("clusterroles", "")) if r.get("aggregationRule")}
        return {**role, "rules": self._aggregated.get(name, [])}

    def list_role_bindings(self, namespace: str) -> builtins.list[Obj]:
        return self.list("rolebindings", namespace)

    def list_cluster_role_bindings(self) -> builtins.list[Obj]:
        return self.list("clusterrolebindings", "")

    def list_cluster_roles(self) -> builtins.list[Obj]:
        return [r for r in (self.get_cluster_role(n) for _, n in list(self.objects.get("clusterroles", {})))
                if r is not None]

    # ------------------------------------------------------------------ PodsByNode
    def pods_on_node(self, node: str) -> builtins.list[Obj]:
        if not node:
            return []
        return list(self._pods_by_node.get(node, {}).values())

    def pv_for_claim(self, namespace: str, claim: str) -> str | None:
        pvc = self.get("persistentvolumeclaims", namespace, claim)
        if pvc is None:
            return None
        return ((pvc.get("spec") or {}).get("volumeName")) or None
