"""NamespaceLifecycle: no new content in a missing or terminating namespace; the immortal namespaces stay."""

from __future__ import annotations

from apiserver.admission.types import Attributes, NotFound, Operation, Plugin, forbidden

IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
# Virtual resources that are namespaced in the URL but create nothing (access reviews).
EXEMPT_RESOURCES = frozenset({("authorization.k8s.io", "localsubjectaccessreviews"),
                              ("authentication.k8s.io", "tokenreviews")})


class NamespaceLifecycle(Plugin):
    name = "NamespaceLifecycle"
    validating = True

    def validate(self, attrs: Attributes) -> None:
        if attrs.operation == Operation.DELETE and attrs.is_core("namespaces") and attrs.name in IMMORTAL_NAMESPACES:
            raise forbidden(attrs, "this namespace may not be deleted")
        if not attrs.namespace or attrs.is_core("namespaces"):
            return
        if (attrs.api_group, attrs.resource) in EXEMPT_RESOURCES:
            return
        ns = self.state.get("namespaces", "", attrs.namespace)
        if ns is None:
            # Deletes and updates of content in a vanished namespace are allowed so it can be cleaned up.
            if attrs.operation == Operation.CREATE:
                raise NotFound(f'namespaces "{attrs.namespace}" not found',
                               details={"name": attrs.namespace, "kind": "namespaces"})
            return
        if attrs.operation != Operation.CREATE:
            return
        if (ns.get("status") or {}).get("phase") == "Terminating" or (ns.get("metadata") or {}).get(
                "deletionTimestamp"):
            err = forbidden(attrs, f"unable to create new content in namespace {attrs.namespace} because it is "
                                   f"being terminated",
                            [{"reason": "NamespaceTerminating",
                              "message": f"namespace {attrs.namespace} is being terminated",
                              "field": "metadata.namespace"}])
            raise err
