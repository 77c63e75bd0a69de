"""Per-resource strategies (k8s `rest.RESTCreateStrategy` & co.): defaults, validation, selectable fields.

The generic store calls these hooks and nothing else knows about a resource's shape. The per-field rules live in
`apiserver.validation` (one module per API group); a strategy picks the ones for its kind. Pure.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

from apiserver.errors import APIError, Cause
from apiserver.registry import defaults, qos
from apiserver.selectors import selector_from_spec
from apiserver.validation import core as core_rules
from apiserver.validation import other, scheduling, workloads
from apiserver.validation.core import QuantityDecodeError


def decoded(obj: dict[str, Any], rules: Callable[[dict[str, Any]], list[Cause]]) -> list[Cause]:
    """Run `rules`; a quantity that does not parse is the real server's decoding failure (400), not a 422."""
    try:
        return rules(obj)
    except QuantityDecodeError as e:
        kind = str(obj.get("kind") or "object")
        version = str(obj.get("apiVersion") or "v1").rsplit("/", 1)[-1]
        raise APIError(f'{kind} in version "{version}" cannot be handled as a {kind}: {e}', "BadRequest", 400) from e


class Strategy:
    """Default strategy: no spec defaults, metadata-only validation, metadata.name/namespace fields."""

    tracks_generation = False
    has_status = False
    name_is_label = False
    name_is_path_segment = False
    extra_fields: frozenset[str] = frozenset()

    # what kube's PrepareForCreate leaves in .status (its zeroed Go struct: the fields without omitempty)
    created_status: dict[str, Any] = {}

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        if self.has_status:
            obj["status"] = copy.deepcopy(self.created_status)

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """The main endpoint ignores .status when a status subresource exists (and vice versa)."""
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)

    # metadata fields a status write may not change (kube's *StatusStrategy.PrepareForUpdate copies them back)
    status_keeps_metadata: tuple[str, ...] = ()

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """kube-apiserver 1.32's status strategies: the spec (every top-level field but status and metadata) comes
        from the stored object; the body's metadata stays (labels, annotations, finalizers ...) as on the main
        endpoint, where before_update restores uid, creationTimestamp, deletion fields and generation; the
        fields in `status_keeps_metadata` are the stored object's. None of the served kinds uses
        ResetObjectMetaForStatus (only CRDs and a few newer kinds do)."""
        for k in list(new):
            if k not in ("status", "metadata", "apiVersion", "kind"):
                new.pop(k)
        for k, v in old.items():
            if k not in ("status", "metadata", "apiVersion", "kind"):
                new[k] = copy.deepcopy(v)
        md = new.get("metadata")
        if not isinstance(md, dict):
            md = new["metadata"] = {}
        old_md = old.get("metadata") or {}
        for f in self.status_keeps_metadata:
            if f in old_md:
                md[f] = copy.deepcopy(old_md[f])
            else:
                md.pop(f, None)
        self.drop_disabled_status_fields(new, old)

    def drop_disabled_status_fields(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Status fields of features off by default in 1.32, kept only when the stored object already uses them."""

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        """Rules a status write is checked against besides the object's own (kube's *StatusStrategy.ValidateUpdate)."""
        return []

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

    def holds_deletion(self, obj: dict[str, Any]) -> bool:
        """Besides metadata.finalizers, something that keeps a deleted object until it is cleared (a namespace's
        spec.finalizers, as kube-apiserver's ShouldDeleteNamespaceDuringUpdate)."""
        return False

    def prepare_for_delete(self, obj: dict[str, Any]) -> None:
        """Changes to an object whose deletion is recorded but not yet complete."""

    def prepare_for_finalize(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """The finalize subresource (namespaces): the body's spec (finalizers) and metadata, the old status
        (kube-apiserver's namespaceFinalizeStrategy)."""
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)

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


def validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    return core_rules.pod_spec(spec, path)


class PodStrategy(Strategy):
    has_status = True
    extra_fields = frozenset({"spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
                              "spec.serviceAccountName", "spec.hostNetwork", "status.podIP",
                              "status.nominatedNodeName"})

    # pods/status may not touch ownerReferences (old kubelets corrupted them); deletionTimestamp is kept by before_update
    status_keeps_metadata = ("ownerReferences",)

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": qos.pod_qos(obj)}
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        if spec and spec.get("schedulingGates"):  # applySchedulingGatedCondition
            obj["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                            "lastTransitionTime": None, "reason": "SchedulingGated",
                                            "message": "Scheduling is blocked due to non-empty scheduling gates"}]

    def drop_disabled_status_fields(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        status, old_status = new.get("status"), old.get("status") or {}
        if not isinstance(status, dict):
            return
        if not status.get("qosClass") and old_status.get("qosClass"):
            status["qosClass"] = old_status["qosClass"]  # immutable; old kubelets dropped it on rejection
        old_spec = old.get("spec") or {}
        containers = [c for k in ("containers", "initContainers", "ephemeralContainers")
                      for c in old_spec.get(k) or [] if isinstance(c, dict)]
        if not any(c.get("resizePolicy") for c in containers):  # InPlacePodVerticalScaling: alpha, off in 1.32
            status.pop("resize", None)
            for k in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
                for cs in status.get(k) or []:
                    if isinstance(cs, dict):
                        cs.pop("allocatedResources", None)
                        cs.pop("resources", None)
        if not old_spec.get("resourceClaims"):  # DynamicResourceAllocation: beta, off in 1.32
            status.pop("resourceClaimStatuses", None)

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict) and not spec.get("serviceAccount"):
            spec.setdefault("serviceAccountName", "default")
        defaults.pod(obj)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return decoded(obj, lambda o: core_rules.pod_spec(o.get("spec"), "spec"))

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return core_rules.pod_update(new, old)

    def fields(self, obj: dict[str, Any]) -> dict[str, str]:
        out = super().fields(obj)
        if out["spec.hostNetwork"] == "":
            out["spec.hostNetwork"] = "false"
        return out


def _validate_selector_and_template(spec: dict[str, Any], *, map_selector: bool = False) -> list[Cause]:
    """A workload's selector is required and must match its template's labels (the pod spec is checked by
    `apiserver.validation.workloads`)."""
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
            shown = go_string_map((tpl.get("metadata") or {}).get("labels"))
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {shown}: `selector` does not match template "
                                "`labels`", "spec.template.metadata.labels"))
    if not isinstance(tpl, dict):
        causes.append(Cause("FieldValueRequired", "Required value", "spec.template"))
    return causes


def go_string_map(value: Any) -> str:
    """A map[string]string as Go's %#v prints it in a field error (keys sorted; nil when absent)."""
    if not isinstance(value, dict):
        return "map[string]string(nil)"
    items = ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}:{json.dumps(str(v), ensure_ascii=False)}" for k, v in sorted(value.items()))
    return f"map[string]string{{{items}}}"


def _validate_replicas(spec: dict[str, Any]) -> list[Cause]:
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        return [Cause("FieldValueInvalid", f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                      "spec.replicas")]
    return []


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


WORKLOAD_CREATED_STATUS: dict[str, dict[str, Any]] = {
    "Deployment": {}, "ReplicaSet": {"replicas": 0}, "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                  "numberReady": 0}}


class WorkloadStrategy(Strategy):
    """apps/v1 workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet): generation tracking, a selector that
    matches the template and may not change after creation."""

    tracks_generation = True
    has_status = True
    extra_fields = frozenset({"status.replicas"})

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.created_status = WORKLOAD_CREATED_STATUS[kind]
        # deploymentStatusStrategy also resets labels; the ReplicaSet, StatefulSet and DaemonSet ones only the spec
        self.status_keeps_metadata = ("labels",) if kind == "Deployment" else ()

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            {"Deployment": defaults.deployment, "ReplicaSet": defaults.replica_set,
             "StatefulSet": defaults.stateful_set, "DaemonSet": defaults.daemon_set}[self.kind](spec)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        causes = [] if self.kind == "DaemonSet" else _validate_replicas(spec)
        rules = {"Deployment": workloads.deployment, "ReplicaSet": workloads.replica_set,
                 "StatefulSet": workloads.stateful_set, "DaemonSet": workloads.daemon_set}[self.kind]
        return causes + _validate_selector_and_template(spec) + decoded(obj, rules)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        if self.kind == "StatefulSet":  # its selector is one of the fields the one Forbidden error covers
            return workloads.stateful_set_update(new, old)
        return _immutable(new, old, "spec.selector")


class ReplicationControllerStrategy(Strategy):
    """core/v1 ReplicationController: a map selector, defaulted from the template's labels."""

    tracks_generation = True
    has_status = True
    created_status = {"replicas": 0}
    extra_fields = frozenset({"status.replicas"})

    def default(self, obj: dict[str, Any]) -> None:
        defaults.replication_controller(obj)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        return (_validate_replicas(spec) + _validate_selector_and_template(spec, map_selector=True)
                + decoded(obj, workloads.replica_set))


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
        defaults.job(obj)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        return _validate_selector_and_template(spec) + decoded(obj, workloads.job)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return workloads.job_update(new, old)

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return workloads.job_status_update(new, old)


class CronJobStrategy(Strategy):
    tracks_generation = True
    has_status = True

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            defaults.cron_job(spec)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        if not isinstance(obj.get("spec"), dict):
            return [Cause("FieldValueRequired", "Required value", "spec")]
        return decoded(obj, workloads.cron_job)


class PVCStrategy(Strategy):
    has_status = True

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Pending"}

    def drop_disabled_status_fields(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        status, old_status = new.get("status"), old.get("status") or {}
        if isinstance(status, dict):  # VolumeAttributesClass: beta, off in 1.32
            for f in ("currentVolumeAttributesClassName", "modifyVolumeStatus"):
                if f not in old_status:
                    status.pop(f, None)

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            defaults.pvc_spec(spec)

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

    def default(self, obj: dict[str, Any]) -> None:
        defaults.endpoint_slice(obj)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return other.endpoint_slice(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return other.endpoint_slice_update(new, old)


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


DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800


def default_service_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_Service (v1.32 pkg/apis/core/v1/defaults.go)."""
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = spec.get("sessionAffinityConfig")
        client = cfg.get("clientIP") if isinstance(cfg, dict) else None
        if not isinstance(client, dict) or client.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            if not p.get("protocol"):
                p["protocol"] = "TCP"
            if p.get("targetPort") in (None, 0, "") and "port" in p:
                p["targetPort"] = p["port"]
    stype = spec["type"]
    externally_accessible = stype in ("NodePort", "LoadBalancer") or (stype == "ClusterIP" and
                                                                        bool(spec.get("externalIPs")))
    if externally_accessible and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and stype in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True


def _externally_accessible(spec: dict[str, Any]) -> bool:
    stype = spec.get("type") or "ClusterIP"
    return stype in ("NodePort", "LoadBalancer") or (stype == "ClusterIP" and bool(spec.get("externalIPs")))


def drop_type_dependent_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """dropTypeDependentFields: on a type change, fields the old type needed (and the server may have filled in)
    are cleared when the user left them as they were; changed ones stay, for validation to judge."""
    def same(*keys: str) -> bool:
        return all(new.get(k) == old.get(k) for k in keys)

    def node_ports(spec: dict[str, Any]) -> list[Any]:
        return [p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)]
    old_type, new_type = old.get("type") or "ClusterIP", new.get("type") or "ClusterIP"
    node_port_types = ("NodePort", "LoadBalancer")
    if old_type != "ExternalName" and new_type == "ExternalName":
        if same("clusterIP", "clusterIPs"):
            new.pop("clusterIP", None)
            new.pop("clusterIPs", None)
        for key in ("ipFamilies", "ipFamilyPolicy"):
            if same(key):
                new.pop(key, None)
    if old_type in node_port_types and new_type not in node_port_types and node_ports(new) == node_ports(old):
        for p in new.get("ports") or []:
            if isinstance(p, dict):
                p.pop("nodePort", None)
    if old_type == "LoadBalancer" and new_type != "LoadBalancer":
        for key in ("healthCheckNodePort", "allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if same(key):
                new.pop(key, None)
    if _externally_accessible(old) and not _externally_accessible(new) and same("externalTrafficPolicy"):
        new.pop("externalTrafficPolicy", None)


class ServiceStrategy(Strategy):
    has_status = True
    name_is_label = True

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"loadBalancer": {}}

    def default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        default_service_spec(spec)

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """patchAllocatedValues: an update that leaves out what was allocated (clusterIP(s), nodePorts matched by
        port name, healthCheckNodePort) keeps it, as the real registry does."""
        super().prepare_for_update(new, old)
        new_spec, old_spec = new.get("spec"), old.get("spec")
        if not isinstance(new_spec, dict) or not isinstance(old_spec, dict):
            return
        if old_spec.get("clusterIP") and not new_spec.get("clusterIP") and new_spec.get("type") != "ExternalName":
            for key in ("clusterIP", "clusterIPs"):
                if key in old_spec:
                    new_spec[key] = old_spec[key]
        drop_type_dependent_fields(new_spec, old_spec)
        node_port_types = ("NodePort", "LoadBalancer")
        if old_spec.get("type") in node_port_types and new_spec.get("type") in node_port_types:
            ports = [p for p in new_spec.get("ports") or [] if isinstance(p, dict)]
            old_ports = [p for p in old_spec.get("ports") or [] if isinstance(p, dict)]
            used = {p.get("nodePort") for p in ports if p.get("nodePort")}
            by_name = {p.get("name", ""): p.get("nodePort") for p in old_ports}
            for p in ports:
                previous = by_name.get(p.get("name", ""))
                if not p.get("nodePort") and previous and previous not in used:
                    p["nodePort"] = previous
            if old_spec.get("healthCheckNodePort") and not new_spec.get("healthCheckNodePort"):
                new_spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return core_rules.service(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return core_rules.service_update(new, old)


IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
NAMESPACE_FINALIZER = "kubernetes"


class NamespaceStrategy(Strategy):
    has_status = True
    name_is_label = True
    extra_fields = frozenset({"status.phase"})

    def check_delete(self, obj: dict[str, Any]) -> str:
        if obj.get("metadata", {}).get("name") in IMMORTAL_NAMESPACES:
            return "this namespace may not be deleted"
        return ""

    def holds_deletion(self, obj: dict[str, Any]) -> bool:
        """A deleted namespace stays (Terminating) until the namespace controller clears spec.finalizers."""
        return bool((obj.get("spec") or {}).get("finalizers"))

    def prepare_for_delete(self, obj: dict[str, Any]) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        """Active, with the `kubernetes` finalizer the namespace controller removes once the namespace is empty."""
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        finalizers = list(spec.get("finalizers") or [])
        if NAMESPACE_FINALIZER not in finalizers:
            finalizers.append(NAMESPACE_FINALIZER)
        spec["finalizers"] = finalizers

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """spec.finalizers change only through the finalize subresource."""
        super().prepare_for_update(new, old)
        if "finalizers" in (old.get("spec") or {}):
            new.setdefault("spec", {})["finalizers"] = old["spec"]["finalizers"]
        else:
            (new.get("spec") or {}).pop("finalizers", None)

    def default(self, obj: dict[str, Any]) -> None:
        md = obj.setdefault("metadata", {})
        if md.get("name"):
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]


class NodeStrategy(Strategy):
    has_status = True
    extra_fields = frozenset({"spec.unschedulable"})

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        """1.32's nodeStrategy: a Node keeps its whole status on create (kubelets register with it); only the
        removed dynamic kubelet config (spec.configSource, status.config) is dropped."""
        for part, f in (("spec", "configSource"), ("status", "config")):
            if isinstance(obj.get(part), dict):
                obj[part].pop(f, None)

    def default(self, obj: dict[str, Any]) -> None:
        defaults.node(obj)

    def drop_disabled_status_fields(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        status = new.get("status")
        if isinstance(status, dict) and "config" not in (old.get("status") or {}):
            status.pop("config", None)  # dynamic kubelet config is gone; kept only where already set

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return core_rules.node(obj)


class SecretStrategy(Strategy):
    extra_fields = frozenset({"type"})

    def default(self, obj: dict[str, Any]) -> None:
        """`stringData` is write-only: merged into `data` (base64), overriding it, as the real conversion does."""
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data: dict[str, Any] = obj["data"] if isinstance(obj.get("data"), dict) else {}
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return core_rules.secret(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return core_rules.secret_update(new, old)


class ConfigMapStrategy(Strategy):
    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return core_rules.config_map(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return core_rules.config_map_update(new, old)


class ResourceQuotaStrategy(Strategy):
    has_status = True  # kube's: status is emptied on create and kept on update; only the quota controller writes it

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return decoded(obj, core_rules.resource_quota)


class LimitRangeStrategy(Strategy):
    def default(self, obj: dict[str, Any]) -> None:
        defaults.limit_range(obj)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return decoded(obj, core_rules.limit_range)


class EndpointsStrategy(Strategy):
    def default(self, obj: dict[str, Any]) -> None:
        defaults.endpoints(obj)


class WebhookConfigurationStrategy(Strategy):
    def __init__(self, mutating: bool) -> None:
        self.mutating = mutating

    def default(self, obj: dict[str, Any]) -> None:
        defaults.webhook_configuration(obj, self.mutating)


class LeaseStrategy(Strategy):
    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return other.lease(obj)


class EventStrategy(Strategy):
    extra_fields = frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                              "involvedObject.fieldPath", "reason", "type", "source", "reportingComponent"})


class RBACStrategy(Strategy):
    """Roles and bindings: names are path segments; rules need verbs, bindings a valid and immutable roleRef."""

    name_is_path_segment = True

    def default(self, obj: dict[str, Any]) -> None:
        defaults.rbac(obj)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        kind = obj.get("kind", "")
        if kind.endswith("Binding"):
            return other.binding(obj, cluster=kind == "ClusterRoleBinding")
        if kind == "ClusterRole" and obj.get("aggregationRule"):
            return []
        return other.rules(obj, namespaced=kind == "Role")

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return other.binding_update(new, old) if str(new.get("kind", "")).endswith("Binding") else []


class PriorityClassStrategy(Strategy):
    """scheduling.k8s.io/v1 PriorityClass: value, globalDefault and the `system-` names as 1.32 validates them;
    the two system classes may not be deleted (kube's priorityclass REST Delete)."""

    def default(self, obj: dict[str, Any]) -> None:
        if obj.get("preemptionPolicy") is None:
            obj["preemptionPolicy"] = "PreemptLowerPriority"

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return scheduling.priority_class(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return scheduling.priority_class_update(new, old)

    def check_delete(self, obj: dict[str, Any]) -> str:
        name = (obj.get("metadata") or {}).get("name", "")
        return "this is a system priority class and cannot be deleted" \
            if name in scheduling.SYSTEM_PRIORITY_CLASSES else ""


class PodDisruptionBudgetStrategy(Strategy):
    """policy/v1 PodDisruptionBudget: generation tracked, status only through /status, which starts empty."""

    tracks_generation = True
    has_status = True

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return scheduling.pod_disruption_budget(obj)

    def validate_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return scheduling.pod_disruption_budget_status(new)


STRATEGIES: dict[str, Strategy] = {
    "pods": PodStrategy(), "deployments": WorkloadStrategy("Deployment"),
    "replicasets": WorkloadStrategy("ReplicaSet"), "statefulsets": WorkloadStrategy("StatefulSet"),
    "daemonsets": WorkloadStrategy("DaemonSet"), "replicationcontrollers": ReplicationControllerStrategy(),
    "jobs": JobStrategy(), "cronjobs": CronJobStrategy(), "persistentvolumeclaims": PVCStrategy(),
    "endpointslices": EndpointSliceStrategy(), "events.k8s.io/events": EventsV1Strategy(),
    "services": ServiceStrategy(), "namespaces": NamespaceStrategy(), "nodes": NodeStrategy(),
    "secrets": SecretStrategy(), "events": EventStrategy(), "configmaps": ConfigMapStrategy(),
    "resourcequotas": ResourceQuotaStrategy(), "limitranges": LimitRangeStrategy(), "leases": LeaseStrategy(),
    "roles": RBACStrategy(), "clusterroles": RBACStrategy(), "rolebindings": RBACStrategy(),
    "clusterrolebindings": RBACStrategy(), "endpoints": EndpointsStrategy(),
    "mutatingwebhookconfigurations": WebhookConfigurationStrategy(mutating=True),
    "validatingwebhookconfigurations": WebhookConfigurationStrategy(mutating=False),
    "priorityclasses": PriorityClassStrategy(), "poddisruptionbudgets": PodDisruptionBudgetStrategy(),
}


def strategy_for(plural: str, group: str = "") -> Strategy:
    """Strategies are keyed by plural, or by ``group/plural`` where two groups share a plural (events)."""
    return STRATEGIES.get(f"{group}/{plural}") or STRATEGIES.get(plural) or Strategy()
