"""The ResourceQuota controller's thin adapter (kube's resource_quota_controller.go): quotas are synced when added or
changed, when an object they count is deleted or a pod they count ends (replenishment, so quota of deleted objects is
released), and all of them every `--resource-quota-sync-period` (5 m). The core computes; this reads the caches
(pods, services, config maps, secrets, PVCs, replication controllers, quotas) and, for other `count/<resource>.<group>`
names, lists the API, then writes `status` through the executor."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from controllers.machinery import resources as R
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute, first_error
from controllers.machinery.informer import Informer
from controllers.machinery.resources import Resource
from controllers.resourcequota import reconcile as core

log = logging.getLogger(__name__)
Object = dict[str, Any]
CACHED = (R.PODS, R.SERVICES, R.CONFIGMAPS, R.SECRETS, R.PERSISTENTVOLUMECLAIMS, R.REPLICATIONCONTROLLERS)
# every namespaced resource the machinery names, for count/<resource>.<group> quotas beyond the cached ones
KNOWN: dict[tuple[str, str], Resource] = {(r.group, r.plural): r for r in vars(R).values()
                                          if isinstance(r, Resource) and r.namespaced}


def _phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


class ResourceQuotaController(Controller):
    name = "resourcequota"
    resources = (R.RESOURCEQUOTAS, *CACHED)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.quotas = self.watch(R.RESOURCEQUOTAS)
        self.period = float(getattr(ctx.options, "resource_quota_sync_period", 300.0))
        self.cached: dict[tuple[str, str], Informer] = {}
        for r in CACHED:
            inf = ctx.informer(r)
            self.cached[(r.group, r.plural)] = inf
            inf.add_handlers(on_delete=self._replenisher(r))
        self.cached[("", "pods")].add_handlers(on_update=self._pod_updated)
        self.cached[("", "resourcequotas")] = self.quotas  # a quota on the number of quotas counts from the cache too

    def _replenisher(self, resource: Resource) -> Callable[[Object], None]:
        return lambda obj: self._replenish(resource, obj)

    def _pod_updated(self, old: Object, new: Object) -> None:
        """A pod reaching a terminal phase (or starting to terminate) gives its compute resources back."""
        ended = _phase(new) in ("Succeeded", "Failed") and _phase(old) not in ("Succeeded", "Failed")
        terminating = bool((new.get("metadata") or {}).get("deletionTimestamp")) and \
            not (old.get("metadata") or {}).get("deletionTimestamp")
        if ended or terminating:
            self._replenish(R.PODS, new)

    def _replenish(self, resource: Resource, obj: Object) -> None:
        ns = (obj.get("metadata") or {}).get("namespace")
        if not ns:
            return
        for q in self.quotas.store.by_index("namespace", ns):
            if (resource.group, resource.plural) in core.tracked_resources((q.get("spec") or {}).get("hard") or {}):
                self.enqueue(q)

    async def run(self, workers: int = 1) -> None:
        resync = asyncio.ensure_future(self._resync_every_period())
        try:
            await super().run(workers)
        finally:
            resync.cancel()

    async def _resync_every_period(self) -> None:
        await self.wait_for_sync()
        while True:
            await asyncio.sleep(self.period)
            for q in self.quotas.store.list():
                self.enqueue(q)

    async def _objects(self, namespace: str, hard: Object) -> core.ObjectsByResource:
        objects: core.ObjectsByResource = {}
        for group, plural in sorted(core.tracked_resources(hard)):
            inf = self.cached.get((group, plural))
            if inf is not None:
                objects[(group, plural)] = inf.store.by_index("namespace", namespace)
            elif (group, plural) in KNOWN:
                objects[(group, plural)], _ = await self.ctx.client.list_all(KNOWN[(group, plural)], namespace)
            else:
                log.info("resourcequota: no evaluator for %s.%s; counted as 0", plural, group)
        return objects

    async def sync(self, key: str) -> None:
        quota = self.quotas.store.get(key)
        if quota is None:
            return
        ns = str(quota["metadata"].get("namespace"))
        objects = await self._objects(ns, (quota.get("spec") or {}).get("hard") or {})
        actions = core.reconcile(quota, objects, self.ctx.now())
        err = first_error(await execute(self.ctx.client, actions))
        if err is not None:
            raise err


def new_controller(ctx: ControllerContext) -> ResourceQuotaController:
    return ResourceQuotaController(ctx)
