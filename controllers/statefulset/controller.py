"""The StatefulSet controller's thin adapter (kube's stateful_set.go event handlers and the pod/claim writes of
stateful_pod_control.go). Decisions are in `reconcile`; pods have fixed names, so a creation racing a stale cache
ends in AlreadyExists, which is not a failure (kube keeps no expectations here either)."""

from __future__ import annotations

from typing import Any

from controllers import adoption, revisions
from controllers import podcontrol as pc
from controllers.machinery.actions import Create
from controllers.machinery.client import APIError, error_text
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute, perform
from controllers.machinery.resources import CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS
from controllers.replicaset.reconcile import Kind
from controllers.statefulset import reconcile as core

Obj = dict[str, Any]
KIND = Kind(STATEFULSETS, "statefulset-controller", map_selector=False)


def _benign(e: Exception | None, *, exists: bool = False, missing: bool = False) -> bool:
    return e is None or (isinstance(e, APIError) and ((exists and e.already_exists) or (missing and e.not_found)))


class StatefulSetController(Controller):
    name = "statefulset"
    resources = (STATEFULSETS, PODS, PERSISTENTVOLUMECLAIMS, CONTROLLERREVISIONS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = ctx.informer(STATEFULSETS)
        self.pods = ctx.informer(PODS)
        self.claims = ctx.informer(PERSISTENTVOLUMECLAIMS)
        self.revisions = ctx.informer(CONTROLLERREVISIONS)
        self.recorder = ctx.recorder("statefulset-controller")
        self.sets.add_handlers(self.enqueue, lambda old, new: self.enqueue(new), None)
        owner = self._owner
        self.pods.add_handlers(owner, lambda old, new: owner(new), owner)
        self.revisions.add_handlers(owner, lambda old, new: owner(new), owner)

    def _owner(self, obj: Obj) -> None:
        self.enqueue_controller_of(obj, "StatefulSet")

    async def sync(self, key: str) -> None:
        sts = self.sets.store.get(key)
        if sts is None:
            return
        ns = str(pc.meta(sts).get("namespace"))
        set_name = str(pc.meta(sts).get("name"))
        members = [p for p in self.pods.store.by_index("namespace", ns) if core.ordinal(set_name, p) is not None]
        pods = await adoption.claim(self.ctx.client, KIND, sts, members)  # isMemberOf: only `<set>-<n>` pods
        revs = await revisions.adopt_orphans(self.ctx.client, STATEFULSETS, sts,
                                             self.revisions.store.by_index("namespace", ns))
        result = core.sync(sts, pods, self.claims.store.by_index("namespace", ns), revs, self.ctx.clock())
        await revisions.write(self.ctx.client, STATEFULSETS, sts, result.revisions)
        for e in result.events:
            self.recorder.event(e.involved, e.type, e.reason, e.message)
        errors: list[Exception] = []
        for o in await execute(self.ctx.client, result.claim_patches):
            if o.error is not None and not _benign(o.error, missing=True):
                errors.append(o.error)
        for o in await execute(self.ctx.client, result.revision_deletes):
            if o.error is not None and not _benign(o.error, missing=True):
                errors.append(o.error)
        for o in await execute(self.ctx.client, result.deletes):
            name = getattr(o.action, "name", "")
            if o.error is None:
                self.recorder.event(sts, "Normal", "SuccessfulDelete",
                                    f"delete Pod {name} in StatefulSet {set_name} successful")
            elif not _benign(o.error, missing=True):
                self.recorder.event(sts, "Warning", "FailedDelete",
                                    f"delete Pod {name} in StatefulSet {set_name} failed error: {error_text(o.error)}")
                errors.append(o.error)
        await self._create(sts, set_name, result, errors)
        for o in await execute(self.ctx.client, result.pod_updates):
            name = getattr(o.action, "name", "")
            if o.error is None:
                self.recorder.event(sts, "Normal", "SuccessfulUpdate",
                                    f"update Pod {name} in StatefulSet {set_name} successful")
            elif not _benign(o.error, missing=True):
                self.recorder.event(sts, "Warning", "FailedUpdate",
                                    f"update Pod {name} in StatefulSet {set_name} failed error: {error_text(o.error)}")
                errors.append(o.error)
        update = core.status_update(sts, result.status) if result.status is not None else None
        if update is not None:
            outcome = await perform(self.ctx.client, update, None)
            if outcome.error is not None:
                errors.append(outcome.error)
        if result.requeue_after is not None:
            self.enqueue_after(key, result.requeue_after)
        if errors:
            raise errors[0]

    async def _create(self, sts: Obj, set_name: str, result: core.Result, errors: list[Exception]) -> None:
        """createPersistentVolumeClaims then CreateStatefulPod, with kube's event texts."""
        claims_by_pod: dict[str, list[Create]] = {}
        for c in result.claims:
            claims_by_pod.setdefault(core.claim_pod(sts, c.body), []).append(c)
        creating = {c.body["metadata"]["name"] for c in result.creates}
        for pod, claims in claims_by_pod.items():
            if pod not in creating:  # a live pod whose claim went missing
                await self._claims(sts, set_name, pod, claims, errors)
        for create in result.creates:
            pod = create.body["metadata"]["name"]
            if not await self._claims(sts, set_name, pod, claims_by_pod.get(pod, []), errors):
                continue
            o = await perform(self.ctx.client, create, None)
            if o.error is None:
                self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                    f"create Pod {pod} in StatefulSet {set_name} successful")
            elif not _benign(o.error, exists=True):
                self.recorder.event(sts, "Warning", "FailedCreate",
                                    f"create Pod {pod} in StatefulSet {set_name} failed error: {error_text(o.error)}")
                errors.append(o.error)


    async def _claims(self, sts: Obj, set_name: str, pod: str, claims: list[Create], errors: list[Exception]) -> bool:
        """Create the pod's missing claims; False if one could not be created (the pod then waits)."""
        ok = True
        for c in claims:
            o = await perform(self.ctx.client, c, None)
            claim = c.body["metadata"]["name"]
            if o.error is None:
                self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                    f"create Claim {claim} Pod {pod} in StatefulSet {set_name} success")
            elif not _benign(o.error, exists=True):
                self.recorder.event(sts, "Warning", "FailedCreate",
                                    f"create Claim {claim} for Pod {pod} in StatefulSet {set_name} failed "
                                    f"error: {error_text(o.error)}")
                errors.append(o.error)
                ok = False
        return ok


def new_controller(ctx: ControllerContext) -> StatefulSetController:
    return StatefulSetController(ctx)
