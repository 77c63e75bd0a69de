"""NodeRestriction: a kubelet may change only its own Node, its own Lease and pods bound to it, may create only
mirror pods bound to itself, and may not set ``node-restriction.kubernetes.io/`` labels on its Node."""

from __future__ import annotations

from typing import Any

from apiserver.admission.service_account import MIRROR_POD_ANNOTATION
from apiserver.admission.types import Attributes, Operation, Plugin, forbidden
from apiserver.authz.node import NODE_LEASE_NAMESPACE, node_name

Obj = dict[str, Any]
RESTRICTED_LABEL_DOMAIN = "node-restriction.kubernetes.io/"


def _meta(obj: Obj | None) -> Obj:
    return (obj or {}).get("metadata") or {}


class NodeRestriction(Plugin):
    name = "NodeRestriction"
    validating = True

    def validate(self, attrs: Attributes) -> None:
        node = node_name(attrs.user)
        if node is None:
            return
        if attrs.api_group == "" and attrs.resource == "pods":
            self._pod(node, attrs)
        elif attrs.api_group == "" and attrs.resource == "nodes":
            self._node(node, attrs)
        elif attrs.api_group == "coordination.k8s.io" and attrs.resource == "leases":
            name = attrs.name or _meta(attrs.object).get("name", "")
            if attrs.namespace != NODE_LEASE_NAMESPACE or name != node:
                raise forbidden(attrs, "can only access node lease with the same name as the requesting node")

    def _pod(self, node: str, attrs: Attributes) -> None:
        if attrs.subresource == "" and attrs.operation == Operation.CREATE:
            pod = attrs.object or {}
            if MIRROR_POD_ANNOTATION not in (_meta(pod).get("annotations") or {}):
                raise forbidden(attrs, f'pod does not have "{MIRROR_POD_ANNOTATION}" annotation, node "{node}" '
                                       f"can only create mirror pods")
            if (pod.get("spec") or {}).get("nodeName") != node:
                raise forbidden(attrs, f'node "{node}" can only create pods with spec.nodeName set to itself')
            return
        bound_node = ((attrs.old_object or attrs.object or {}).get("spec") or {}).get("nodeName")
        if attrs.operation == Operation.DELETE and attrs.subresource == "":
            existing = self.state.get("pods", attrs.namespace, attrs.name)
            bound_node = ((existing or {}).get("spec") or {}).get("nodeName")
            if bound_node != node:
                raise forbidden(attrs, f'node "{node}" can only delete pods with spec.nodeName set to itself')
            return
        if attrs.subresource == "status" and attrs.operation == Operation.UPDATE:
            if bound_node != node:
                raise forbidden(attrs, f'node "{node}" can only update pod status for pods with spec.nodeName '
                                       f"set to itself")
            return
        if attrs.subresource == "eviction":
            existing = self.state.get("pods", attrs.namespace, attrs.name)
            if ((existing or {}).get("spec") or {}).get("nodeName") != node:
                raise forbidden(attrs, f'node "{node}" can only evict pods with spec.nodeName set to itself')
            return
        if attrs.subresource == "" and attrs.operation != Operation.DELETE:
            raise forbidden(attrs, f'unexpected operation "{attrs.operation.value}", node "{node}" can only '
                                   f"create and delete mirror pods")
        if attrs.subresource:
            raise forbidden(attrs, f'unexpected subresource "{attrs.subresource}", node "{node}" may not '
                                   f"{attrs.operation.value.lower()} it")

    def _node(self, node: str, attrs: Attributes) -> None:
        name = attrs.name or _meta(attrs.object).get("name", "")
        if name != node:
            raise forbidden(attrs, f'node "{node}" is not allowed to modify node "{name}"')
        if attrs.operation not in (Operation.CREATE, Operation.UPDATE):
            return
        new = _meta(attrs.object).get("labels") or {}
        old = _meta(attrs.old_object).get("labels") or {}
        changed = sorted(k for k in set(new) | set(old)
                         if new.get(k) != old.get(k) and _restricted(k))
        if changed:
            verb = "set" if attrs.operation == Operation.CREATE else "modify"
            raise forbidden(attrs, f'node "{node}" is not allowed to {verb} the following labels: '
                                   f"{', '.join(changed)}")


def _restricted(label: str) -> bool:
    prefix = label.split("/", 1)[0] + "/" if "/" in label else ""
    return prefix == RESTRICTED_LABEL_DOMAIN or prefix.endswith("." + RESTRICTED_LABEL_DOMAIN)
