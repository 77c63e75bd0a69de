"""Keeps the `kubernetes` Service and this API server's place in its Endpoints/EndpointSlice, as kube-apiserver's
bootstrap controller and endpoint reconciler do: once at start (after repairing the allocation bitmaps from the
stored Services), then every RECONCILE_INTERVAL_S (kube's --endpoint-reconciler-interval default), so a deleted
object comes back; the bitmaps are rebuilt from the Services every 3 minutes, as kube's repair loops do. The objects themselves are decided by `kubernetes_service.py` (pure)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from apiserver import errors
from apiserver.registry import kubernetes_service as kube_svc
from apiserver.registry.service_alloc import ServiceAllocator
from apiserver.registry.store import GenericStore, ListOptions, Registry
from apiserver.storage.errors import StorageError
from raftkv.eventloop import cancel_and_wait

log = logging.getLogger(__name__)
RECONCILE_INTERVAL_S = 10.0
REPAIR_EVERY = 18  # rounds: kube's allocation repair loop runs every 3 minutes
CREATE_RACE_ATTEMPTS = 8


async def _exists(store: GenericStore, namespace: str, name: str) -> bool:
    try:
        await store.get(namespace, name)
        return True
    except errors.APIError as e:
        if e.code != 404:
            raise
        return False


async def _create_or_update(store: GenericStore, namespace: str, name: str,
                            build: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> None:
    """Write `build(current)` unless it is None (nothing to change); a create that lost to another server's
    create is retried as an update."""
    for _ in range(CREATE_RACE_ATTEMPTS):
        if not await _exists(store, namespace, name):
            obj = build(None)
            if obj is None:
                return
            try:
                await store.create(namespace, obj)
                return
            except errors.APIError as e:
                if e.code != 409:
                    raise
                continue

        def transform(cur: dict[str, Any]) -> dict[str, Any]:
            return build(cur) or cur
        try:
            await store.guaranteed_update(namespace, name, transform)
            return
        except errors.APIError as e:
            if e.code != 404:  # deleted between the read and the update: create it again
                raise


class KubernetesServiceReconciler:
    def __init__(self, registry: Registry, allocator: ServiceAllocator, secure_port: int, advertise_address: str,
                 bind_address: str) -> None:
        self.registry = registry
        self.allocator = allocator
        self.port = secure_port
        self.ip = kube_svc.advertise_address(advertise_address, bind_address)
        self._task: asyncio.Task[None] | None = None

    def _store(self, group: str, plural: str) -> GenericStore:
        store = self.registry.store(group, plural)
        assert store is not None
        return store

    async def start(self) -> None:
        await self.repair()
        await self.reconcile()
        self._task = asyncio.ensure_future(self._loop())

    async def repair(self) -> None:
        async def services() -> list[dict[str, Any]]:
            listed = await self._store("", "services").list("", ListOptions())
            return list(listed["items"])
        await self.allocator.repair(services)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(RECONCILE_INTERVAL_S)
            rounds += 1
            try:
                if rounds % REPAIR_EVERY == 0:
                    await self.repair()
                await self.reconcile()
            except (errors.APIError, StorageError) as e:  # the store may be briefly away: next round
                log.warning("kubernetes service reconcile: %s", e)

    async def reconcile(self) -> None:
        services = self._store("", "services")
        if not await _exists(services, kube_svc.NAMESPACE, kube_svc.NAME):
            try:
                await services.create(kube_svc.NAMESPACE, kube_svc.service(self.allocator.ips.first, self.port))
            except errors.APIError:
                # another API server created it first: its address is then taken (422) or its name (409)
                if not await _exists(services, kube_svc.NAMESPACE, kube_svc.NAME):
                    raise
        await _create_or_update(self._store("", "endpoints"), kube_svc.NAMESPACE, kube_svc.NAME,
                                lambda cur: kube_svc.endpoints(cur, self.ip, self.port))
        await _create_or_update(self._store("discovery.k8s.io", "endpointslices"), kube_svc.NAMESPACE,
                                kube_svc.NAME, lambda cur: kube_svc.endpoint_slice(cur, self.ip, self.port))
