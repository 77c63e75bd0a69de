"""The Node authorizer: a kubelet (user ``system:node:<name>``, group ``system:nodes``) may read what the pods bound
to it need and write only its own Node, its own Lease and the status of its own pods.

The pod graph arrives through ``PodsByNode``: the pods whose ``spec.nodeName`` is the node, plus PVC → PV lookups.
Anything this authorizer does not decide goes on to RBAC (NO_OPINION), like the real one.
"""

from __future__ import annotations

from typing import Any, Protocol

from apiserver.authn.types import UserInfo
from apiserver.authz.types import Attributes, Decision

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
NODE_LEASE_NAMESPACE = "kube-node-lease"
Obj = dict[str, Any]


class PodsByNode(Protocol):
    def pods_on_node(self, node: str) -> list[Obj]: ...
    def pv_for_claim(self, namespace: str, claim: str) -> str | None: ...


class DictPodGraph:
    def __init__(self, pods: list[Obj], pvc_to_pv: dict[tuple[str, str], str] | None = None) -> None:
        self.pods = pods
        self.pvc_to_pv = pvc_to_pv or {}

    def pods_on_node(self, node: str) -> list[Obj]:
        return [p for p in self.pods if (p.get("spec") or {}).get("nodeName") == node]

    def pv_for_claim(self, namespace: str, claim: str) -> str | None:
        return self.pvc_to_pv.get((namespace, claim))


def node_name(user: UserInfo) -> str | None:
    """The node a kubelet identity speaks for, or None when the user is not a node."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    name = user.name[len(NODE_PREFIX):]
    return name or None


def pod_references(pod: Obj) -> dict[str, set[str]]:
    """Names of secrets, configmaps, PVCs and the service account a pod uses (volumes, env, envFrom, pull secrets)."""
    spec = pod.get("spec") or {}
    refs: dict[str, set[str]] = {"secrets": set(), "configmaps": set(), "persistentvolumeclaims": set(),
                                 "serviceaccounts": set()}
    refs["serviceaccounts"].add(spec.get("serviceAccountName") or "default")
    for ps in spec.get("imagePullSecrets") or []:
        refs["secrets"].add(ps.get("name", ""))
    for vol in spec.get("volumes") or []:
        if "secret" in vol:
            refs["secrets"].add(vol["secret"].get("secretName", ""))
        if "configMap" in vol:
            refs["configmaps"].add(vol["configMap"].get("name", ""))
        if "persistentVolumeClaim" in vol:
            refs["persistentvolumeclaims"].add(vol["persistentVolumeClaim"].get("claimName", ""))
        for src in (vol.get("projected") or {}).get("sources") or []:
            if "secret" in src:
                refs["secrets"].add(src["secret"].get("name", ""))
            if "configMap" in src:
                refs["configmaps"].add(src["configMap"].get("name", ""))
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) + (
            spec.get("ephemeralContainers") or []):
        for env in c.get("env") or []:
            vf = env.get("valueFrom") or {}
            if "secretKeyRef" in vf:
                refs["secrets"].add(vf["secretKeyRef"].get("name", ""))
            if "configMapKeyRef" in vf:
                refs["configmaps"].add(vf["configMapKeyRef"].get("name", ""))
        for ef in c.get("envFrom") or []:
            if "secretRef" in ef:
                refs["secrets"].add(ef["secretRef"].get("name", ""))
            if "configMapRef" in ef:
                refs["configmaps"].add(ef["configMapRef"].get("name", ""))
    return refs


class NodeAuthorizer:
    def __init__(self, graph: PodsByNode) -> None:
        self.graph = graph

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        node = node_name(attrs.user)
        if node is None:
            return Decision.NO_OPINION, ""
        if not attrs.is_resource_request:
            return Decision.NO_OPINION, ""
        key = (attrs.api_group, attrs.resource)
        if key in (("", "secrets"), ("", "configmaps"), ("", "persistentvolumeclaims"), ("", "persistentvolumes")):
            return self._referenced_object(node, attrs)
        if key == ("", "serviceaccounts") and attrs.subresource == "token" and attrs.verb == "create":
            return self._referenced_object(node, attrs)
        if key == ("", "nodes"):
            return self._node(node, attrs)
        if key == ("", "pods"):
            return self._pod(node, attrs)
        if key == ("coordination.k8s.io", "leases"):
            if attrs.namespace != NODE_LEASE_NAMESPACE:
                return Decision.NO_OPINION, "node leases live only in kube-node-lease"
            if attrs.verb == "create" or attrs.name == node:
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, f"node '{node}' cannot access lease '{attrs.name}'"
        if key in (("", "events"), ("events.k8s.io", "events")) and attrs.verb in ("create", "update", "patch"):
            return Decision.ALLOW, ""
        if key in (("", "services"), ("", "endpoints"), ("discovery.k8s.io", "endpointslices")) and attrs.is_read_only:
            return Decision.ALLOW, ""
        if key in (("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "subjectaccessreviews"),
                   ("authorization.k8s.io", "localsubjectaccessreviews")) and attrs.verb == "create":
            return Decision.ALLOW, ""  # the kubelet's webhook authentication and authorization (kube's NodeRules)
        if key == ("certificates.k8s.io", "certificatesigningrequests") and attrs.verb in (
                "create", "get", "list", "watch"):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _referenced_object(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        kind = attrs.resource
        if attrs.verb not in ("get", "create") or not attrs.name or (attrs.verb == "create") != (
                attrs.subresource == "token"):
            return Decision.NO_OPINION, "can only get individual resources of this type"
        for pod in self.graph.pods_on_node(node):
            ns = (pod.get("metadata") or {}).get("namespace", "")
            refs = pod_references(pod)
            if kind == "persistentvolumes":
                pvs = {self.graph.pv_for_claim(ns, c) for c in refs["persistentvolumeclaims"]}
                if attrs.name in pvs:
                    return Decision.ALLOW, ""
                continue
            if ns == attrs.namespace and attrs.name in refs.get(kind, set()):
                return Decision.ALLOW, ""
        singular = {"secrets": "secret", "configmaps": "configmap", "persistentvolumeclaims": "persistentvolumeclaim",
                    "persistentvolumes": "persistentvolume", "serviceaccounts": "serviceaccount"}[kind]
        where = f"{attrs.namespace}/{attrs.name}" if attrs.namespace else attrs.name
        return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object ({singular} {where})"

    def _node(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.is_read_only:
            return Decision.ALLOW, ""
        if attrs.verb == "create" and attrs.subresource == "":
            return Decision.ALLOW, ""  # NodeRestriction admission checks the created node's name
        if attrs.verb in ("update", "patch") and attrs.subresource in ("", "status") and attrs.name == node:
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, f"node '{node}' cannot modify node '{attrs.name}'"

    def _pod(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.is_read_only and attrs.subresource == "":
            return Decision.ALLOW, ""
        if attrs.verb == "create" and attrs.subresource in ("", "eviction"):
            return Decision.ALLOW, ""  # mirror pods; NodeRestriction admission checks the binding
        bound = any((p.get("metadata") or {}).get("namespace") == attrs.namespace
                    and (p.get("metadata") or {}).get("name") == attrs.name for p in self.graph.pods_on_node(node))
        if attrs.verb in ("update", "patch") and attrs.subresource == "status" and bound:
            return Decision.ALLOW, ""
        if attrs.verb == "delete" and attrs.subresource == "" and bound:
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, f"node '{node}' can only modify pods bound to it"
