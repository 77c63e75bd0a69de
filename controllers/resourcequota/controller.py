"""The ResourceQuota controller's thin adapter (kube's resource_quota_controller.go): quotas are synced when added or
their spec.hard changes, when an object they count is deleted or a pod they count ends (replenishment, so quota of deleted objects is
released), and all of them every `--resource-quota-sync-period` (5 m). The core computes; this reads the caches
(pods, services, config maps, secrets, PVCs, replication controllers, quotas) and, for other `count/<resource>.<group>`
names, lists the API (resources found through discovery), then writes `status` through the executor. The usage of a
resource the API server does not serve is left as it was (kube keeps what it cannot evaluate)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from controllers.garbagecollector.discovery import discover
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


DISCOVERY_REFRESH_S = 30.0


def _phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


class ResourceQuotaController(Controller):
    name = "resourcequota"
    resources = (R.RESOURCEQUOTAS, *CACHED)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.quotas = ctx.informer(R.RESOURCEQUOTAS)
        self.quotas.add_handlers(on_add=self.enqueue, on_update=self._quota_updated, on_delete=self.enqueue)
        self.period = float(getattr(ctx.options, "resource_quota_sync_period", 300.0))
        self.discovery: dict[tuple[str, str], Resource] = {}
        self.monitors: dict[tuple[str, str], Informer] = {}
        self.discovered_at = float("-inf")
        self.cached: dict[tuple[str, str], Informer] = {}
        for r in CACHED:
            inf = ctx.informer(r)
            self.cached[(r.group, r.plural)] = inf
            inf.add_handlers(on_delete=self._replenisher(r))
        self.cached[("", "pods")].add_handlers(on_update=self._pod_updated)
        self.cached[("", "resourcequotas")] = self.quotas  # a quota on the number of quotas counts from the cache too

    def _quota_updated(self, old: Object, new: Object) -> None:
        """As kube's: only a change of spec.hard drives a recalculation. Status changes are this controller's own
        writes or the API server charging a create; recomputing on those from caches that may not show that create
        yet would give back usage that is taken, and let the next creates exceed the quota."""
        if (old.get("spec") or {}).get("hard") != (new.get("spec") or {}).get("hard"):
            self.enqueue(new)

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
            else:
                resource = KNOWN.get((group, plural)) or await self._discovered(group, plural)
                if resource is None:
                    log.info("resourcequota: %s.%s is not served; its usage is left as it was", plural, group)
                    continue
                monitor = self._monitor(resource)
                if monitor.has_synced():
                    objects[(group, plural)] = monitor.store.by_index("namespace", namespace)
                else:
                    objects[(group, plural)], _ = await self.ctx.client.list_all(resource, namespace)
        return objects

    def _monitor(self, resource: Resource) -> Informer:
        """kube's quota monitors: an informer started for a resource the first time a quota counts it, so its
        deletions are replenished at once rather than at the next full resync."""
        key = (resource.group, resource.plural)
        inf = self.monitors.get(key)
        if inf is None:
            inf = self.monitors[key] = self.ctx.informer(resource)
            inf.add_handlers(on_delete=self._replenisher(resource))
            inf.start()
        return inf

    async def _discovered(self, group: str, plural: str) -> Resource | None:
        """A resource the machinery does not name (count/roles.rbac.authorization.k8s.io, ...), from discovery,
        refreshed at most every DISCOVERY_REFRESH_S when asked for one it does not know."""
        now = self.ctx.clock()
        if (group, plural) not in self.discovery and now - self.discovered_at >= DISCOVERY_REFRESH_S:
            found = await discover(self.ctx.client)
            self.discovery = {(r.group, r.plural): r for r in found.supporting(["list"], namespaced=True)}
            self.discovered_at = now
        return self.discovery.get((group, plural))

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
