"""Per-resource strategies (k8s `rest.RESTCreateStrategy` & co.): defaults, validation, selectable fields.

The generic store calls these hooks and nothing else knows about a resource's shape. Pure.
"""

from __future__ import annotations

from typing import Any

from apiserver.errors import Cause
from apiserver.selectors import selector_from_spec


class Strategy:
    """Default strategy: no spec defaults, metadata-only validation, metadata.name/namespace fields."""

    tracks_generation = False
    has_status = False
    name_is_label = False
    name_is_path_segment = False
    extra_fields: frozenset[str] = frozenset()

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        if self.has_status:
            obj.pop("status", None)

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """The main endpoint ignores .status when a status subresource exists (and vice versa)."""
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        for k in list(new):
            if k not in ("status", "metadata", "apiVersion", "kind"):
                new.pop(k)
        for k, v in old.items():
            if k not in ("status", "metadata", "apiVersion", "kind"):
                new[k] = v
        new["metadata"] = {**old["metadata"], "resourceVersion": new.get("metadata", {}).get("resourceVersion")}

    def default(self, obj: dict[str, Any]) -> None:
        pass

    def check_delete(self, obj: dict[str, Any]) -> str:
        """A reason the object may not be deleted (403 Forbidden), or "" to allow it."""
        return ""

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return []

    def supports_field(self, field: str) -> bool:
        return field in ("metadata.name", "metadata.namespace") or field in self.extra_fields

    def fields(self, obj: dict[str, Any]) -> dict[str, str]:
        md = obj.get("metadata", {})
        out = {"metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", "")}
        for f in self.extra_fields:
            cur: Any = obj
            for part in f.split("."):
                cur = cur.get(part) if isinstance(cur, dict) else None
            out[f] = "" if cur is None else (str(cur).lower() if isinstance(cur, bool) else str(cur))
        return out


def _default_container(c: dict[str, Any]) -> None:
    image = str(c.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(c, dict):
            _default_container(c)


def validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return [Cause("FieldValueRequired", "Required value", path)]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [Cause("FieldValueRequired", "Required value", f"{path}.containers")]
    causes = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        p = f"{path}.containers[{i}]"
        if not isinstance(c, dict):
            causes.append(Cause("FieldValueInvalid", "Invalid value: must be an object", p))
            continue
        if not c.get("name"):
            causes.append(Cause("FieldValueRequired", "Required value", f"{p}.name"))
        elif c["name"] in seen:
            causes.append(Cause("FieldValueDuplicate", f'Duplicate value: "{c["name"]}"', f"{p}.name"))
        else:
            seen.add(c["name"])
        if not c.get("image"):
            causes.append(Cause("FieldValueRequired", "Required value", f"{p}.image"))
    return causes


class PodStrategy(Strategy):
    has_status = True
    extra_fields = frozenset({"spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
                              "spec.serviceAccountName", "spec.hostNetwork", "status.podIP",
                              "status.nominatedNodeName"})

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            default_pod_spec(spec)
            spec.setdefault("serviceAccountName", "default")

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return validate_pod_spec(obj.get("spec"), "spec")

    def fields(self, obj: dict[str, Any]) -> dict[str, str]:
        out = super().fields(obj)
        if out["spec.hostNetwork"] == "":
            out["spec.hostNetwork"] = "false"
        return out


class WorkloadStrategy(Strategy):
    """Deployments and ReplicaSets: generation tracking, selector must match the template."""

    tracks_generation = True
    has_status = True
    extra_fields = frozenset({"status.replicas"})

    def __init__(self, deployment: bool) -> None:
        self.deployment = deployment

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("replicas", 1)
        if self.deployment:
            strategy = spec.setdefault("strategy", {})
            if isinstance(strategy, dict):
                strategy.setdefault("type", "RollingUpdate")
                if strategy["type"] == "RollingUpdate":
                    strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        tpl = spec.get("template")
        if isinstance(tpl, dict):
            tpl.setdefault("metadata", {}).setdefault("creationTimestamp", None)
            if isinstance(tpl.get("spec"), dict):
                default_pod_spec(tpl["spec"])

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        causes: list[Cause] = []
        replicas = spec.get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {replicas!r}: must be greater than or "
                                "equal to 0", "spec.replicas"))
        sel = spec.get("selector")
        tpl = spec.get("template")
        if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
            causes.append(Cause("FieldValueRequired", "Required value", "spec.selector"))
        elif isinstance(tpl, dict):
            labels = (tpl.get("metadata") or {}).get("labels") or {}
            if not selector_from_spec(sel).matches(labels):
                causes.append(Cause("FieldValueInvalid", "Invalid value: selector does not match template labels",
                                    "spec.template.metadata.labels"))
        if not isinstance(tpl, dict):
            causes.append(Cause("FieldValueRequired", "Required value", "spec.template"))
        else:
            causes += validate_pod_spec(tpl.get("spec"), "spec.template.spec")
        return causes


class ServiceStrategy(Strategy):
    has_status = True
    name_is_label = True

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"loadBalancer": {}}

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                if "port" in p:
                    p.setdefault("targetPort", p["port"])

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        causes = []
        for i, p in enumerate((obj.get("spec") or {}).get("ports") or []):
            port = p.get("port") if isinstance(p, dict) else None
            if not isinstance(port, int) or not 0 < port < 65536:
                causes.append(Cause("FieldValueInvalid", f"Invalid value: {port!r}: must be between 1 and "
                                    "65535, inclusive", f"spec.ports[{i}].port"))
        return causes


IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


class NamespaceStrategy(Strategy):
    has_status = True
    name_is_label = True
    extra_fields = frozenset({"status.phase"})

    def check_delete(self, obj: dict[str, Any]) -> str:
        if obj.get("metadata", {}).get("name") in IMMORTAL_NAMESPACES:
            return "this namespace may not be deleted"
        return ""

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Active"}

    def default(self, obj: dict[str, Any]) -> None:
        md = obj.setdefault("metadata", {})
        if md.get("name"):
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]


class NodeStrategy(Strategy):
    has_status = True
    extra_fields = frozenset({"spec.unschedulable"})


class SecretStrategy(Strategy):
    extra_fields = frozenset({"type"})

    def default(self, obj: dict[str, Any]) -> None:
        obj.setdefault("type", "Opaque")


class EventStrategy(Strategy):
    extra_fields = frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                              "involvedObject.fieldPath", "reason", "type", "source", "reportingComponent"})


class RBACStrategy(Strategy):
    """Roles and bindings: names are path segments; a binding's roleRef is required."""

    name_is_path_segment = True

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        kind = obj.get("kind", "")
        if not kind.endswith("Binding"):
            return []
        ref = obj.get("roleRef")
        if not isinstance(ref, dict) or not ref.get("name") or ref.get("kind") not in ("Role", "ClusterRole"):
            return [Cause("FieldValueRequired", "Required value: roleRef.kind must be Role or ClusterRole and "
                          "roleRef.name is required", "roleRef")]
        if kind == "ClusterRoleBinding" and ref.get("kind") != "ClusterRole":
            return [Cause("FieldValueNotSupported", 'Unsupported value: "Role": supported values: "ClusterRole"',
                          "roleRef.kind")]
        return []


STRATEGIES: dict[str, Strategy] = {
    "pods": PodStrategy(), "deployments": WorkloadStrategy(True), "replicasets": WorkloadStrategy(False),
    "services": ServiceStrategy(), "namespaces": NamespaceStrategy(), "nodes": NodeStrategy(),
    "secrets": SecretStrategy(), "events": EventStrategy(),
    "roles": RBACStrategy(), "clusterroles": RBACStrategy(), "rolebindings": RBACStrategy(),
    "clusterrolebindings": RBACStrategy(),
}


def strategy_for(plural: str) -> Strategy:
    return STRATEGIES.get(plural) or Strategy()
