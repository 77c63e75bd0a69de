"""The garbage collector's adapter: informers on every deletable resource, one queue of objects to look at.

kube-controller-manager keeps a dependency graph in memory; here the graph is the informers' `owner_uid` index
plus a uid -> object map, and every decision is taken on live reads (the item, then each owner by a GET at the
reference's coordinates, as 1.32's isDangling does), so what survives a restart is exactly what the API server
holds: an owner left with `foregroundDeletion` or `orphan` is found by its informer's initial list and finished.

Keys are "group|version|plural|namespace|name". Discovery is read at start and every 30 s after, as 1.32 does
(new resources are watched from then on; a resource no longer served keeps its informer until a restart).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from controllers.garbagecollector import reconcile as core
from controllers.garbagecollector.discovery import discover
from controllers.machinery.actions import Action
from controllers.machinery.client import APIError
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute
from controllers.machinery.informer import Informer
from controllers.machinery.resources import Resource

log = logging.getLogger(__name__)
Object = dict[str, Any]
COMPONENT = "garbage-collector-controller"
GC_VERBS = ("delete", "list", "watch")
REDISCOVERY_PERIOD_S = 30.0
IGNORED = frozenset({("", "events"), ("events.k8s.io", "events")})  # 1.32's default ignoredResources


def item_key(res: Resource, namespace: str | None, name: str) -> str:
    return "|".join((res.group, res.version, res.plural, namespace or "", name))


class GarbageCollector(Controller):
    name = "garbagecollector"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.recorder = ctx.recorder(COMPONENT)
        self.watched: dict[tuple[str, str, str], Informer] = {}
        self.kinds: dict[tuple[str, str], Resource] = {}
        self.uids: dict[str, tuple[Resource, Object]] = {}
        self.started = False  # until every informer has listed, an owner not seen yet may just not be listed yet

    # ---------------------------------------------------------------- start-up
    def informers(self) -> list[Informer]:
        return list(self.watched.values())

    async def _discover(self) -> None:
        """Watch every deletable resource not watched yet (new ones start collecting from their first list)."""
        found = await discover(self.ctx.client)
        for gv, err in found.failed.items():
            log.warning("garbagecollector: discovery of %s failed: %s", gv, err)
        self.kinds.update(found.by_kind())
        for res in found.supporting(GC_VERBS):
            if (res.group, res.plural) in IGNORED or (res.group, res.version, res.plural) in self.watched:
                continue
            inf = self.ctx.informer(res)
            self.watched[(res.group, res.version, res.plural)] = inf
            inf.add_handlers(on_add=functools.partial(self._added, res),
                             on_update=functools.partial(self._updated, res),
                             on_delete=functools.partial(self._deleted, res))
        self.ctx.informers.start()

    async def run(self, workers: int = 1) -> None:
        rediscovery = asyncio.ensure_future(self._rediscover())
        try:
            await super().run(workers)
        finally:
            rediscovery.cancel()

    async def _rediscover(self) -> None:
        """1.32 looks at discovery again every 30 s so resources served later are collected too."""
        while True:
            await asyncio.sleep(REDISCOVERY_PERIOD_S)
            if self.started:
                try:
                    await self._discover()
                except Exception as e:  # noqa: BLE001 - the next period retries
                    log.warning("garbagecollector: rediscovery failed: %s", e)

    async def wait_for_sync(self) -> None:
        await self._discover()
        await super().wait_for_sync()
        # Now that every cache is full, look at what the start-up lists showed (one pass, instead of a sync for
        # every dependent whose owner's resource happened to be listed after it).
        self.started = True
        for inf in self.watched.values():
            for obj in inf.store.list():
                if self._needs_look(obj):
                    self._add(inf.resource, obj)

    # ---------------------------------------------------------------- events -> keys
    def _key(self, res: Resource, obj: Object) -> str:
        md = obj.get("metadata") or {}
        return item_key(res, md.get("namespace") if res.namespaced else None, md.get("name", ""))

    def _add(self, res: Resource, obj: Object) -> None:
        if self.started:
            self.queue.add(self._key(res, obj))

    def _needs_look(self, obj: Object) -> bool:
        """Worth a sync: deleting with a policy finalizer, or an owner that is not (or no longer solidly) there."""
        if core.orphaning_now(obj) or core.deleting_dependents_now(obj):
            return True
        ns = (obj.get("metadata") or {}).get("namespace")
        for ref in core.owner_refs(obj):
            owner = self.uids.get(ref.get("uid", ""))
            if owner is None or core.deleting_dependents_now(owner[1]):
                return True
            if owner[0].namespaced and (owner[1].get("metadata") or {}).get("namespace") != ns:
                return True  # an owner seen in another namespace: never a valid reference
        return False

    def _added(self, res: Resource, obj: Object) -> None:
        uid = (obj.get("metadata") or {}).get("uid")
        if uid:
            self.uids[uid] = (res, obj)
            for dep_res, dep in self.dependents(uid):  # dependents seen before their owner
                if self._needs_look(dep):
                    self._add(dep_res, dep)
        if self._needs_look(obj):
            self._add(res, obj)

    def _updated(self, res: Resource, old: Object, new: Object) -> None:
        uid = (new.get("metadata") or {}).get("uid")
        if uid:
            self.uids[uid] = (res, new)
        if self._needs_look(new):
            self._add(res, new)
        if core.deleting_dependents_now(new) and not core.deleting_dependents_now(old):
            for dep_res, dep in self.dependents(uid or ""):
                self._add(dep_res, dep)
        # a removed or unblocked reference may release an owner waiting in the foreground
        new_refs = {r.get("uid"): r for r in core.owner_refs(new)}
        for ref in core.owner_refs(old):
            if ref.get("blockOwnerDeletion") and not (new_refs.get(ref.get("uid")) or {}).get("blockOwnerDeletion"):
                self._enqueue_uid(ref.get("uid", ""))

    def _deleted(self, res: Resource, obj: Object) -> None:
        uid = (obj.get("metadata") or {}).get("uid") or ""
        self.uids.pop(uid, None)
        for dep_res, dep in self.dependents(uid):
            self._add(dep_res, dep)
        for ref in core.owner_refs(obj):
            self._enqueue_uid(ref.get("uid", ""))

    def _enqueue_uid(self, uid: str) -> None:
        found = self.uids.get(uid)
        if found is not None:
            self._add(*found)

    def dependents(self, uid: str) -> list[tuple[Resource, Object]]:
        if not uid:
            return []
        return [(inf.resource, o) for inf in self.watched.values() for o in inf.store.by_index("owner_uid", uid)]

    # ---------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        group, version, plural, ns, name = key.split("|")
        inf = self.watched.get((group, version, plural))
        if inf is None:
            return
        res = inf.resource
        item = await self._get(res, ns or None, name)
        if item is None:
            return  # gone: its dependents were queued when its deletion was observed
        uid = core.meta(item).get("uid") or ""
        deps = self.dependents(uid)
        if core.orphaning_now(item):
            await self._run(core.orphan(item, deps))
            await self._run([core.remove_finalizer(item, res, core.ORPHAN)])
            return
        if core.deleting_dependents_now(item):
            for dep_res, dep in deps:
                if not core.being_deleted(dep) or core.deleting_dependents_now(dep):
                    self._add(dep_res, dep)
            await self._run(core.deleting_dependents(item, res, [d for _, d in deps]))
            return
        if not core.owner_refs(item):
            return
        owners = [await self._lookup(res, item, ref) for ref in core.owner_refs(item)]
        actions = core.attempt_to_delete(item, res, owners, bool(deps),
                                         any(core.deleting_dependents_now(d) for _, d in deps))
        await self._run(actions)

    async def _lookup(self, res: Resource, item: Object, ref: Object) -> core.OwnerLookup:
        group = (ref.get("apiVersion") or "").rpartition("/")[0]
        owner_res = self.kinds.get((group, ref.get("kind") or ""))
        if owner_res is None:
            raise LookupError(f"unable to resolve owner {ref.get('apiVersion')}/{ref.get('kind')}: "
                              f"no such resource is served")
        observed = self.uids.get(ref.get("uid") or "")
        observed_ns = None
        if observed is not None and observed[0].namespaced:
            observed_ns = (observed[1].get("metadata") or {}).get("namespace") or None
        ns = core.meta(item).get("namespace") if res.namespaced else None
        if owner_res.namespaced and not ns:
            return core.OwnerLookup(ref, None, observed_ns, invalid_scope=True)
        live = await self._get(owner_res, ns if owner_res.namespaced else None, ref.get("name") or "")
        if live is not None and core.meta(live).get("uid") != ref.get("uid"):
            live = None
        return core.OwnerLookup(ref, live, observed_ns)

    async def _get(self, res: Resource, namespace: str | None, name: str) -> Object | None:
        try:
            return await self.ctx.client.get(res, namespace, name)
        except APIError as e:
            if e.not_found:
                return None
            raise

    async def _run(self, actions: list[Action]) -> None:
        """Execute in order; a 404 means the work is done already, any other failure retries the key."""
        for outcome in await execute(self.ctx.client, actions, self.recorder):
            err = outcome.error
            if err is not None and not (isinstance(err, APIError) and err.not_found):
                raise err


def new_controller(ctx: ControllerContext) -> Controller:
    return GarbageCollector(ctx)
