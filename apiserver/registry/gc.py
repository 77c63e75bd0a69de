"""The garbage collector's adapter: carries out ownerReference propagation after a delete, in the API server.

kube-controller-manager runs this as a controller fed by informers; until that controller exists it runs here as
a background task per deleted owner, started by the delete handler (so a DELETE answers at once, as the real
server does). Decisions (who is a dependent, what a policy means) live in `ownership.py`.
Not covered: a server that stops mid-way leaves a Foreground/Orphan owner holding its finalizer until that owner is
deleted again (the real collector resumes from its informers).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from apiserver import errors
from apiserver.registry import ownership
from apiserver.registry.store import DeleteOptions, GenericStore, ListOptions, Registry

log = logging.getLogger(__name__)
POLL_INITIAL_S, POLL_MAX_S = 0.05, 1.0
FOREGROUND_DEADLINE_S = 600.0  # stop waiting on dependents that never go (e.g. pods held by a missing kubelet)


class GarbageCollector:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.tasks: set[asyncio.Task[None]] = set()

    def owner_deleted(self, store: GenericStore, obj: dict[str, Any]) -> None:
        """Called after a successful DELETE of `obj` (gone, or marked with a deletionTimestamp)."""
        uid = obj.get("metadata", {}).get("uid")
        if not uid:
            return
        task = asyncio.create_task(self._propagate(store, obj))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no propagation is running (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    # ------------------------------------------------------------------ propagation
    async def _propagate(self, store: GenericStore, owner: dict[str, Any]) -> None:
        try:
            policy = ownership.pending_policy(owner)
            md = owner["metadata"]
            if policy == "Orphan":
                await self._orphan(store, owner)
            elif policy == "Foreground":
                await self._foreground(store, owner)
            else:
                for dep_store, dep in await self.dependents(store, owner):
                    await self._delete(dep_store, dep, "Background")
            log.debug("gc: %s %s/%s done (%s)", store.resource.plural, md.get("namespace", ""), md.get("name"),
                      policy)
        except errors.APIError as e:
            log.warning("gc: propagation for %s %s failed: %s", store.resource.plural, owner["metadata"].get("name"),
                        e)

    async def dependents(self, store: GenericStore, owner: dict[str, Any]) -> list[tuple[GenericStore, dict[str, Any]]]:
        uid = owner["metadata"]["uid"]
        namespaced_only, namespace = ownership.dependent_scopes(store.resource.namespaced,
                                                                owner["metadata"].get("namespace", ""))
        found = []
        for s in self.registry.stores.values():
            if namespaced_only and not s.resource.namespaced:
                continue
            for item in (await s.list(namespace if s.resource.namespaced else "", ListOptions()))["items"]:
                if ownership.is_dependent(item, uid):
                    found.append((s, item))
        return found

    async def _delete(self, store: GenericStore, obj: dict[str, Any], policy: str) -> None:
        md = obj["metadata"]
        try:
            deleted = await store.delete(md.get("namespace", ""), md["name"],
                                         DeleteOptions(propagation_policy=policy, precondition_uid=md.get("uid", "")))
        except errors.APIError as e:
            if e.code in (404, 409):  # already gone, or a new object with the same name
                return
            raise
        if policy == "Foreground":
            await self._foreground(store, deleted)
        else:
            await self._propagate(store, deleted)

    async def _foreground(self, store: GenericStore, owner: dict[str, Any]) -> None:
        for dep_store, dep in await self.dependents(store, owner):
            if not dep["metadata"].get("deletionTimestamp"):
                await self._delete(dep_store, dep, "Foreground")
        delay, waited = POLL_INITIAL_S, 0.0
        while await self.dependents(store, owner):
            if waited > FOREGROUND_DEADLINE_S:
                return
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, POLL_MAX_S)
        await self._drop_finalizer(store, owner, ownership.FOREGROUND)

    async def _orphan(self, store: GenericStore, owner: dict[str, Any]) -> None:
        uid = owner["metadata"]["uid"]
        for dep_store, dep in await self.dependents(store, owner):
            md = dep["metadata"]
            try:
                await dep_store.guaranteed_update(md.get("namespace", ""), md["name"],
                                                  lambda o: ownership.without_owner(o, uid))
            except errors.APIError as e:
                if e.code != 404:
                    raise
        await self._drop_finalizer(store, owner, ownership.ORPHAN)

    async def _drop_finalizer(self, store: GenericStore, owner: dict[str, Any], finalizer: str) -> None:
        md = owner["metadata"]

        def drop(o: dict[str, Any]) -> dict[str, Any]:
            if o["metadata"].get("uid") != md.get("uid"):
                raise errors.conflict(store.resource.plural, store.resource.group, md["name"], "owner replaced")
            return ownership.without_finalizer(o, finalizer)
        try:
            await store.guaranteed_update(md.get("namespace", ""), md["name"], drop)
        except errors.APIError as e:
            if e.code not in (404, 409):
                raise
