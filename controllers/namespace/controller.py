"""The namespace controller's adapter: empties a deleted namespace, reports progress, finalizes it.

One sync of a Terminating namespace: discover the namespaced resources that can be listed and deleted (every
time, as 1.32 does, so resources added later are covered), list and delete what is in the namespace, list again,
write the five deletion conditions, and when nothing is left remove the `kubernetes` finalizer through
/finalize (the API server then removes the namespace). Pods terminating gracefully bring the namespace back after
their grace period, content held by finalizers after 15 s; anything else still there is a content failure,
retried with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from controllers.garbagecollector.discovery import discover
from controllers.machinery.actions import Action
from controllers.machinery.client import APIError
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute
from controllers.machinery.resources import NAMESPACES, Resource
from controllers.namespace import reconcile as core

log = logging.getLogger(__name__)
Object = dict[str, Any]
COMPONENT = "namespace-controller"
DELETION_GRACE_S = 5.0


class NamespaceController(Controller):
    name = "namespace"
    resources = (NAMESPACES,)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.recorder = ctx.recorder(COMPONENT)
        self.namespaces = self.watch(NAMESPACES, self._changed)

    def _changed(self, ns: Object) -> None:
        """Deleted namespaces only, after 1.32's namespaceDeletionGracePeriod: other API servers see the deletion
        and last-moment creations land before the content is listed."""
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            self.enqueue_after(ns, DELETION_GRACE_S)

    async def run(self, workers: int = 1) -> None:
        resync = asyncio.ensure_future(self._resync())
        try:
            await super().run(workers)
        finally:
            resync.cancel()

    async def _resync(self) -> None:
        """The informer's resync (--namespace-sync-period): deleted namespaces are looked at again even when
        nothing about them changed (a retry backed off far, content whose finalizers were removed since)."""
        period = float(getattr(self.ctx.options, "namespace_sync_period", 300.0))
        while True:
            await asyncio.sleep(period)
            for ns in self.namespaces.store.list():
                self._changed(ns)

    async def sync(self, key: str) -> None:
        _, name = self.split_key(key)
        try:
            ns = await self.ctx.client.get(NAMESPACES, None, name)
        except APIError as e:
            if e.not_found:
                return
            raise
        if not core.needs_content_deletion(ns):
            return
        found = await discover(self.ctx.client)
        resources = found.supporting(("list", "delete"), namespaced=True)
        content_errors: list[str] = []
        contents = await self._list(name, resources, content_errors)
        for outcome in await execute(self.ctx.client, core.content_deletions(name, contents)):
            err = outcome.error
            if err is not None and not (isinstance(err, APIError) and err.not_found):
                content_errors.append(str(err))
        remaining = await self._list(name, resources, content_errors)
        now = self.ctx.now()
        deleted_at = core.parse_time(core.meta(ns).get("deletionTimestamp"))
        estimate = 0
        for res in resources:
            wait, problem = core.resource_outcome(name, res, contents.get(res, []), remaining.get(res, []),
                                                  deleted_at, now)
            estimate = max(estimate, wait)
            if problem is not None:
                content_errors.append(problem)
        failures = core.Failures(discovery=found.failed, content=content_errors)
        update = core.status_update(ns, remaining, failures, now)
        if update is not None:
            ns = await self._one(update)
        if found.failed or content_errors:
            raise RuntimeError(f"namespace {name}: deletion incomplete: {failures}")
        if estimate > 0:
            self.enqueue_after(key, estimate)  # pods terminating, or content held by finalizers
            return
        finalize = core.finalize(ns)
        if finalize is not None:
            try:
                await self._one(finalize)
            except APIError as e:
                if not e.not_found:  # another controller sharing the finalizer may have finished first
                    raise

    async def _list(self, namespace: str, resources: list[Resource], errors: list[str]) -> dict[Resource, list[Object]]:
        out: dict[Resource, list[Object]] = {}
        for res in resources:
            try:
                items, _ = await self.ctx.client.list_all(res, namespace)
            except APIError as e:
                if not e.not_found:
                    errors.append(str(e))
                continue
            out[res] = items
        return out

    async def _one(self, action: Action) -> Object:
        [outcome] = await execute(self.ctx.client, [action], self.recorder)
        if outcome.error is not None:
            raise outcome.error
        return outcome.object or {}


def new_controller(ctx: ControllerContext) -> Controller:
    return NamespaceController(ctx)
