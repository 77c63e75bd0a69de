"""The ttl-after-finished controller's thin adapter (kube's ttlafterfinished controller).

Finished Jobs with `ttlSecondsAfterFinished` are queued; before their TTL runs out the key comes back when it
does (add_after), and once it has, the Job is read again from the API server (the cache may be stale, or the TTL
changed) and deleted with Foreground propagation and a UID precondition. Decisions are in `ttlcore`.
"""

from __future__ import annotations

from typing import Any

from controllers.job import ttlcore
from controllers.machinery.client import APIError
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import perform
from controllers.machinery.resources import JOBS

Obj = dict[str, Any]


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished"
    resources = (JOBS,)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = ctx.informer(JOBS)
        self.jobs.add_handlers(self._maybe, lambda old, new: self._maybe(new), None)

    def _maybe(self, job: Obj) -> None:
        if ttlcore.needs_cleanup(job):
            self.enqueue(job)

    async def sync(self, key: str) -> None:
        job = self.jobs.store.get(key)
        if job is None:
            return
        decision = ttlcore.decide(job, self.ctx.clock())
        if decision.requeue_after is not None:
            self.enqueue_after(key, decision.requeue_after)
        if decision.delete is None:
            return
        ns, name = self.split_key(key)
        try:
            fresh = await self.ctx.client.get(JOBS, ns, name)
        except APIError as e:
            if e.not_found:
                return
            raise
        decision = ttlcore.decide(fresh, self.ctx.clock())
        if decision.requeue_after is not None:
            self.enqueue_after(key, decision.requeue_after)
        if decision.delete is None:
            return
        outcome = await perform(self.ctx.client, decision.delete, None)
        if outcome.error is not None and not (isinstance(outcome.error, APIError) and outcome.error.not_found):
            raise outcome.error


def new_controller(ctx: ControllerContext) -> TTLAfterFinishedController:
    return TTLAfterFinishedController(ctx)
