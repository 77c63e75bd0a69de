"""The StatefulSet controller's decisions (kube-controller-manager 1.32 `stateful_set_control.go`), pure.

Pods are `<set>-<ordinal>` with a stable identity (hostname, subdomain = serviceName, the pod-name and pod-index
labels) and storage (a PVC `<template>-<set>-<ordinal>` per volumeClaimTemplate, created before the pod and
kept: the retention policy's default is Retain). OrderedReady creates one pod at a time, each Running and Ready
before the next, and removes surplus pods highest ordinal first, one at a time; Parallel does each step at once.
Updates follow the revision in the `controller-revision-hash` label: RollingUpdate deletes, from the highest
ordinal down to the partition, one pod at a time that is not at the update revision (recreated at it); OnDelete
recreates only pods someone else deleted.

`sync(set, pods, claims, revisions, now)` returns one pass of writes in order (revision, deletes, claims,
creates) and the status; the adapter performs them and the next event brings the next step.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from controllers import history
from controllers import podcontrol as pc
from controllers.machinery.actions import Create, Delete, Event, Patch, Update
from controllers.machinery.resources import CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS

Obj = dict[str, Any]
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


@dataclass
class Result:
    revisions: list[Create | Update] = field(default_factory=list)
    revision_deletes: list[Delete] = field(default_factory=list)  # history beyond revisionHistoryLimit
    deletes: list[Delete] = field(default_factory=list)
    claims: list[Create] = field(default_factory=list)
    claim_patches: list[Patch] = field(default_factory=list)  # owner references for the retention policy
    pod_updates: list[Patch] = field(default_factory=list)  # identity labels put back on existing pods
    creates: list[Create] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # pod writes are reported by the adapter, with their outcome
    status: Obj | None = None
    requeue_after: float | None = None


def ordinal(set_name: str, pod: Obj) -> int | None:
    """getParentNameAndOrdinal: the trailing number of `<set>-<n>`, or None for a pod not named so."""
    m = re.fullmatch(re.escape(set_name) + r"-(\d+)", str(pc.meta(pod).get("name") or ""))
    return int(m.group(1)) if m else None


def revision_of(pod: Obj) -> str:
    return str((pc.meta(pod).get("labels") or {}).get(history.REVISION_HASH_LABEL) or "")


def is_created(pod: Obj) -> bool:
    return bool(pc.phase(pod))


def is_terminating(pod: Obj) -> bool:
    return pc.meta(pod).get("deletionTimestamp") is not None


def is_running_and_ready(pod: Obj) -> bool:
    return pc.phase(pod) == "Running" and pc.is_ready(pod)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def claim_name(template: Obj, set_name: str, n: int) -> str:
    return f"{pc.meta(template).get('name')}-{set_name}-{n}"


def template_of(revision: Obj) -> Obj:
    """ApplyRevision: the pod template a revision recorded."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def new_pod(sts: Obj, template: Obj, revision: str, n: int) -> Obj:
    """newStatefulSetPod + setPodRevision: identity, storage and the revision label."""
    set_name = str(pc.meta(sts).get("name"))
    name = f"{set_name}-{n}"
    pod = pc.pod_from_template(template, sts, STATEFULSETS.api_version, STATEFULSETS.kind, name=name)
    md = pod["metadata"]
    md["labels"] = {**(md.get("labels") or {}), POD_NAME_LABEL: name, POD_INDEX_LABEL: str(n),
                    history.REVISION_HASH_LABEL: revision}
    pod["spec"]["hostname"] = name
    if pc.spec(sts).get("serviceName"):
        pod["spec"]["subdomain"] = pc.spec(sts)["serviceName"]
    templates = pc.spec(sts).get("volumeClaimTemplates") or []
    if templates:
        names = {pc.meta(t).get("name") for t in templates}
        volumes = [{"name": pc.meta(t).get("name"), "persistentVolumeClaim": {"claimName": claim_name(t, set_name, n)}}
                   for t in templates]
        volumes += [v for v in pod["spec"].get("volumes") or [] if v.get("name") not in names]
        pod["spec"]["volumes"] = volumes  # updateStorage: the claims first, then the template's other volumes
    return pod


def claim_pod(sts: Obj, claim: Obj) -> str:
    """The pod a claim `<template>-<set>-<ordinal>` belongs to."""
    name = str(pc.meta(claim).get("name") or "")
    for t in pc.spec(sts).get("volumeClaimTemplates") or []:
        prefix = f"{pc.meta(t).get('name')}-"
        if name.startswith(prefix):
            return name[len(prefix):]
    return ""


def retention(sts: Obj) -> tuple[str, str]:
    policy = pc.spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    return str(policy.get("whenDeleted") or "Retain"), str(policy.get("whenScaled") or "Retain")


def claim_owners(sts: Obj, claim: Obj, pod: Obj | None, scaled_down: bool) -> list[Obj]:
    """updateClaimOwnerRefForSetAndPod: the claim's references with ours (to the set, to the pod) as the
    retention policy wants them: whenDeleted=Delete a controller reference to the set, whenScaled=Delete one to
    the pod once it is out of the ordinal range (and then not to the set)."""
    ours = {pc.meta(sts).get("uid")} | ({pc.meta(pod).get("uid")} if pod is not None else set())
    set_name = pc.meta(sts).get("name")
    pod_name = pc.meta(pod).get("name") if pod is not None else None
    refs = [r for r in pc.meta(claim).get("ownerReferences") or []
            if r.get("uid") not in ours and not (r.get("kind") == "StatefulSet" and r.get("name") == set_name)
            and not (r.get("kind") == "Pod" and r.get("name") == pod_name)]
    when_deleted, when_scaled = retention(sts)
    if when_scaled == "Delete" and scaled_down and pod is not None:
        refs.append(pc.controller_ref(pod, "v1", "Pod"))
    elif when_deleted == "Delete" and not (when_scaled == "Delete" and scaled_down):
        refs.append(pc.controller_ref(sts, STATEFULSETS.api_version, STATEFULSETS.kind))
    return refs


def new_claims(sts: Obj, n: int, existing: set[str]) -> list[Obj]:
    """getPersistentVolumeClaims: one claim per template, labelled with the set's matchLabels, owned as the
    retention policy says (Retain, the default: by nobody)."""
    out = []
    set_name = str(pc.meta(sts).get("name"))
    match = (pc.spec(sts).get("selector") or {}).get("matchLabels") or {}
    for t in pc.spec(sts).get("volumeClaimTemplates") or []:
        name = claim_name(t, set_name, n)
        if name in existing:
            continue
        claim = copy.deepcopy(t)
        claim.pop("status", None)
        md = claim.setdefault("metadata", {})
        md["name"], md["namespace"] = name, pc.meta(sts).get("namespace")
        md["labels"] = {**(md.get("labels") or {}), **match}
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        refs = claim_owners(sts, claim, None, False)
        if refs:
            md["ownerReferences"] = refs
        out.append(claim)
    return out


def _revisions(sts: Obj, revisions: list[Obj], out: Result) -> tuple[Obj, Obj, int]:
    """getStatefulSetRevisions: (current revision, update revision, collision count), creating or renumbering the
    update revision."""
    owned = history.owned(sts, revisions)
    collisions = int(pc.status(sts).get("collisionCount") or 0)
    data = history.template_patch(sts)
    top = history.max_revision(owned)
    same = [r for r in owned if history.equal(r, data)]
    if same:
        update = max(same, key=history.revision_number)
        if history.revision_number(update) < top:
            update = {**copy.deepcopy(update), "revision": top + 1}
            md = pc.meta(update)
            out.revisions.append(Update(CONTROLLERREVISIONS, md.get("namespace"), str(md.get("name")), update))
    else:
        name = f"{pc.meta(sts).get('name')}-{history.data_hash(data, collisions)}"
        update = history.new_revision(sts, STATEFULSETS.api_version, STATEFULSETS.kind, name,
                                      name, data, top + 1)
        out.revisions.append(Create(CONTROLLERREVISIONS, pc.meta(sts).get("namespace"), update))
    current_name = pc.status(sts).get("currentRevision")
    current = next((r for r in owned if pc.meta(r).get("name") == current_name), update)
    return current, update, collisions


def sync(sts: Obj, pods: list[Obj], claims: list[Obj], revisions: list[Obj], now: float) -> Result:
    out = Result()
    if pc.meta(sts).get("deletionTimestamp"):
        return out
    spec = pc.spec(sts)
    set_name = str(pc.meta(sts).get("name"))
    ns = pc.meta(sts).get("namespace")
    current, update, collisions = _revisions(sts, revisions, out)
    current_name, update_name = str(pc.meta(current).get("name")), str(pc.meta(update).get("name"))
    replicas = int(spec.get("replicas", 1))
    start = int((spec.get("ordinals") or {}).get("start") or 0)
    monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    strategy = spec.get("updateStrategy") or {"type": "RollingUpdate"}
    rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0) if rolling else 0
    min_ready = int(spec.get("minReadySeconds") or 0)
    pods = pc.owned_pods(sts, pods)
    status = _status(sts, pods, current_name, update_name, collisions, now)

    slots: dict[int, Obj] = {}
    condemned: list[Obj] = []
    for p in pods:
        n = ordinal(set_name, p)
        if n is not None and start <= n < start + replicas:
            slots[n] = p
        elif n is not None:
            condemned.append(p)
    condemned.sort(key=lambda p: -(ordinal(set_name, p) or 0))
    existing_claims = {str(pc.meta(c).get("name")) for c in claims if pc.meta(c).get("namespace") == ns}
    _fix_claim_owners(sts, claims, [*slots.values()], condemned, out)
    current_template, update_template = template_of(current), template_of(update)

    def versioned(n: int) -> Obj:
        """newVersionedStatefulSetPod: below the partition (rolling) pods stay at the current revision."""
        if rolling and n < start + partition:
            return new_pod(sts, current_template, current_name, n)
        return new_pod(sts, update_template, update_name, n)

    def delete(p: Obj) -> None:
        md = pc.meta(p)
        out.deletes.append(Delete(PODS, ns, str(md.get("name")), uid=md.get("uid")))

    def create(n: int) -> None:
        for claim in new_claims(sts, n, existing_claims):
            out.claims.append(Create(PERSISTENTVOLUMECLAIMS, ns, claim))
        out.creates.append(Create(PODS, ns, versioned(n)))

    def finish() -> Result:
        out.status = status
        _truncate_history(sts, revisions, pods, {current_name, update_name}, out)
        if min_ready > 0 and status.get("readyReplicas", 0) != status.get("availableReplicas", 0):
            out.requeue_after = float(min_ready)
        return out

    # the replicas, in order
    for n in range(start, start + replicas):
        slot = slots.get(n)
        if slot is None:
            create(n)
            if monotonic:
                return finish()
            continue
        p = slot
        if pc.is_terminal(p) and not is_terminating(p):
            if pc.phase(p) == "Failed":
                out.events.append(Event(sts, "Warning", "RecreatingFailedPod",
                                        f"StatefulSet {ns}/{set_name} is recreating failed Pod {pc.meta(p).get('name')}"))
            else:
                out.events.append(Event(sts, "Normal", "RecreatingTerminatedPod", f"StatefulSet {ns}/{set_name} is "
                                        f"recreating terminated Pod {pc.meta(p).get('name')}"))
            delete(p)  # a failed or succeeded pod is recreated once gone
            if monotonic:
                return finish()
            continue
        if is_terminating(p) and monotonic:
            return finish()
        if not (is_running_and_ready(p) and pc.is_available(p, min_ready, now)) and monotonic:
            return finish()
        if not is_terminating(p):
            _enforce_identity(sts, p, n, existing_claims, out)
    # surplus pods, highest ordinal first
    for p in condemned:
        if is_terminating(p):
            if monotonic:
                return finish()
            continue
        if monotonic and any(not is_healthy(q) for q in slots.values()):
            return finish()
        delete(p)
        if monotonic:
            return finish()
    if not rolling:
        return finish()
    # rolling update from the highest ordinal down to the partition, one pod at a time
    if any(not is_healthy(p) for p in slots.values()):
        return finish()
    for n in range(start + replicas - 1, start + partition - 1, -1):
        target = slots.get(n)
        if target is None:
            continue
        p = target
        if revision_of(p) != update_name and not is_terminating(p):
            delete(p)
            return finish()
        if not is_healthy(p):
            return finish()
    return finish()


def _enforce_identity(sts: Obj, pod: Obj, n: int, existing_claims: set[str], out: Result) -> None:
    """UpdateStatefulPod for a live pod: missing claims are created again and the identity labels put back."""
    md = pc.meta(pod)
    for claim in new_claims(sts, n, existing_claims):
        out.claims.append(Create(PERSISTENTVOLUMECLAIMS, md.get("namespace"), claim))
        existing_claims.add(str(claim["metadata"]["name"]))
    want = {POD_NAME_LABEL: str(md.get("name")), POD_INDEX_LABEL: str(n)}
    have = md.get("labels") or {}
    if any(have.get(k) != v for k, v in want.items()):
        out.pod_updates.append(Patch(PODS, md.get("namespace"), str(md.get("name")), {"metadata": {"labels": want}},
                                     "merge"))


def _fix_claim_owners(sts: Obj, claims: list[Obj], in_range: list[Obj], condemned: list[Obj], out: Result) -> None:
    """ClaimsMatchRetentionPolicy / UpdatePodClaimForRetentionPolicy for every pod: a claim whose references
    differ from what the policy wants is patched (so the garbage collector deletes it with its owner)."""
    ns = pc.meta(sts).get("namespace")
    by_name = {str(pc.meta(c).get("name")): c for c in claims if pc.meta(c).get("namespace") == ns}
    set_name = str(pc.meta(sts).get("name"))
    for pod, scaled_down in [(p, False) for p in in_range] + [(p, True) for p in condemned]:
        n = ordinal(set_name, pod)
        if n is None:
            continue
        for t in pc.spec(sts).get("volumeClaimTemplates") or []:
            claim = by_name.get(claim_name(t, set_name, n))
            if claim is None:
                continue
            refs = claim_owners(sts, claim, pod, scaled_down)
            if refs != (pc.meta(claim).get("ownerReferences") or []):
                out.claim_patches.append(Patch(PERSISTENTVOLUMECLAIMS, ns, str(pc.meta(claim).get("name")),
                                               {"metadata": {"ownerReferences": refs or None}}, "merge"))


def _truncate_history(sts: Obj, revisions: list[Obj], pods: list[Obj], live: set[str], out: Result) -> None:
    """truncateHistory: keep revisionHistoryLimit revisions besides the current, update and pods' ones."""
    live = live | {revision_of(p) for p in pods}
    old = sorted((r for r in history.owned(sts, revisions) if pc.meta(r).get("name") not in live),
                 key=history.revision_number)
    limit = int(pc.spec(sts).get("revisionHistoryLimit", 10))
    for r in old[:max(0, len(old) - limit)]:
        md = pc.meta(r)
        out.revision_deletes.append(Delete(CONTROLLERREVISIONS, md.get("namespace"), str(md.get("name")),
                                           uid=md.get("uid")))


def _status(sts: Obj, pods: list[Obj], current: str, update: str, collisions: int, now: float) -> Obj:
    """computeReplicaStatus, and a finished rolling update makes the update revision current."""
    min_ready = int(pc.spec(sts).get("minReadySeconds") or 0)
    replicas = ready = available = current_n = updated = 0
    for p in pods:
        if is_created(p):
            replicas += 1
        if is_running_and_ready(p):
            ready += 1
            if pc.is_available(p, min_ready, now):
                available += 1
        if is_created(p) and not is_terminating(p):
            current_n += revision_of(p) == current
            updated += revision_of(p) == update
    status: Obj = {"observedGeneration": pc.meta(sts).get("generation"), "replicas": replicas,
                   "readyReplicas": ready, "currentReplicas": current_n, "updatedReplicas": updated,
                   "availableReplicas": available, "currentRevision": current, "updateRevision": update,
                   "collisionCount": collisions}
    strategy = (pc.spec(sts).get("updateStrategy") or {}).get("type", "RollingUpdate")
    want = int(pc.spec(sts).get("replicas", 1))
    if strategy == "RollingUpdate" and updated == want and ready == want and replicas == want:
        status["currentReplicas"] = updated
        status["currentRevision"] = update
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
        if not status[key]:
            status.pop(key)
    return status


def status_update(sts: Obj, status: Obj) -> Update | None:
    if status == pc.status(sts):
        return None
    return pc.status_put(STATEFULSETS, sts, status)
