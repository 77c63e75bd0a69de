"""The pod garbage collector's thin adapter (kube's gc_controller.go): one pass at start and every 20 s over the pod
and node caches. The quarantine state is kept here between passes; a node whose quarantine ended is confirmed gone
with a live GET before its pods are touched. Per pod, a failed status patch skips its delete (the next pass
retries); a pod already gone is not an error. Decisions live in `reconcile`."""

from __future__ import annotations

import logging
from typing import Any

from controllers.machinery.actions import Delete, Patch
from controllers.machinery.client import APIError
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import perform
from controllers.machinery.resources import NODES, PODS
from controllers.podgc import reconcile as core

log = logging.getLogger(__name__)
Object = dict[str, Any]
PASS_KEY = "podgc"


class PodGCController(Controller):
    name = "podgc"
    resources = (PODS, NODES)

    def __init__(self, ctx: ControllerContext, *, check_period_s: float = core.GC_CHECK_PERIOD_S,
                 quarantine_s: float = core.QUARANTINE_S) -> None:
        super().__init__(ctx)
        self.pods = ctx.informer(PODS)
        self.nodes = ctx.informer(NODES)
        self.threshold = int(getattr(ctx.options, "terminated_pod_gc_threshold", 12500))
        self.check_period_s = check_period_s
        self.quarantine_s = quarantine_s
        self.quarantine = core.Quarantine()
        self.passes = 0

    async def wait_for_sync(self) -> None:
        await super().wait_for_sync()
        self.enqueue_key(PASS_KEY)

    async def sync(self, key: str) -> None:
        try:
            await self._gc()
        finally:
            self.passes += 1
            self.enqueue_after(PASS_KEY, self.check_period_s)

    async def _node_gone(self, name: str) -> bool:
        try:
            await self.ctx.client.get(NODES, None, name)
            return False
        except APIError as e:
            if e.not_found:
                return True
            log.error("Error while getting node %s: %s", name, e)
            return False

    async def _gc(self) -> None:
        now = self.ctx.now()
        pods = self.pods.store.list()
        nodes = {str(n["metadata"]["name"]): n for n in self.nodes.store.list()}
        due, self.quarantine = core.quarantine(pods, set(nodes), self.quarantine, now, self.quarantine_s)
        deleted = {n for n in sorted(due) if await self._node_gone(n)}
        skip: set[tuple[str | None, str]] = set()
        for action in core.gc_pass(pods, nodes, deleted, self.threshold, now):
            assert isinstance(action, (Patch, Delete))
            pod = (action.namespace, action.name)
            if pod in skip:
                continue
            outcome = await perform(self.ctx.client, action, None)
            e = outcome.error
            if e is None:
                if isinstance(action, Delete):
                    log.info("PodGC force deleted Pod %s/%s", *pod)
                continue
            skip.add(pod)
            if not (isinstance(e, APIError) and e.not_found):
                log.error("PodGC: %s %s/%s failed: %s", type(action).__name__.lower(), *pod, e)


def new_controller(ctx: ControllerContext) -> PodGCController:
    return PodGCController(ctx)
