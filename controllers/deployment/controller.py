"""The Deployment controller's thin adapter (kube's deployment_controller.go handlers and syncDeployment's I/O):
informers for Deployments, ReplicaSets and pods, ReplicaSet claiming with the canAdopt recheck, then the pure
plan's writes executed in order, each on the resourceVersion the previous write of that object returned."""

from __future__ import annotations

import copy
import logging
from typing import Any

from controllers import adoption
from controllers.deployment import reconcile as core
from controllers.machinery import labels
from controllers.machinery.actions import Action, Delete, Event, Update
from controllers.machinery.client import APIError, error_text
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import perform
from controllers.machinery.resources import DEPLOYMENTS, PODS, REPLICASETS
from controllers.podcontrol import controller_of, meta
from controllers.replicaset.reconcile import is_adoption

log = logging.getLogger(__name__)
Object = dict[str, Any]
MAX_RETRIES = 15  # kube's deployment controller drops a key after 15 failed syncs


class DeploymentController(Controller):
    name = "deployment"
    resources = (DEPLOYMENTS, REPLICASETS, PODS)
    max_retries = MAX_RETRIES

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.deployments = ctx.informer(DEPLOYMENTS)
        self.replicasets = ctx.informer(REPLICASETS)
        self.pods = ctx.informer(PODS)
        self.recorder = ctx.recorder("deployment-controller")
        self.deployments.add_handlers(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.replicasets.add_handlers(self._rs_added, self._rs_updated, self._rs_deleted)
        self.pods.add_handlers(on_delete=self._pod_deleted)

    # ---------------------------------------------------------------- event handlers
    def _owner(self, obj: Object, ref: Object | None) -> Object | None:
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.deployments.store.get_by(meta(obj).get("namespace"), str(ref.get("name")))
        if d is None or meta(d).get("uid") != ref.get("uid"):
            return None
        return d

    def _selecting(self, rs: Object) -> list[Object]:
        """getDeploymentsForReplicaSet: Deployments in the namespace whose non-empty selector matches the set."""
        found = []
        for d in self.deployments.store.by_index("namespace", str(meta(rs).get("namespace"))):
            try:
                selector = labels.from_label_selector((d.get("spec") or {}).get("selector"))
            except labels.SelectorError:
                continue
            if not selector.empty() and selector.matches(meta(rs).get("labels") or {}):
                found.append(d)
        return found

    def _rs_added(self, rs: Object) -> None:
        if meta(rs).get("deletionTimestamp"):
            self._rs_deleted(rs)
            return
        ref = controller_of(rs)
        if ref is not None:
            d = self._owner(rs, ref)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._selecting(rs):
            self.enqueue(d)

    def _rs_updated(self, old: Object, cur: Object) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        if old_ref is not None and old_ref != cur_ref:
            d = self._owner(old, old_ref)
            if d is not None:
                self.enqueue(d)
        if cur_ref is not None:
            d = self._owner(cur, cur_ref)
            if d is not None:
                self.enqueue(d)
            return
        if (meta(old).get("labels") or {}) != (meta(cur).get("labels") or {}) or old_ref != cur_ref:
            for d in self._selecting(cur):
                self.enqueue(d)

    def _rs_deleted(self, rs: Object) -> None:
        d = self._owner(rs, controller_of(rs))
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: Object) -> None:
        """Recreate waits for the old pods to be gone: their deletion may unblock the rollout."""
        rs_ref = controller_of(pod)
        if rs_ref is None or rs_ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.store.get_by(meta(pod).get("namespace"), str(rs_ref.get("name")))
        if rs is None or meta(rs).get("uid") != rs_ref.get("uid"):
            return
        d = self._owner(rs, controller_of(rs))
        if d is not None and ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            self.enqueue(d)

    # ---------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        d = self.deployments.store.get(key)
        if d is None:
            return
        ns = str(meta(d).get("namespace"))
        rss = await self._claim(d, self.replicasets.store.by_index("namespace", ns))
        plan = core.sync_deployment(d, rss, self._pod_map(d, rss), self.ctx.now())
        await self._execute(key, plan)
        if plan.requeue_after is not None:
            if plan.requeue_after <= 0:
                self.enqueue_rate_limited(key)
            else:
                self.enqueue_after(key, plan.requeue_after)

    async def _claim(self, d: Object, rss: list[Object]) -> list[Object]:
        claim = core.claim_replicasets(d, rss)
        if not claim.actions:
            return claim.replicasets
        if any(is_adoption(a) for a in claim.actions):  # canAdopt is asked only before an adoption, as in kube
            await self._recheck(d)
        return await adoption.execute_claim(self.ctx.client, claim.actions, claim.replicasets)

    async def _recheck(self, d: Object) -> None:
        """RecheckDeletionTimestamp: a live read, so a just-deleted or re-created Deployment never adopts."""
        m = meta(d)
        fresh = await self.ctx.client.get(DEPLOYMENTS, m.get("namespace"), m["name"])
        if meta(fresh).get("uid") != m.get("uid"):
            raise RuntimeError(f"original Deployment {m.get('namespace')}/{m['name']} is gone: got uid "
                               f"{meta(fresh).get('uid')}, wanted {m.get('uid')}")
        if meta(fresh).get("deletionTimestamp"):
            raise RuntimeError(f"Deployment {m.get('namespace')}/{m['name']} has just been deleted at "
                               f"{meta(fresh)['deletionTimestamp']}")

    def _pod_map(self, d: Object, rss: list[Object]) -> dict[str, list[Object]]:
        """getPodMapForDeployment: the Deployment's pods grouped by the ReplicaSet controlling them."""
        selector = labels.from_label_selector((d.get("spec") or {}).get("selector"))
        by_uid: dict[str, list[Object]] = {str(meta(rs).get("uid")): [] for rs in rss if meta(rs).get("uid")}
        for pod in self.pods.store.by_index("namespace", str(meta(d).get("namespace"))):
            ref = controller_of(pod)
            if ref is None or not selector.matches(meta(pod).get("labels") or {}):
                continue
            if ref.get("uid") in by_uid:
                by_uid[str(ref["uid"])].append(pod)
        return by_uid

    async def _execute(self, key: str, plan: core.Plan) -> None:
        latest: dict[tuple[str, str], str] = {}
        try:
            await self._run(plan.actions, latest, plan)
        except _CreateFailed as failed:
            await self._creation_failed(key, plan, failed.error, latest)

    async def _run(self, actions: list[Action], latest: dict[tuple[str, str], str], plan: core.Plan | None) -> None:
        for action in actions:
            if isinstance(action, Event):
                self.recorder.event(action.involved, action.type, action.reason, action.message)
                continue
            target = (action.resource.plural, str(getattr(action, "name", "")))
            if isinstance(action, Update) and target in latest:
                body = copy.deepcopy(action.body)
                body["metadata"]["resourceVersion"] = latest[target]
                action = Update(action.resource, action.namespace, action.name, body, action.subresource)
            outcome = await perform(self.ctx.client, action, None)
            if outcome.error is not None:
                if plan is not None and action is plan.created:
                    raise _CreateFailed(outcome.error)
                if isinstance(action, Delete) and isinstance(outcome.error, APIError) and outcome.error.not_found:
                    continue
                raise outcome.error
            obj = outcome.object or {}
            rv = meta(obj).get("resourceVersion")
            if rv:
                name = meta(obj).get("name") or target[1]
                latest[(action.resource.plural, str(name))] = str(rv)

    async def _creation_failed(self, key: str, plan: core.Plan, error: Exception,
                               latest: dict[tuple[str, str], str]) -> None:
        assert plan.created is not None and plan.deployment_at_create is not None
        d = plan.deployment_at_create
        rs_name = plan.created.body["metadata"]["name"]
        if isinstance(error, APIError) and error.already_exists:
            existing = self.replicasets.store.get_by(meta(d).get("namespace"), rs_name)
            if existing is None:
                raise error
            follow_up = core.create_collided(d, existing)
            if not follow_up:
                self.enqueue_key(key)  # ours after all: the cache was behind; the next sync finds it
                return
            await self._run(follow_up, latest, None)
            raise error
        if isinstance(error, APIError) and any(c.get("reason") == "NamespaceTerminating" for c in
                                               (error.status.get("details") or {}).get("causes") or []):
            raise error
        try:
            await self._run(core.create_failed(d, rs_name, error_text(error), self.ctx.now()), latest, None)
        except APIError as e:
            log.info("deployment %s: could not record the failed creation: %s", key, e)
        raise error


class _CreateFailed(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def new_controller(ctx: ControllerContext) -> DeploymentController:
    return DeploymentController(ctx)
