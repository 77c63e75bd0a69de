"""The Deployment controller's pure core: kube-controller-manager 1.32's syncDeployment (sync.go, rolling.go,
recreate.go, progress.go) as one function of the Deployment, its ReplicaSets, their pods and `now`.

kube performs its writes one after another inside the sync, each on the object the previous write returned.
Here the same walk runs on working copies and records each write as an action, in kube's order; the adapter
executes them in that order, stops at the first failure (the key is retried, as kube returns the error) and
carries each object's new resourceVersion to the next write of the same object. A failed or colliding creation
of the new ReplicaSet is turned into kube's follow-up writes by `create_failed` and `create_collided`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from controllers.deployment import util as u
from controllers.deployment.hashing import compute_hash
from controllers.machinery import labels
from controllers.machinery.actions import Action, Create, Delete, Event, Patch, Update
from controllers.machinery.resources import DEPLOYMENTS, REPLICASETS
from controllers.podcontrol import controller_of, parse_datetime

Object = dict[str, Any]
EventType = Literal["Normal", "Warning"]
PodMap = Mapping[str, Sequence[Object]]  # ReplicaSet uid -> its pods matching the Deployment's selector


@dataclass
class Plan:
    """The writes of one sync in order, when to look again, and what the adapter needs if the creation fails."""
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None  # seconds; 0 means "again soon, rate limited"
    created: Create | None = None
    deployment_at_create: Object | None = None


def controller_ref_to(d: Object) -> Object:
    m = d["metadata"]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": m["name"], "uid": m["uid"], "controller": True,
            "blockOwnerDeletion": True}


def _status_json(status: Object) -> Object:
    """Go's omitempty on DeploymentStatus: zero counts and a nil collisionCount are absent."""
    return {k: v for k, v in status.items() if v not in (None, 0, [], {})}


class _Sync:
    def __init__(self, d: Object, rss: Sequence[Object], pod_map: PodMap, now: datetime) -> None:
        self.original = d
        self.d = copy.deepcopy(d)
        self.d.setdefault("status", {})
        self.rss = [copy.deepcopy(rs) for rs in rss]
        self.pod_map = pod_map
        self.now = now
        self.plan = Plan()
        self.ns = d["metadata"].get("namespace")
        self.name = d["metadata"]["name"]

    # ---------------------------------------------------------------- writes
    def event(self, type_: EventType, reason: str, message: str) -> None:
        self.plan.actions.append(Event(self.original, type_, reason, message))

    def write_status(self) -> None:
        body = copy.deepcopy(self.d)
        body["status"] = _status_json(body["status"])
        self.plan.actions.append(Update(DEPLOYMENTS, self.ns, self.name, body, "status"))

    def write_annotations(self) -> None:
        """kube carries the revision annotation in its UpdateStatus; this API server keeps metadata out of /status
        writes (as most kinds do), so it goes through the main resource, which the controller's role may update."""
        self.plan.actions.append(Update(DEPLOYMENTS, self.ns, self.name, copy.deepcopy(self.d)))

    def write_rs(self, rs: Object) -> None:
        self.plan.actions.append(Update(REPLICASETS, self.ns, rs["metadata"]["name"], copy.deepcopy(rs)))

    # ---------------------------------------------------------------- new and old ReplicaSets
    def all_and_sync_revision(self, create: bool) -> tuple[Object | None, list[Object]]:
        olds = u.find_old(self.d, self.rss, u.find_new(self.d, self.rss))
        return self.new_replicaset(olds, create), olds

    def set_revision(self, rev: str) -> bool:
        ann = u.meta(self.d).setdefault("annotations", {})
        if ann.get(u.REVISION) == rev:
            return False
        ann[u.REVISION] = rev
        return True

    def new_replicaset(self, olds: list[Object], create: bool) -> Object | None:
        d = self.d
        existing = u.find_new(d, self.rss)
        new_revision = str(u.max_revision(olds) + 1)
        if existing is not None:
            annotations_updated = u.set_new_replicaset_annotations(d, existing, new_revision, True)
            want_mrs = int(d["spec"].get("minReadySeconds") or 0)
            if annotations_updated or int(existing["spec"].get("minReadySeconds") or 0) != want_mrs:
                if want_mrs:
                    existing["spec"]["minReadySeconds"] = want_mrs
                else:
                    existing["spec"].pop("minReadySeconds", None)
                self.write_rs(existing)
                return existing
            meta_changed = self.set_revision(u.meta(existing).get("annotations", {}).get(u.REVISION, ""))
            status_changed = False
            if u.has_progress_deadline(d) and u.get_condition(d["status"], "Progressing") is None:
                u.set_condition(d["status"], u.new_condition(
                    "Progressing", "True", u.FOUND_NEW_RS, f'Found new replica set "{existing["metadata"]["name"]}"',
                    self.now))
                status_changed = True
            if meta_changed:
                self.write_annotations()
            if status_changed:
                self.write_status()
            return existing
        if not create:
            return None
        template = copy.deepcopy(d["spec"].get("template") or {})
        pod_hash = compute_hash(template, d["status"].get("collisionCount"))
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), u.HASH_LABEL: pod_hash}
        selector = copy.deepcopy(d["spec"].get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), u.HASH_LABEL: pod_hash}
        name = f"{self.name}-{pod_hash}"
        rs_spec: Object = {"replicas": 0, "selector": selector, "template": template}
        if d["spec"].get("minReadySeconds"):
            rs_spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
        new: Object = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                       "metadata": {"name": name, "namespace": self.ns, "labels": dict(tmeta["labels"]),
                                    "ownerReferences": [controller_ref_to(self.original)]},
                       "spec": rs_spec}
        count = u.new_rs_new_replicas(d, [*olds, new], new)
        new["spec"]["replicas"] = count
        u.set_new_replicaset_annotations(d, new, new_revision, False)
        create_action = Create(REPLICASETS, self.ns, copy.deepcopy(new))
        self.plan.actions.append(create_action)
        self.plan.created = create_action
        self.plan.deployment_at_create = copy.deepcopy(d)
        self.rss.append(new)
        if count > 0:
            self.event("Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {count}")
        meta_changed = self.set_revision(new_revision)
        if u.has_progress_deadline(d):
            u.set_condition(d["status"], u.new_condition("Progressing", "True", u.NEW_RS_CREATED,
                                                         f'Created new replica set "{name}"', self.now))
            self.write_status_after(meta_changed)
        elif meta_changed:
            self.write_annotations()
        return new

    def write_status_after(self, meta_changed: bool) -> None:
        if meta_changed:
            self.write_annotations()
        self.write_status()

    # ---------------------------------------------------------------- scaling
    def scale_and_record(self, rs: Object, new_scale: int) -> bool:
        """scaleReplicaSetAndRecordEvent."""
        if u.replicas(rs) == new_scale:
            return False
        return self.scale(rs, new_scale)

    def scale(self, rs: Object, new_scale: int) -> bool:
        """scaleReplicaSet: the size and the desired/max annotations in one update; an event if the size moved."""
        d = self.d
        size_changes = u.replicas(rs) != new_scale
        want_max = u.replicas(d) + u.max_surge(d)
        if not size_changes and not u.replicas_annotations_need_update(rs, u.replicas(d), want_max):
            return False
        old = u.replicas(rs)
        rs["spec"]["replicas"] = new_scale
        u.set_replicas_annotations(rs, u.replicas(d), want_max)
        self.write_rs(rs)
        if size_changes:
            op = "up" if old < new_scale else "down"
            self.event("Normal", "ScalingReplicaSet",
                       f"Scaled {op} replica set {rs['metadata']['name']} from {old} to {new_scale}")
        return size_changes

    def proportional_scale(self, new: Object | None, olds: list[Object]) -> None:
        """scale(): a scaling event, or a paused Deployment resized."""
        d = self.d
        target = u.find_active_or_latest(new, olds)
        if target is not None:
            if u.replicas(target) != u.replicas(d):
                self.scale_and_record(target, u.replicas(d))
            return
        if u.is_saturated(d, new):
            for old in u.active(olds):
                self.scale_and_record(old, 0)
            return
        if not u.is_rolling_update(d):
            return
        live = u.active([*olds, new])
        allowed = u.replicas(d) + u.max_surge(d) if u.replicas(d) > 0 else 0
        to_add = allowed - u.sum_spec(live)
        if to_add > 0:
            live = u.by_size_newer(live)
        elif to_add < 0:
            live = u.by_size_older(live)
        added = 0
        sizes: list[int] = []
        for rs in live:
            if to_add != 0:
                share = u.proportion(rs, d, to_add, added)
                sizes.append(u.replicas(rs) + share)
                added += share
            else:
                sizes.append(u.replicas(rs))
        for i, rs in enumerate(live):
            size = sizes[i]
            if i == 0 and to_add != 0:
                size = max(size + to_add - added, 0)
            self.scale(rs, size)

    def cleanup(self, olds: list[Object]) -> None:
        """cleanupDeployment: delete the oldest idle sets beyond revisionHistoryLimit."""
        d = self.d
        if not u.has_revision_history_limit(d):
            return
        alive = [rs for rs in olds if not rs["metadata"].get("deletionTimestamp")]
        diff = len(alive) - int(d["spec"]["revisionHistoryLimit"])
        if diff <= 0:
            return
        for rs in u.by_revision(alive)[:diff]:
            m = rs["metadata"]
            if (u.status_int(rs, "replicas") != 0 or u.replicas(rs) != 0
                    or int(m.get("generation") or 0) > u.status_int(rs, "observedGeneration")):
                continue
            self.plan.actions.append(Delete(REPLICASETS, self.ns, m["name"]))

    # ---------------------------------------------------------------- strategies
    def rolling(self) -> None:
        new, olds = self.all_and_sync_revision(True)
        assert new is not None
        all_rss: list[Object | None] = [*olds, new]
        if self.reconcile_new(all_rss, new):
            self.rollout_status(all_rss, new)
            return
        if self.reconcile_old(all_rss, u.active(olds), new):
            self.rollout_status(all_rss, new)
            return
        if u.deployment_complete(self.d, self.d["status"]):
            self.cleanup(olds)
        self.rollout_status(all_rss, new)

    def reconcile_new(self, all_rss: list[Object | None], new: Object) -> bool:
        want = u.replicas(self.d)
        if u.replicas(new) == want:
            return False
        if u.replicas(new) > want:
            return self.scale_and_record(new, want)
        return self.scale_and_record(new, u.new_rs_new_replicas(self.d, all_rss, new))

    def reconcile_old(self, all_rss: list[Object | None], olds: list[Object], new: Object) -> bool:
        if u.sum_spec(olds) == 0:
            return False
        d = self.d
        min_available = u.replicas(d) - u.max_unavailable(d)
        new_unavailable = u.replicas(new) - u.status_int(new, "availableReplicas")
        max_scaled_down = u.sum_spec(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self.cleanup_unhealthy(olds, max_scaled_down)
        if cleaned is None:
            return False
        scaled = self.scale_down_old_rolling([*olds, new], olds)
        return cleaned + scaled > 0

    def cleanup_unhealthy(self, olds: list[Object], max_cleanup: int) -> int | None:
        total = 0
        for rs in u.by_creation(olds):
            if total >= max_cleanup:
                break
            want, avail = u.replicas(rs), u.status_int(rs, "availableReplicas")
            if want == 0 or want == avail:
                continue
            count = min(max_cleanup - total, want - avail)
            if want - count > want:
                return None  # kube refuses to "scale down" upwards and stops scaling for this sync
            self.scale_and_record(rs, want - count)
            total += count
        return total

    def scale_down_old_rolling(self, all_rss: list[Object | None], olds: list[Object]) -> int:
        d = self.d
        min_available = u.replicas(d) - u.max_unavailable(d)
        available = u.sum_status(all_rss, "availableReplicas")
        if available <= min_available:
            return 0
        total, budget = 0, available - min_available
        for rs in u.by_creation(olds):
            if total >= budget:
                break
            if u.replicas(rs) == 0:
                continue
            count = min(u.replicas(rs), budget - total)
            self.scale_and_record(rs, u.replicas(rs) - count)
            total += count
        return total

    def recreate(self) -> None:
        new, olds = self.all_and_sync_revision(False)
        all_rss: list[Object | None] = [*olds, new]
        scaled = False
        for rs in u.active(olds):
            scaled = self.scale_and_record(rs, 0) or scaled
        if scaled or self.old_pods_running(new, olds):
            self.rollout_status(all_rss, new)
            return
        if new is None:
            new, olds = self.all_and_sync_revision(True)
            all_rss = [*olds, new]
        assert new is not None
        self.scale_and_record(new, u.replicas(self.d))
        if u.deployment_complete(self.d, self.d["status"]):
            self.cleanup(olds)
        self.rollout_status(all_rss, new)

    def old_pods_running(self, new: Object | None, olds: list[Object]) -> bool:
        if u.sum_status(olds, "replicas") > 0:
            return True
        new_uid = (new or {}).get("metadata", {}).get("uid")
        for uid, pods in self.pod_map.items():
            if new is not None and uid == new_uid:
                continue
            if any((p.get("status") or {}).get("phase") not in ("Failed", "Succeeded") for p in pods):
                return True
        return False

    def scaling_only(self) -> None:
        """sync(): scale (paused or a scaling event), clean up when paused, write the plain status."""
        new, olds = self.all_and_sync_revision(False)
        self.proportional_scale(new, olds)
        if self.d["spec"].get("paused"):
            self.cleanup(olds)
        self.deployment_status([*olds, new], new)

    def is_scaling_event(self) -> bool:
        new, olds = self.all_and_sync_revision(False)
        for rs in u.active([*olds, new]):
            raw = (rs["metadata"].get("annotations") or {}).get(u.DESIRED_REPLICAS)
            try:
                desired = int(raw) if raw is not None else None
            except ValueError:
                desired = None
            if desired is not None and desired != u.replicas(self.d):
                return True
        return False

    # ---------------------------------------------------------------- status
    def calculate_status(self, all_rss: Sequence[Object | None], new: Object | None) -> Object:
        d = self.d
        available = u.sum_status(all_rss, "availableReplicas")
        status: Object = {
            "observedGeneration": int(d["metadata"].get("generation") or 0),
            "replicas": u.sum_status(all_rss, "replicas"),
            "updatedReplicas": u.status_int(new, "replicas"),
            "readyReplicas": u.sum_status(all_rss, "readyReplicas"),
            "availableReplicas": available,
            "unavailableReplicas": max(u.sum_spec(all_rss) - available, 0),
            "collisionCount": d["status"].get("collisionCount"),
            "conditions": [dict(c) for c in d["status"].get("conditions") or []],
        }
        if available >= u.replicas(d) - u.max_unavailable(d):
            u.set_condition(status, u.new_condition("Available", "True", u.MIN_AVAILABLE,
                                                    "Deployment has minimum availability.", self.now))
        else:
            u.set_condition(status, u.new_condition("Available", "False", u.MIN_UNAVAILABLE,
                                                    "Deployment does not have minimum availability.", self.now))
        return _status_json(status)

    def deployment_status(self, all_rss: Sequence[Object | None], new: Object | None) -> None:
        """syncDeploymentStatus."""
        status = self.calculate_status(all_rss, new)
        if _status_json(self.d["status"]) != status:
            self.d["status"] = status
            self.write_status()

    def rollout_status(self, all_rss: Sequence[Object | None], new: Object | None) -> None:
        """syncRolloutStatus: counts, Available, and Progressing from the progress made since the last status."""
        d = self.d
        status = self.calculate_status(all_rss, new)
        if not u.has_progress_deadline(d):
            u.remove_condition(status, "Progressing")
        current = u.get_condition(d["status"], "Progressing")
        complete_already = (int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
                            and current is not None and current.get("reason") == u.NEW_RS_AVAILABLE)
        subject = f'ReplicaSet "{new["metadata"]["name"]}"' if new is not None else f'Deployment "{self.name}"'
        if u.has_progress_deadline(d) and not complete_already:
            if u.deployment_complete(d, status):
                u.set_condition(status, u.new_condition("Progressing", "True", u.NEW_RS_AVAILABLE,
                                                        f"{subject} has successfully progressed.", self.now))
            elif u.deployment_progressing(d, status):
                cond = u.new_condition("Progressing", "True", u.REPLICASET_UPDATED, f"{subject} is progressing.",
                                       self.now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    u.remove_condition(status, "Progressing")
                u.set_condition(status, cond)
            elif u.deployment_timed_out(d, status, self.now):
                u.set_condition(status, u.new_condition("Progressing", "False", u.TIMED_OUT,
                                                        f"{subject} has timed out progressing.", self.now))
        failures = replica_failures(all_rss, new)
        if failures:
            u.set_condition(status, failures[0])
        else:
            u.remove_condition(status, "ReplicaFailure")
        if _status_json(d["status"]) == status:
            self.requeue_stuck(status)
            return
        d["status"] = status
        self.write_status()

    def requeue_stuck(self, status: Object) -> None:
        d = self.d
        current = u.get_condition(d["status"], "Progressing")
        if not u.has_progress_deadline(d) or current is None:
            return
        if u.deployment_complete(d, status) or current.get("reason") == u.TIMED_OUT:
            return
        last = parse_datetime(current.get("lastUpdateTime"))
        if last is None:
            return
        after = (last - self.now).total_seconds() + int(d["spec"]["progressDeadlineSeconds"])
        self.plan.requeue_after = 0.0 if after < 1 else after + 1

    def check_paused_conditions(self) -> None:
        d = self.d
        if not u.has_progress_deadline(d):
            return
        cond = u.get_condition(d["status"], "Progressing")
        if cond is not None and cond.get("reason") == u.TIMED_OUT:
            return
        paused_recorded = cond is not None and cond.get("reason") == u.PAUSED
        paused = bool(d["spec"].get("paused"))
        if paused and not paused_recorded:
            u.set_condition(d["status"], u.new_condition("Progressing", "Unknown", u.PAUSED, "Deployment is paused",
                                                         self.now))
        elif not paused and paused_recorded:
            u.set_condition(d["status"], u.new_condition("Progressing", "Unknown", u.RESUMED,
                                                         "Deployment is resumed", self.now))
        else:
            return
        self.write_status()

    # ---------------------------------------------------------------- entry
    def run(self) -> Plan:
        d = self.d
        if d["spec"].get("selector") == {}:
            self.event("Warning", "SelectingAll",
                       "This deployment is selecting all pods. A non-empty selector is required.")
            if u.status_int(d, "observedGeneration") < int(d["metadata"].get("generation") or 0):
                d["status"]["observedGeneration"] = int(d["metadata"].get("generation") or 0)
                self.write_status()
            return self.plan
        if d["metadata"].get("deletionTimestamp"):
            new, olds = self.all_and_sync_revision(False)
            self.deployment_status([*olds, new], new)
            return self.plan
        self.check_paused_conditions()
        if d["spec"].get("paused") or self.is_scaling_event():
            self.scaling_only()
        elif ((d["spec"].get("strategy") or {}).get("type") or "RollingUpdate") == "Recreate":
            self.recreate()
        else:
            self.rolling()
        return self.plan


def replica_failures(all_rss: Sequence[Object | None], new: Object | None) -> list[Object]:
    """getReplicaFailures: the new set's ReplicaFailure conditions first, else any old set's."""
    def of(rs: Object | None) -> list[Object]:
        if rs is None:
            return []
        return [{"type": c.get("type"), "status": c.get("status"), "lastUpdateTime": c.get("lastTransitionTime"),
                 "lastTransitionTime": c.get("lastTransitionTime"), "reason": c.get("reason"),
                 "message": c.get("message")}
                for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") == "ReplicaFailure"]
    found = of(new)
    if found:
        return found
    return [c for rs in all_rss for c in of(rs)]


def sync_deployment(d: Object, rss: Sequence[Object], pod_map: PodMap, now: datetime) -> Plan:
    """One sync of Deployment `d`, given the ReplicaSets it owns (after claiming) and their pods."""
    return _Sync(d, rss, pod_map, now).run()


# ---------------------------------------------------------------------------------------------- the new set's creation

def create_collided(d: Object, existing: Object) -> list[Action]:
    """The new set's name is taken. Ours with the same template: nothing to do (the cache was behind). Else a
    hash collision: bump status.collisionCount so the next sync hashes differently."""
    ref = controller_of(existing)
    if ref is not None and ref.get("uid") == d["metadata"].get("uid") and \
            u.equal_ignore_hash((d.get("spec") or {}).get("template"), (existing.get("spec") or {}).get("template")):
        return []
    body = copy.deepcopy(d)
    status = body.setdefault("status", {})
    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
    body["status"] = _status_json(status)
    return [Update(DEPLOYMENTS, d["metadata"].get("namespace"), d["metadata"]["name"], body, "status")]


def create_failed(d: Object, rs_name: str, message: str, now: datetime) -> list[Action]:
    """ReplicaSetCreateError: Progressing=False with the API server's message, and a Warning event."""
    msg = f'Failed to create new replica set "{rs_name}": {message}'
    actions: list[Action] = []
    if u.has_progress_deadline(d):
        body = copy.deepcopy(d)
        status = body.setdefault("status", {})
        u.set_condition(status, u.new_condition("Progressing", "False", u.FAILED_RS_CREATE, msg, now))
        body["status"] = _status_json(status)
        actions.append(Update(DEPLOYMENTS, d["metadata"].get("namespace"), d["metadata"]["name"], body, "status"))
    actions.append(Event(d, "Warning", u.FAILED_RS_CREATE, msg))
    return actions


# ---------------------------------------------------------------------------------------------- claiming

@dataclass
class Claim:
    replicasets: list[Object] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


def claim_replicasets(d: Object, rss: Sequence[Object]) -> Claim:
    """ClaimReplicaSets with the Deployment's selector: adopt matching orphans, release owned sets that stopped
    matching; a Deployment being deleted does neither."""
    out = Claim()
    selector = labels.from_label_selector((d.get("spec") or {}).get("selector"))
    uid = d["metadata"].get("uid")
    deleting = bool(d["metadata"].get("deletionTimestamp"))
    for rs in rss:
        m = rs.get("metadata") or {}
        matches = selector.matches(m.get("labels") or {})
        ref = controller_of(rs)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                out.replicasets.append(rs)
            elif not deleting:
                out.actions.append(Patch(REPLICASETS, m.get("namespace"), m["name"], {"metadata": {
                    "ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": m["uid"]}}, "strategic"))
            continue
        if deleting or not matches or m.get("deletionTimestamp"):
            continue
        out.actions.append(Patch(REPLICASETS, m.get("namespace"), m["name"], {"metadata": {
            "ownerReferences": [controller_ref_to(d)], "uid": m["uid"]}}, "strategic"))
        adopted = copy.deepcopy(rs)
        adopted["metadata"].setdefault("ownerReferences", []).append(controller_ref_to(d))
        out.replicasets.append(adopted)
    return out
