"""The CronJob controller's thin adapter (kube's cronjob_controllerv2.go event handlers and sync I/O).

Decisions are in `reconcile`. The adapter asks the API server what the cache cannot be trusted with (is an active
Job that is missing from the cache really gone; whose is a Job that already exists under the deterministic name),
performs the deletions, the one creation and the status write in kube's order, and re-queues the key for the next
schedule with `add_after`, so no timer lives in the core.

For tests only, the environment variable RAFTKV_CRONJOB_CLOCK_OFFSET_S (seconds, default 0) shifts this
controller's clock, so an e2e test sees a `*/1` schedule fire without waiting for the minute.
"""

from __future__ import annotations

import os
from typing import Any

from controllers import podcontrol as pc
from controllers.cronjob import reconcile as core
from controllers.machinery.actions import Update
from controllers.machinery.client import APIError, error_text, has_status_cause
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute, perform
from controllers.machinery.resources import CRONJOBS, JOBS

Obj = dict[str, Any]
CLOCK_OFFSET_ENV = "RAFTKV_CRONJOB_CLOCK_OFFSET_S"


class CronJobController(Controller):
    name = "cronjob"
    resources = (CRONJOBS, JOBS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.cronjobs = ctx.informer(CRONJOBS)
        self.jobs = ctx.informer(JOBS)
        self.recorder = ctx.recorder("cronjob-controller")
        self.clock_offset = float(os.environ.get(CLOCK_OFFSET_ENV) or 0)
        self.cronjobs.add_handlers(self.enqueue, lambda old, new: self.enqueue(new), None)
        owner = self._enqueue_owner
        self.jobs.add_handlers(owner, lambda old, new: owner(new), owner)

    def _enqueue_owner(self, job: Obj) -> None:
        self.enqueue_controller_of(job, "CronJob")

    def now(self) -> float:
        return self.ctx.clock() + self.clock_offset

    async def sync(self, key: str) -> None:
        cronjob = self.cronjobs.store.get(key)
        if cronjob is None:
            return
        ns = str(pc.meta(cronjob).get("namespace"))
        jobs = self.jobs.store.by_index("namespace", ns)
        now = self.now()
        result = core.sync(cronjob, jobs, now)
        if any(e.reason == "UnexpectedJob" for e in result.events):
            # the cached CronJob may predate our own status write listing that Job: decide on a live copy
            cronjob = await self.ctx.client.get(CRONJOBS, ns, str(pc.meta(cronjob).get("name")))
            result = core.sync(cronjob, jobs, now)
        if result.missing:
            gone = frozenset(await self._gone(result.missing))
            if gone:
                result = core.sync(cronjob, jobs, now, gone=gone)
        for e in result.events:
            self.recorder.event(e.involved, e.type, e.reason, e.message)
        error: Exception | None = None
        for o in await execute(self.ctx.client, result.deletes):
            if o.error is not None and not (isinstance(o.error, APIError) and o.error.not_found):
                self.recorder.event(cronjob, "Warning", "FailedDelete", f"Deleted job: {error_text(o.error)}")
                error = error or o.error
        if error is not None:
            raise error
        status = result.status
        if result.create is not None:
            status = await self._create(cronjob, result, status)
        if status is not None:
            body = {"apiVersion": CRONJOBS.api_version, "kind": CRONJOBS.kind, "metadata": pc.meta(cronjob),
                    "spec": pc.spec(cronjob), "status": status}
            outcome = await perform(self.ctx.client, Update(CRONJOBS, ns, str(pc.meta(cronjob).get("name")),
                                                            body, "status"), None)
            if outcome.error is not None:
                raise outcome.error
        if result.requeue_after is not None:
            self.enqueue_after(key, max(result.requeue_after, 0.0))

    async def _gone(self, refs: list[Obj]) -> set[str]:
        """Active references the cache lacks, confirmed absent by a live GET."""
        gone = set()
        for ref in refs:
            try:
                await self.ctx.client.get(JOBS, ref.get("namespace"), str(ref.get("name")))
            except APIError as e:
                if not e.not_found:
                    raise
                gone.add(str(ref.get("uid")))
        return gone

    async def _create(self, cronjob: Obj, result: core.Result, status: Obj | None) -> Obj | None:
        assert result.create is not None
        outcome = await perform(self.ctx.client, result.create, None)
        if outcome.error is None:
            created = outcome.object or {}
            self.recorder.event(cronjob, "Normal", "SuccessfulCreate", f"Created job {pc.meta(created).get('name')}")
            return core.with_created(status or {}, created)
        e = outcome.error
        if has_status_cause(e, "NamespaceTerminating"):
            raise e
        if isinstance(e, APIError) and e.already_exists:
            existing = await self.ctx.client.get(JOBS, result.create.namespace,
                                                 str(result.create.body["metadata"]["name"]))
            if not pc.is_controlled_by(existing, cronjob):
                return None  # someone else's Job: they keep the status
            active = {r.get("uid") for r in (pc.status(cronjob).get("active") or [])}
            if pc.meta(existing).get("uid") in active:
                return None
            return core.with_created(status or {}, existing)
        self.recorder.event(cronjob, "Warning", "FailedCreate", f"Error creating job: {error_text(e)}")
        raise e


def new_controller(ctx: ControllerContext) -> CronJobController:
    return CronJobController(ctx)
