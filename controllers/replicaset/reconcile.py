"""The replica controllers' pure core: kube-controller-manager 1.32's ReplicaSet controller (syncReplicaSet,
manageReplicas, calculateStatus, PodControllerRefManager.ClaimPods), shared by ReplicationControllers as kube
shares it (an RC is handled as a ReplicaSet with a map selector).

Everything here is a function of the owner and pod dicts and `now`; the adapter (`controller.py`) keeps the
expectations, runs creations in slow-start batches and turns outcomes into events with the helpers below.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controllers import podcontrol as pc
from controllers.machinery import labels
from controllers.machinery.actions import Action, Create, Delete, Event, Patch, Update
from controllers.machinery.resources import PODS, REPLICASETS, REPLICATIONCONTROLLERS, Resource
from controllers.podcontrol import controller_of, format_datetime, is_active, is_available, is_ready, meta
from controllers.replicaset.ranking import pods_to_delete

Object = dict[str, Any]
BURST_REPLICAS = 500  # replicaset.BurstReplicas: at most this many creations or deletions per sync
REPLICA_FAILURE = "ReplicaFailure"
MAX_POD_NAME = 253


@dataclass(frozen=True)
class Kind:
    """What differs between the ReplicaSet and the ReplicationController controllers."""
    resource: Resource
    component: str  # the events' source
    map_selector: bool

    @property
    def api_version(self) -> str:
        return self.resource.api_version

    @property
    def kind(self) -> str:
        return self.resource.kind


REPLICA_SET = Kind(REPLICASETS, "replicaset-controller", map_selector=False)
REPLICATION_CONTROLLER = Kind(REPLICATIONCONTROLLERS, "replication-controller", map_selector=True)


def selector_of(kind: Kind, owner: Object) -> labels.Selector:
    """The owner's pod selector; raises labels.SelectorError for one the API server should have refused."""
    spec = owner.get("spec") or {}
    if kind.map_selector:
        return labels.from_set(spec.get("selector") or {})
    return labels.from_label_selector(spec.get("selector"))


def replicas_of(owner: Object) -> int:
    value = (owner.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def controller_ref_to(kind: Kind, owner: Object) -> Object:
    """metav1.NewControllerRef: what every pod the owner creates or adopts points back with."""
    return pc.controller_ref(owner, kind.api_version, kind.kind)


def _pod_labels(pod: Object) -> dict[str, str]:
    return meta(pod).get("labels") or {}


# ---------------------------------------------------------------------------------------------- claiming


@dataclass
class Claim:
    """ClaimPods' result: the pods the owner controls after adoption and release, and the patches that do it."""
    pods: list[Object] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


def claim_pods(kind: Kind, owner: Object, selector: labels.Selector, pods: Sequence[Object]) -> Claim:
    """Adopt matching orphans, release owned pods that stopped matching, ignore pods of other controllers.

    Adoption assumes its patch succeeds; the adapter executes these patches first and retries the key if one
    fails, so the counts below never act on a failed adoption. An owner being deleted neither adopts nor releases.
    """
    out = Claim()
    owner_meta = meta(owner)
    uid = owner_meta.get("uid")
    deleting = bool(owner_meta.get("deletionTimestamp"))
    for pod in pods:
        pm = meta(pod)
        ref = controller_of(pod)
        matches = selector.matches(_pod_labels(pod))
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                out.pods.append(pod)
            elif not deleting:
                out.actions.append(release_patch(owner, pod))
            continue
        if deleting or not matches or pm.get("deletionTimestamp"):
            continue
        out.actions.append(adopt_patch(kind, owner, pod))
        adopted = copy.deepcopy(pod)
        adopted["metadata"].setdefault("ownerReferences", []).append(controller_ref_to(kind, owner))
        out.pods.append(adopted)
    return out


def adopt_patch(kind: Kind, owner: Object, pod: Object) -> Patch:
    """ownerRefControllerPatch: a strategic merge patch adding the controller ref, guarded by the pod's UID."""
    pm = meta(pod)
    body = {"metadata": {"ownerReferences": [controller_ref_to(kind, owner)], "uid": pm["uid"]}}
    return Patch(PODS, pm.get("namespace"), pm["name"], body, "strategic")


def is_adoption(action: Action) -> bool:
    """Whether a claim patch adds a controller ref (adoption needs the canAdopt re-read; a release does not)."""
    if not isinstance(action, Patch) or not isinstance(action.patch, dict):
        return False
    refs = (action.patch.get("metadata") or {}).get("ownerReferences") or []
    return any("$patch" not in ref for ref in refs)


def release_patch(owner: Object, pod: Object) -> Patch:
    """GenerateDeleteOwnerRefStrategicMergeBytes: remove our ownerReference (merge key uid)."""
    pm = meta(pod)
    body = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": meta(owner)["uid"]}], "uid": pm["uid"]}}
    return Patch(PODS, pm.get("namespace"), pm["name"], body, "strategic")


# ---------------------------------------------------------------------------------------------- managing


def pod_name_prefix(owner_name: str) -> str:
    """getPodsPrefix: `<name>-` unless that would be too long for a pod name."""
    prefix = f"{owner_name}-"
    return prefix if len(prefix) <= MAX_POD_NAME else owner_name


def pod_from_template(kind: Kind, owner: Object) -> Object:
    """GetPodFromTemplate: the template's labels, annotations and finalizers, generateName, the controller ref (the
    namespace goes with the Create, as CreatePods passes it)."""
    template = (owner.get("spec") or {}).get("template") or {}
    pod = pc.pod_from_template(template, owner, kind.api_version, kind.kind,
                               generate_name=pod_name_prefix(meta(owner)["name"]))
    del pod["metadata"]["namespace"]
    return pod


def manage_replicas(kind: Kind, owner: Object, active: Sequence[Object], related: Sequence[Object], now: datetime,
                    burst: int = BURST_REPLICAS) -> list[Create] | list[Delete]:
    """manageReplicas' decision: up to `burst` pod creations, or up to `burst` deletions in ActivePods order.

    `active` are the owner's claimed active pods; `related` every active pod of the owner and of the other sets
    under the same controller (a Deployment's ReplicaSets), for spreading deletions across nodes.
    """
    diff = len(active) - replicas_of(owner)
    ns = meta(owner).get("namespace")
    if diff < 0:
        body = pod_from_template(kind, owner)
        return [Create(PODS, ns, copy.deepcopy(body)) for _ in range(min(-diff, burst))]
    if diff > 0:
        victims = pods_to_delete(active, related, min(diff, burst), now)
        return [Delete(PODS, ns, meta(p)["name"]) for p in victims]
    return []


def created_event(owner: Object, pod_name: str) -> Event:
    return Event(owner, "Normal", "SuccessfulCreate", f"Created pod: {pod_name}")


def create_failed_event(owner: Object, message: str) -> Event:
    return Event(owner, "Warning", "FailedCreate", f"Error creating: {message}")


def deleted_event(owner: Object, pod_name: str) -> Event:
    return Event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {pod_name}")


def delete_failed_event(owner: Object, message: str) -> Event:
    return Event(owner, "Warning", "FailedDelete", f"Error deleting: {message}")


# ---------------------------------------------------------------------------------------------- status


def calculate_status(owner: Object, pods: Sequence[Object], manage_error: str | None, now: datetime) -> Object:
    """calculateStatus: counts over the claimed active pods, and the ReplicaFailure condition (set with the
    manageReplicas error's text while it fails, removed once a sync succeeds)."""
    spec = owner.get("spec") or {}
    template_labels = labels.from_set(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
    min_ready = int(spec.get("minReadySeconds") or 0)
    fully = sum(1 for p in pods if template_labels.matches(_pod_labels(p)))
    ready = [p for p in pods if is_ready(p)]
    available = sum(1 for p in ready if is_available(p, min_ready, now))
    status = copy.deepcopy(owner.get("status") or {})
    conditions = [c for c in status.get("conditions") or []]
    failure = next((c for c in conditions if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        diff = len(pods) - replicas_of(owner)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append({"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": format_datetime(now),
                           "reason": reason, "message": manage_error})
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    status["replicas"] = len(pods)
    _set_or_omit(status, "fullyLabeledReplicas", fully)
    _set_or_omit(status, "readyReplicas", len(ready))
    _set_or_omit(status, "availableReplicas", available)
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return status


def _set_or_omit(obj: Object, key: str, value: int) -> None:
    """Go's omitempty: a zero count is absent from the JSON."""
    if value:
        obj[key] = value
    else:
        obj.pop(key, None)


def status_update(kind: Kind, owner: Object, status: Object) -> Update | None:
    """updateReplicaSetStatus: write the new status with observedGeneration, unless nothing changed."""
    old = owner.get("status") or {}
    generation = int(meta(owner).get("generation") or 0)
    same = all(int(old.get(k) or 0) == int(status.get(k) or 0)
               for k in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
    if same and generation == int(old.get("observedGeneration") or 0) and \
            (old.get("conditions") or []) == (status.get("conditions") or []):
        return None
    new_status = dict(status)
    _set_or_omit(new_status, "observedGeneration", generation)
    body = copy.deepcopy(owner)
    body["status"] = new_status
    m = meta(owner)
    return Update(kind.resource, m.get("namespace"), m["name"], body, "status")


def min_ready_requeue(owner: Object, status: Object, manage_ok: bool) -> float | None:
    """syncReplicaSet's last line of defence against clock skew: with minReadySeconds, every pod ready but not
    yet all available, look again after minReadySeconds."""
    min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
    want = replicas_of(owner)
    if manage_ok and min_ready > 0 and int(status.get("readyReplicas") or 0) == want \
            and int(status.get("availableReplicas") or 0) != want:
        return float(min_ready)
    return None


def active_pods(pods: Sequence[Object]) -> list[Object]:
    """FilterActivePods."""
    return [p for p in pods if is_active(p)]
