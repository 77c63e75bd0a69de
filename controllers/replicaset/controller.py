"""The thin adapter of the ReplicaSet and ReplicationController controllers (kube's replica_set.go event handlers
and syncReplicaSet), on the shared machinery: informers for the owners and pods, UID-tracking expectations,
slow-start creations, events, the status write. Decisions are in `reconcile`."""

from __future__ import annotations

import logging
from typing import Any

from controllers import adoption
from controllers.machinery.actions import Create, Delete, Event, Outcome, Update
from controllers.machinery.client import APIError, error_text
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute, execute_slow_start, perform
from controllers.machinery.expectations import UIDTrackingControllerExpectations
from controllers.machinery.labels import SelectorError
from controllers.machinery.resources import PODS
from controllers.podcontrol import controller_of, is_ready, meta
from controllers.replicaset import reconcile as core
from controllers.replicaset.reconcile import is_adoption

log = logging.getLogger(__name__)
Object = dict[str, Any]


def pod_key(pod: Object) -> str:
    m = meta(pod)
    return f"{m.get('namespace')}/{m.get('name')}"


class ReplicaController(Controller):
    """One controller per Kind (REPLICA_SET or REPLICATION_CONTROLLER), as kube runs two ReplicaSetControllers."""

    def __init__(self, ctx: ControllerContext, kind: core.Kind, name: str) -> None:
        self.kind = kind
        self.resources = (kind.resource, PODS)
        super().__init__(ctx, name)
        self.owners = ctx.informer(kind.resource)
        self.pods = ctx.informer(PODS)
        self.expectations = UIDTrackingControllerExpectations()
        self.recorder = ctx.recorder(kind.component)
        self.owners.add_handlers(self.enqueue, lambda old, new: self.enqueue(new), self._owner_deleted)
        self.pods.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)

    # ---------------------------------------------------------------- event handlers
    def _owner_deleted(self, owner: Object) -> None:
        key = self.key_of(owner)
        self.expectations.delete_expectations(key)
        self.enqueue_key(key)

    def _resolve(self, pod: Object, ref: Object | None) -> Object | None:
        """resolveControllerRef: the cached owner the reference names, if kind and UID match."""
        if ref is None or ref.get("kind") != self.kind.kind:
            return None
        owner = self.owners.store.get_by(meta(pod).get("namespace"), str(ref.get("name")))
        if owner is None or meta(owner).get("uid") != ref.get("uid"):
            return None
        return owner

    def _matching_owners(self, pod: Object) -> list[Object]:
        """getPodReplicaSets: the owners in the pod's namespace whose selector selects it (for orphans)."""
        pod_labels = meta(pod).get("labels") or {}
        found = []
        for owner in self.owners.store.by_index("namespace", str(meta(pod).get("namespace"))):
            try:
                selector = core.selector_of(self.kind, owner)
            except SelectorError:
                continue
            if not selector.empty() and selector.matches(pod_labels):
                found.append(owner)
        return found

    def _pod_added(self, pod: Object) -> None:
        if meta(pod).get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        ref = controller_of(pod)
        if ref is not None:
            owner = self._resolve(pod, ref)
            if owner is not None:
                key = self.key_of(owner)
                self.expectations.creation_observed(key)
                self.enqueue_key(key)
            return
        for owner in self._matching_owners(pod):
            self.enqueue(owner)

    def _pod_updated(self, old: Object, cur: Object) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        labels_changed = (meta(old).get("labels") or {}) != (meta(cur).get("labels") or {})
        if meta(cur).get("deletionTimestamp"):
            self._pod_deleted(cur)
            if labels_changed:
                self._pod_deleted(old)
            return
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        if old_ref is not None and old_ref != cur_ref:
            previous = self._resolve(old, old_ref)
            if previous is not None:
                self.enqueue(previous)
        if cur_ref is not None:
            owner = self._resolve(cur, cur_ref)
            if owner is None:
                return
            self.enqueue(owner)
            min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
            if not is_ready(old) and is_ready(cur) and min_ready > 0:
                self.enqueue_after(owner, min_ready + 1.0)
            return
        if labels_changed or old_ref != cur_ref:
            for owner in self._matching_owners(cur):
                self.enqueue(owner)

    def _pod_deleted(self, pod: Object) -> None:
        owner = self._resolve(pod, controller_of(pod))
        if owner is None:
            return
        key = self.key_of(owner)
        self.expectations.deletion_observed(key, pod_key(pod))
        self.enqueue_key(key)

    # ---------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        owner = self.owners.store.get(key)
        if owner is None:
            self.expectations.delete_expectations(key)
            return
        now_s, now = self.ctx.clock(), self.ctx.now()
        needs_sync = self.expectations.satisfied(key, now_s)
        try:
            selector = core.selector_of(self.kind, owner)
        except SelectorError as e:
            log.error("error converting pod selector to selector for %s %s: %s", self.kind.kind, key, e)
            return
        ns = meta(owner).get("namespace")
        active = core.active_pods(self.pods.store.by_index("namespace", str(ns)))
        claimed = await self._claim(owner, selector, active)
        manage_error: Exception | None = None
        if needs_sync and not meta(owner).get("deletionTimestamp"):
            manage_error = await self._manage(key, owner, claimed, now_s)
        status = core.calculate_status(owner, claimed, None if manage_error is None else error_text(manage_error),
                                       now)
        written = await self._write_status(owner, status)
        after = core.min_ready_requeue(owner, written, manage_error is None)
        if after is not None:
            self.enqueue_after(key, after)
        if manage_error is not None:
            raise manage_error

    async def _claim(self, owner: Object, selector: Any, active: list[Object]) -> list[Object]:
        claim = core.claim_pods(self.kind, owner, selector, active)
        if not claim.actions:
            return claim.pods
        if any(is_adoption(a) for a in claim.actions):  # canAdopt is asked only before an adoption, as in kube
            await self._recheck_owner(owner)
        return await adoption.execute_claim(self.ctx.client, claim.actions, claim.pods)

    async def _recheck_owner(self, owner: Object) -> None:
        """canAdopt: a live read, so a just-deleted or re-created owner never adopts (RecheckDeletionTimestamp)."""
        m = meta(owner)
        fresh = await self.ctx.client.get(self.kind.resource, m.get("namespace"), m["name"])
        fm = meta(fresh)
        if fm.get("uid") != m.get("uid"):
            raise RuntimeError(f"original {self.kind.kind} {m.get('namespace')}/{m['name']} is gone: "
                               f"got uid {fm.get('uid')}, wanted {m.get('uid')}")
        if fm.get("deletionTimestamp"):
            raise RuntimeError(f"{self.kind.kind} {m.get('namespace')}/{m['name']} has just been deleted at "
                               f"{fm['deletionTimestamp']}")

    def _related_pods(self, owner: Object) -> list[Object]:
        """getIndirectlyRelatedPods: pods of every set under the same controller (or of this set alone)."""
        ref = controller_of(owner)
        if ref is None:
            sets = [owner]
        else:
            sets = [o for o in self.owners.store.by_index("namespace", str(meta(owner).get("namespace")))
                    if (controller_of(o) or {}).get("uid") == ref.get("uid")]
        pods: dict[str, Object] = {}
        for rs in sets:
            for pod in self.pods.store.by_index("owner_uid", str(meta(rs).get("uid"))):
                pods[str(meta(pod).get("uid"))] = pod
        return list(pods.values())

    async def _manage(self, key: str, owner: Object, claimed: list[Object], now_s: float) -> Exception | None:
        diff = len(claimed) - core.replicas_of(owner)
        related = self._related_pods(owner) if diff > 0 else []
        actions = core.manage_replicas(self.kind, owner, claimed, related, self.ctx.now())
        if not actions:
            return None
        if isinstance(actions[0], Create):
            return await self._create(key, owner, actions, now_s)
        return await self._delete(key, owner, actions, now_s)

    async def _create(self, key: str, owner: Object, actions: list[Any], now_s: float) -> Exception | None:
        self.expectations.expect_creations(key, len(actions), now_s)
        template_labels = ((owner.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
        if not template_labels:
            outcomes = [Outcome(actions[0], None, RuntimeError("unable to create pods, no labels"))]
        else:
            outcomes = await execute_slow_start(self.ctx.client, actions)
        first: Exception | None = None
        succeeded = 0
        for o in outcomes:
            if o.error is None:
                succeeded += 1
                self._record(core.created_event(owner, meta(o.object or {}).get("name", "")))
                continue
            if isinstance(o.error, APIError) and _namespace_terminating(o.error):
                continue
            if not (isinstance(o.error, APIError) and o.error.code == 504):  # a timeout may still have created it
                self._record(core.create_failed_event(owner, error_text(o.error)))
            first = first or o.error
        for _ in range(len(actions) - succeeded):
            self.expectations.creation_observed(key)
        return first

    async def _delete(self, key: str, owner: Object, actions: list[Any], now_s: float) -> Exception | None:
        ns = meta(owner).get("namespace")
        self.expectations.expect_deletions(key, [f"{ns}/{a.name}" for a in actions], now_s)
        first: Exception | None = None
        for o in await execute(self.ctx.client, actions, concurrency=len(actions)):
            assert isinstance(o.action, Delete)
            if o.error is None:
                self._record(core.deleted_event(owner, o.action.name))
                continue
            self.expectations.deletion_observed(key, f"{ns}/{o.action.name}")
            if isinstance(o.error, APIError) and o.error.not_found:
                continue
            self._record(core.delete_failed_event(owner, error_text(o.error)))
            first = first or RuntimeError(f"unable to delete pods: {error_text(o.error)}")
        return first

    def _record(self, ev: Event) -> None:
        self.recorder.event(ev.involved, ev.type, ev.reason, ev.message)

    async def _write_status(self, owner: Object, status: Object) -> Object:
        """updateReplicaSetStatus: one retry against a fresh read when the cached copy was stale."""
        action = core.status_update(self.kind, owner, status)
        if action is None:
            return status
        outcome = await perform(self.ctx.client, action, None)
        if isinstance(outcome.error, APIError) and outcome.error.conflict:
            m = meta(owner)
            fresh = await self.ctx.client.get(self.kind.resource, m.get("namespace"), m["name"])
            body = dict(action.body)
            body["metadata"] = {**action.body["metadata"], "resourceVersion": meta(fresh).get("resourceVersion")}
            outcome = await perform(self.ctx.client, Update(action.resource, action.namespace, action.name, body,
                                                            "status"), None)
        if outcome.error is not None:
            raise outcome.error
        return (outcome.object or {}).get("status") or status


def _namespace_terminating(e: APIError) -> bool:
    causes = (e.status.get("details") or {}).get("causes") or []
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)


def new_replicaset_controller(ctx: ControllerContext) -> ReplicaController:
    return ReplicaController(ctx, core.REPLICA_SET, "replicaset")


def new_replication_controller(ctx: ControllerContext) -> ReplicaController:
    return ReplicaController(ctx, core.REPLICATION_CONTROLLER, "replicationcontroller")
