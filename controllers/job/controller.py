"""The Job controller's thin adapter (kube's job_controller.go event handlers and syncJob's I/O).

Decisions are in `reconcile`; this module keeps what kube keeps in memory (creation/deletion expectations, the
UIDs whose finalizer removal is in flight, the pod-failure back-off record per Job) and performs one sync in
kube's order: surplus/failing pods deleted and missing ones created (slow start), the first status write, the
finalizer removals, then the counting write with the terminal condition. Pods whose Job is gone or finished
but still carry the tracking finalizer are released through keys `pod:<namespace>/<name>` on the same queue.
"""

from __future__ import annotations

import logging
from typing import Any

from controllers import adoption, podwrites
from controllers import podcontrol as pc
from controllers.job import reconcile as core
from controllers.machinery.actions import Patch
from controllers.machinery.client import APIError
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute, perform
from controllers.machinery.expectations import ControllerExpectations
from controllers.machinery.resources import JOBS, PODS
from controllers.replicaset.reconcile import Kind

log = logging.getLogger(__name__)
Obj = dict[str, Any]
ORPHAN = "pod:"
KIND = Kind(JOBS, "job-controller", map_selector=False)


class JobController(Controller):
    name = "job"
    resources = (JOBS, PODS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = ctx.informer(JOBS)
        self.pods = ctx.informer(PODS)
        self.recorder = ctx.recorder("job-controller")
        self.expectations = ControllerExpectations()
        self.removing: dict[str, set[str]] = {}  # job key -> pod UIDs whose finalizer removal is unobserved
        self.backoff: dict[str, core.Backoff] = {}
        self.jobs.add_handlers(self.enqueue, self._job_updated, self._job_deleted)
        self.pods.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)

    # ---------------------------------------------------------------- event handlers
    def _job_updated(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)

    def _job_deleted(self, job: Obj) -> None:
        key = self.key_of(job)
        self.expectations.delete_expectations(key)
        self.removing.pop(key, None)
        self.backoff.pop(key, None)
        for pod in self.pods.store.by_index("owner_uid", str(pc.meta(job).get("uid"))):
            if core.has_finalizer(pod):
                self.enqueue_key(ORPHAN + self.key_of(pod))

    def _owner(self, pod: Obj) -> Obj | None:
        ref = pc.controller_of(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        job = self.jobs.store.get_by(pc.meta(pod).get("namespace"), str(ref.get("name")))
        if job is None or pc.meta(job).get("uid") != ref.get("uid"):
            return None
        return job

    def _route(self, pod: Obj) -> None:
        job = self._owner(pod)
        if job is not None:
            self.enqueue(job)
        elif core.has_finalizer(pod) and (pc.controller_of(pod) or {}).get("kind") in (None, "Job"):
            self.enqueue_key(ORPHAN + self.key_of(pod))

    def _pod_added(self, pod: Obj) -> None:
        job = self._owner(pod)
        if job is not None and not pc.meta(pod).get("deletionTimestamp"):
            self.expectations.creation_observed(self.key_of(job))
        self._route(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        job = self._owner(new)
        if job is not None:
            key = self.key_of(job)
            if pc.meta(new).get("deletionTimestamp"):
                self.expectations.deletion_observed(key)  # observing twice is harmless, missing one is not
            if not core.has_finalizer(new):
                self.removing.get(key, set()).discard(core.uid(new))
        self._route(new)

    def _pod_deleted(self, pod: Obj) -> None:
        job = self._owner(pod)
        if job is None:
            return
        key = self.key_of(job)
        self.expectations.deletion_observed(key)
        self.removing.get(key, set()).discard(core.uid(pod))
        self.enqueue(job)

    # ---------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        if key.startswith(ORPHAN):
            await self._sync_orphan(key[len(ORPHAN):])
            return
        job = self.jobs.store.get(key)
        if job is None:
            self.expectations.delete_expectations(key)
            self.removing.pop(key, None)
            self.backoff.pop(key, None)
            return
        now = self.ctx.clock()
        satisfied = self.expectations.satisfied(key, now)
        pods = self.pods.store.by_index("namespace", str(pc.meta(job).get("namespace")))
        if not core.is_finished(job):
            pods = await adoption.claim(self.ctx.client, KIND, job, pods, finalizer=core.TRACKING_FINALIZER)
        plan = core.plan(job, pods, now, self.backoff.get(key), satisfied_expectations=satisfied,
                         expected_removals=frozenset(self.removing.get(key, set())))
        for e in plan.events:
            self.recorder.event(e.involved, e.type, e.reason, e.message)
        errors: list[Exception] = []
        await podwrites.delete_pods(self.ctx.client, self.recorder, self.expectations, key, job, plan.deletes,
                                    self.ctx.clock(), errors, first=plan.pre_delete_removals)
        failed_creates = await podwrites.create_pods(self.ctx.client, self.recorder, self.expectations, key, job,
                                                     plan.creates, now, errors)
        if errors and plan.finished is not None:
            raise errors[0]  # kube declares nothing finished until every active pod is deleted
        written = job
        if plan.status is not None:
            status = dict(plan.status)
            status["active"] = max(0, int(status.get("active") or 0) - failed_creates)
            written = await self._write(job, status)
        removed = await self._remove_finalizers(key, plan.removals, errors)
        base = written if plan.status is not None else core.with_status(job, plan.next_status)
        status2, events = core.finish(base, plan, removed, now)
        if status2 is not None:
            await self._write(written, status2)
            for e in events:
                self.recorder.event(e.involved, e.type, e.reason, e.message)
        if plan.backoff is None:
            self.backoff.pop(key, None)
        else:
            self.backoff[key] = plan.backoff
        if plan.requeue_after is not None:
            self.enqueue_after(key, max(plan.requeue_after, 0.0))
        if errors:
            raise errors[0]

    async def _write(self, job: Obj, status: Obj) -> Obj:
        outcome = await perform(self.ctx.client, core.status_update(job, status), None)
        if outcome.error is not None:
            raise outcome.error  # a conflict means a stale cache: the retry reads the newer Job
        return outcome.object or job

    async def _remove_finalizers(self, key: str, removals: list[Patch], errors: list[Exception]) -> set[str]:
        """Pods whose finalizer is gone (or who are gone) may be counted; returns their UIDs."""
        if not removals:
            return set()
        uids = {p.name: self._uid_of(p) for p in removals}
        pending = self.removing.setdefault(key, set())
        pending.update(uids.values())
        removed: set[str] = set()
        for o in await execute(self.ctx.client, removals, concurrency=16):
            uid = uids[getattr(o.action, "name", "")]
            if o.error is None or (isinstance(o.error, APIError) and o.error.not_found):
                removed.add(uid)
                if o.error is not None:
                    pending.discard(uid)
                continue
            pending.discard(uid)
            errors.append(o.error)
        return removed

    def _uid_of(self, patch: Patch) -> str:
        pod = self.pods.store.get_by(patch.namespace, patch.name)
        return core.uid(pod) if pod is not None else ""

    async def _sync_orphan(self, pod_key: str) -> None:
        """syncOrphanPod: drop the finalizer of a pod whose Job is gone or finished (or that has no controller)."""
        pod = self.pods.store.get(pod_key)
        if pod is None or not core.has_finalizer(pod):
            return
        ref = pc.controller_of(pod)
        if ref is not None:
            if ref.get("kind") != "Job" or ref.get("apiVersion") != JOBS.api_version:
                return
            job = self._owner(pod)
            if job is not None and not core.is_finished(job):
                return
        outcome = await perform(self.ctx.client, core.removal_patch(pod), None)
        if outcome.error is not None and not (isinstance(outcome.error, APIError) and outcome.error.not_found):
            raise outcome.error


def new_controller(ctx: ControllerContext) -> JobController:
    return JobController(ctx)
