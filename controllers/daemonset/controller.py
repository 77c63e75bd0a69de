"""The DaemonSet controller's thin adapter (kube's daemon_controller.go event handlers and sync I/O).

Decisions are in `reconcile`. This module keeps what kube keeps in memory (creation/deletion expectations, the
failed-pod back-off per node) and performs a sync in kube's order: the ControllerRevision for the current
template, pod deletions, slow-start creations with their events, then the status write.
"""

from __future__ import annotations

from typing import Any

from controllers import adoption, podwrites, revisions
from controllers import podcontrol as pc
from controllers.daemonset import reconcile as core
from controllers.machinery.client import APIError
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute, perform
from controllers.machinery.expectations import ControllerExpectations
from controllers.machinery.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from controllers.replicaset.reconcile import Kind

Obj = dict[str, Any]
KIND = Kind(DAEMONSETS, "daemonset-controller", map_selector=False)


class DaemonSetController(Controller):
    name = "daemonset"
    resources = (DAEMONSETS, NODES, PODS, CONTROLLERREVISIONS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = ctx.informer(DAEMONSETS)
        self.nodes = ctx.informer(NODES)
        self.pods = ctx.informer(PODS)
        self.revisions = ctx.informer(CONTROLLERREVISIONS)
        self.recorder = ctx.recorder("daemonset-controller")
        self.expectations = ControllerExpectations()
        self.backoff: dict[str, dict[str, core.Backoff]] = {}
        self.sets.add_handlers(self.enqueue, lambda old, new: self.enqueue(new), self._set_deleted)
        self.nodes.add_handlers(self._all, self._node_updated, self._all)
        self.pods.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)
        self.revisions.add_handlers(self._owner, lambda old, new: self._owner(new), self._owner)

    def _set_deleted(self, ds: Obj) -> None:
        self._forget(self.key_of(ds))

    def _forget(self, key: str) -> None:
        self.expectations.delete_expectations(key)
        self.backoff.pop(key, None)

    def _all(self, _node: Obj) -> None:
        for ds in self.sets.store.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        """Only what placement reads: labels, taints, the node's name-pinned fields."""
        if (pc.meta(old).get("labels") != pc.meta(new).get("labels")
                or pc.spec(old).get("taints") != pc.spec(new).get("taints")):
            self._all(new)

    def _owner(self, obj: Obj) -> None:
        self.enqueue_controller_of(obj, "DaemonSet")

    def _owner_key(self, pod: Obj) -> str | None:
        ref = pc.controller_of(pod)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        ds = self.sets.store.get_by(pc.meta(pod).get("namespace"), str(ref.get("name")))
        if ds is None or pc.meta(ds).get("uid") != ref.get("uid"):
            return None
        return self.key_of(ds)

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.enqueue_key(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        if key is not None:
            if pc.meta(new).get("deletionTimestamp") and not pc.meta(old).get("deletionTimestamp"):
                self.expectations.deletion_observed(key)
            self.enqueue_key(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key)  # observing twice is harmless, missing one is not
            self.enqueue_key(key)

    async def sync(self, key: str) -> None:
        ds = self.sets.store.get(key)
        if ds is None:
            self._forget(key)
            return
        now = self.ctx.clock()
        ns = str(pc.meta(ds).get("namespace"))
        pods = await adoption.claim(self.ctx.client, KIND, ds, self.pods.store.by_index("namespace", ns))
        revs = await revisions.adopt_orphans(self.ctx.client, DAEMONSETS, ds, self.revisions.store.by_index("namespace", ns))
        result = core.sync(ds, self.nodes.store.list(), pods, revs, now,
                           satisfied_expectations=self.expectations.satisfied(key, now),
                           backoff=self.backoff.get(key))
        self.backoff[key] = result.backoff
        for e in result.events:
            self.recorder.event(e.involved, e.type, e.reason, e.message)
        await revisions.write(self.ctx.client, DAEMONSETS, ds, result.revisions)
        errors: list[Exception] = []
        pod_deletes = [d for d in result.deletes if d.resource == PODS]
        await podwrites.delete_pods(self.ctx.client, self.recorder, self.expectations, key, ds, pod_deletes,
                                    self.ctx.clock(), errors)
        for o in await execute(self.ctx.client, [d for d in result.deletes if d.resource != PODS]):
            if o.error is not None and not (isinstance(o.error, APIError) and o.error.not_found):
                errors.append(o.error)
        await podwrites.create_pods(self.ctx.client, self.recorder, self.expectations, key, ds, result.creates, now,
                                    errors)
        update = core.status_update(ds, result.status) if result.status is not None else None
        if update is not None:
            outcome = await perform(self.ctx.client, update, None)
            if outcome.error is not None:
                errors.append(outcome.error)
        if result.requeue_after is not None:
            self.enqueue_after(key, max(result.requeue_after, 0.0))
        if errors:
            raise errors[0]


def new_controller(ctx: ControllerContext) -> DaemonSetController:
    return DaemonSetController(ctx)
