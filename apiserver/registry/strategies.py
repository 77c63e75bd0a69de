"""Per-resource strategies (k8s `rest.RESTCreateStrategy` & co.): defaults, validation, selectable fields.

The generic store calls these hooks and nothing else knows about a resource's shape. Pure.
"""

from __future__ import annotations

import json
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

    def from_storage(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored form -> this resource's version (events.k8s.io/v1 Events share core Events' keys)."""
        return obj

    def to_storage(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj

    def check_delete(self, obj: dict[str, Any]) -> str:
        """A reason the object may not be deleted (403 Forbidden), or "" to allow it."""
        return ""

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return []

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        """Rules that compare with the stored object (immutable fields)."""
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

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        """A pod's spec is immutable except images, activeDeadlineSeconds, tolerations and the grace period."""
        def mutable_cleared(spec: Any) -> Any:
            if not isinstance(spec, dict):
                return spec
            spec = json.loads(json.dumps(spec))
            for k in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
                spec.pop(k, None)
            for key in ("containers", "initContainers"):
                for c in spec.get(key) or []:
                    if isinstance(c, dict):
                        c.pop("image", None)
            return spec
        if mutable_cleared(new.get("spec")) != mutable_cleared(old.get("spec")):
            return [Cause("FieldValueForbidden", "Forbidden: pod updates may not change fields other than "
                          "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                          "`spec.tolerations` (only additions to existing tolerations),"
                          "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
                          "negative)", "spec")]
        return []

    def fields(self, obj: dict[str, Any]) -> dict[str, str]:
        out = super().fields(obj)
        if out["spec.hostNetwork"] == "":
            out["spec.hostNetwork"] = "false"
        return out


def _validate_selector_and_template(spec: dict[str, Any], *, map_selector: bool = False,
                                   restart_policies: tuple[str, ...] = ()) -> list[Cause]:
    """A workload's selector is required, must match its template's labels, and its pod spec must be valid."""
    causes: list[Cause] = []
    sel = spec.get("selector")
    tpl = spec.get("template")
    if map_selector:
        sel = {"matchLabels": sel} if isinstance(sel, dict) else sel
    if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        causes.append(Cause("FieldValueRequired", "Required value", "spec.selector"))
    elif isinstance(tpl, dict):
        labels = (tpl.get("metadata") or {}).get("labels") or {}
        if not selector_from_spec(sel).matches(labels):
            causes.append(Cause("FieldValueInvalid", "Invalid value: selector does not match template labels",
                                "spec.template.metadata.labels"))
    if not isinstance(tpl, dict):
        causes.append(Cause("FieldValueRequired", "Required value", "spec.template"))
        return causes
    causes += validate_pod_spec(tpl.get("spec"), "spec.template.spec")
    policy = (tpl.get("spec") or {}).get("restartPolicy") if isinstance(tpl.get("spec"), dict) else None
    if restart_policies and policy not in restart_policies:
        allowed = ", ".join(f'"{p}"' for p in restart_policies)
        causes.append(Cause("FieldValueNotSupported", f'Unsupported value: "{policy}": supported values: {allowed}',
                            "spec.template.spec.restartPolicy"))
    return causes


def _validate_replicas(spec: dict[str, Any]) -> list[Cause]:
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        return [Cause("FieldValueInvalid", f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                      "spec.replicas")]
    return []


def _default_template(spec: dict[str, Any]) -> None:
    tpl = spec.get("template")
    if isinstance(tpl, dict):
        tpl.setdefault("metadata", {}).setdefault("creationTimestamp", None)
        if isinstance(tpl.get("spec"), dict):
            default_pod_spec(tpl["spec"])


def _immutable(new: dict[str, Any], old: dict[str, Any], path: str, message: str = "field is immutable"
               ) -> list[Cause]:
    def get(o: Any) -> Any:
        for part in path.split("."):
            o = o.get(part) if isinstance(o, dict) else None
        return o
    if get(new) != get(old):
        return [Cause("FieldValueInvalid", f"Invalid value: {_short(get(new))}: {message}", path)]
    return []


def _short(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


class WorkloadStrategy(Strategy):
    """apps/v1 workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet): generation tracking, a selector that
    matches the template and may not change after creation."""

    tracks_generation = True
    has_status = True
    extra_fields = frozenset({"status.replicas"})

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        if self.kind != "DaemonSet":
            spec.setdefault("replicas", 1)
        if self.kind == "Deployment":
            strategy = spec.setdefault("strategy", {})
            if isinstance(strategy, dict):
                strategy.setdefault("type", "RollingUpdate")
                if strategy["type"] == "RollingUpdate":
                    strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        elif self.kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
        elif self.kind == "DaemonSet":
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
            spec.setdefault("revisionHistoryLimit", 10)
        _default_template(spec)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        causes = [] if self.kind == "DaemonSet" else _validate_replicas(spec)
        return causes + _validate_selector_and_template(spec)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return _immutable(new, old, "spec.selector")


class ReplicationControllerStrategy(Strategy):
    """core/v1 ReplicationController: a map selector, defaulted from the template's labels."""

    tracks_generation = True
    has_status = True
    extra_fields = frozenset({"status.replicas"})

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("replicas", 1)
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") if isinstance(
            spec.get("template"), dict) else None
        if not spec.get("selector") and labels:
            spec["selector"] = dict(labels)
        md = obj.setdefault("metadata", {})
        if not md.get("labels") and labels:
            md["labels"] = dict(labels)
        _default_template(spec)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        return _validate_replicas(spec) + _validate_selector_and_template(spec, map_selector=True)


JOB_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


class JobStrategy(Strategy):
    """batch/v1 Job: the selector is generated from the Job's uid (unless manualSelector), the pod template is
    immutable and must not restart Always."""

    tracks_generation = True
    has_status = True
    extra_fields = frozenset({"status.successful"})

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {}
        spec = obj.get("spec")
        md = obj.get("metadata") or {}
        if not isinstance(spec, dict) or spec.get("manualSelector") or not md.get("uid"):
            return
        tpl = spec.setdefault("template", {})
        if not isinstance(tpl, dict):
            return
        labels = tpl.setdefault("metadata", {}).setdefault("labels", {})
        for k in JOB_UID_LABELS:
            labels[k] = md["uid"]
        for k in JOB_NAME_LABELS:
            labels[k] = md.get("name", "")
        spec["selector"] = {"matchLabels": {JOB_UID_LABELS[0]: md["uid"]}}

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("manualSelector", None)
        if spec.get("manualSelector") is None:
            spec.pop("manualSelector")
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        _default_template(spec)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        return _validate_selector_and_template(spec, restart_policies=("OnFailure", "Never"))

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return _immutable(new, old, "spec.selector") + _immutable(new, old, "spec.completions")


class CronJobStrategy(Strategy):
    tracks_generation = True
    has_status = True

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job = ((spec.get("jobTemplate") or {}).get("spec")) if isinstance(spec.get("jobTemplate"), dict) else None
        if isinstance(job, dict):
            job.setdefault("backoffLimit", 6)
            job.setdefault("completionMode", "NonIndexed")
            job.setdefault("suspend", False)
            _default_template(job)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        causes = []
        schedule = spec.get("schedule")
        if not isinstance(schedule, str) or not schedule.strip():
            causes.append(Cause("FieldValueRequired", "Required value", "spec.schedule"))
        elif len(schedule.split()) not in (5, 6) and not schedule.startswith("@"):
            causes.append(Cause("FieldValueInvalid", f'Invalid value: "{schedule}": expected exactly 5 fields, '
                                f"found {len(schedule.split())}: {schedule}", "spec.schedule"))
        job = (spec.get("jobTemplate") or {}).get("spec") if isinstance(spec.get("jobTemplate"), dict) else None
        if not isinstance(job, dict):
            causes.append(Cause("FieldValueRequired", "Required value", "spec.jobTemplate.spec"))
        else:
            tpl = job.get("template")
            pod = tpl.get("spec") if isinstance(tpl, dict) else None
            causes += [Cause(c.reason, c.message, "spec.jobTemplate." + c.field)
                       for c in validate_pod_spec(pod, "spec.template.spec")]
        return causes


class PVCStrategy(Strategy):
    has_status = True

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Pending"}

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes = []
        if not spec.get("accessModes"):
            causes.append(Cause("FieldValueRequired", "Required value: at least 1 access mode is required",
                                "spec.accessModes"))
        if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
            causes.append(Cause("FieldValueRequired", "Required value", "spec.resources[storage]"))
        return causes


class EndpointSliceStrategy(Strategy):
    tracks_generation = True

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        if obj.get("addressType") not in ("IPv4", "IPv6", "FQDN"):
            return [Cause("FieldValueNotSupported", f'Unsupported value: "{obj.get("addressType") or ""}": '
                          'supported values: "FQDN", "IPv4", "IPv6"', "addressType")]
        return []


# events.k8s.io/v1 Event <-> core/v1 Event (the stored form), as k8s pkg/apis/events/v1/conversion.go maps them.
EVENT_RENAMES = (("regarding", "involvedObject"), ("note", "message"), ("deprecatedSource", "source"),
                 ("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
                 ("deprecatedCount", "count"), ("reportingController", "reportingComponent"))


class EventsV1Strategy(Strategy):
    """events.k8s.io/v1 Events are stored as core Events under the same keys, converted on the way in and out."""

    def from_storage(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if k not in {core for _, core in EVENT_RENAMES}}
        for new, core in EVENT_RENAMES:
            if obj.get(core) not in (None, "", 0, {}):
                out[new] = obj[core]
        out["apiVersion"], out["kind"] = "events.k8s.io/v1", "Event"
        return out

    def to_storage(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if k not in {new for new, _ in EVENT_RENAMES}}
        for new, core in EVENT_RENAMES:
            if new in obj:
                out[core] = obj[new]
        out["apiVersion"], out["kind"] = "v1", "Event"
        return out

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        causes = []
        if not obj.get("eventTime"):
            causes.append(Cause("FieldValueRequired", "Required value", "eventTime"))
        if not obj.get("reportingController"):
            causes.append(Cause("FieldValueRequired", "Required value", "reportingController"))
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
    "pods": PodStrategy(), "deployments": WorkloadStrategy("Deployment"),
    "replicasets": WorkloadStrategy("ReplicaSet"), "statefulsets": WorkloadStrategy("StatefulSet"),
    "daemonsets": WorkloadStrategy("DaemonSet"), "replicationcontrollers": ReplicationControllerStrategy(),
    "jobs": JobStrategy(), "cronjobs": CronJobStrategy(), "persistentvolumeclaims": PVCStrategy(),
    "endpointslices": EndpointSliceStrategy(), "events.k8s.io/events": EventsV1Strategy(),
    "services": ServiceStrategy(), "namespaces": NamespaceStrategy(), "nodes": NodeStrategy(),
    "secrets": SecretStrategy(), "events": EventStrategy(),
    "roles": RBACStrategy(), "clusterroles": RBACStrategy(), "rolebindings": RBACStrategy(),
    "clusterrolebindings": RBACStrategy(),
}


def strategy_for(plural: str, group: str = "") -> Strategy:
    """Strategies are keyed by plural, or by ``group/plural`` where two groups share a plural (events)."""
    return STRATEGIES.get(f"{group}/{plural}") or STRATEGIES.get(plural) or Strategy()
