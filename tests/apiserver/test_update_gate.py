"""Concurrent updates of one object through one API server: queued per key, none lost, no retry storm; a stale
view of the object (another writer got in) is judged again against the store, never answered with a false 409."""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections.abc import Sequence
from typing import Any

import pytest

from apiserver import errors
from apiserver.api.resources import RESOURCES
from apiserver.registry.store import Registry, _KeyGate
from apiserver.storage.etcd3 import Etcd3Store

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not shutil.which("etcd"), reason="needs etcd")]


class CountingStore(Etcd3Store):
    updates = 0

    async def update(self, key: str, value: bytes, mod_revision: int,  # type: ignore[override]
                     guards: Sequence[tuple[str, int, bytes]] = ()) -> int:
        type(self).updates += 1
        return await super().update(key, value, mod_revision, guards)


async def with_default_namespace(registry: Registry) -> None:
    namespaces = registry.store("", "namespaces")
    assert namespaces is not None
    try:
        await namespaces.create("", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    except errors.APIError as err:
        assert err.code == 409


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {}}


def test_sixteen_writers_on_one_object_each_need_one_txn_and_lose_nothing(etcd_url: str) -> None:
    async def main() -> None:
        storage = CountingStore.connect([etcd_url])
        try:
            registry = Registry(storage, RESOURCES, clock=time.time, rng=random.Random(1))
            store = registry.store("", "configmaps")
            assert store is not None
            await with_default_namespace(registry)
            await store.create("default", configmap("hot"))
            CountingStore.updates = 0

            def add(i: int):
                def transform(obj: dict[str, Any]) -> dict[str, Any]:
                    obj.setdefault("data", {})[f"k{i}"] = str(i)
                    return obj
                return transform
            await asyncio.gather(*[store.guaranteed_update("default", "hot", add(i)) for i in range(16)])
            final = await store.get("default", "hot")
            assert final["data"] == {f"k{i}": str(i) for i in range(16)}
            assert CountingStore.updates == 16  # optimistic retries alone needed ~14 per write here
            assert not store._gates  # nothing kept once the key is quiet
        finally:
            await storage.close()
    asyncio.run(main())


def test_a_stale_cached_object_is_read_again_before_a_conflict_is_answered(etcd_url: str) -> None:
    async def main() -> None:
        storage = CountingStore.connect([etcd_url])
        other = Etcd3Store.connect([etcd_url])  # another API server writing the same key
        try:
            registry = Registry(storage, RESOURCES, clock=time.time, rng=random.Random(2))
            store = registry.store("", "configmaps")
            assert store is not None
            await with_default_namespace(registry)
            await store.create("default", configmap("shared"))
            key = store.key("default", "shared")
            seen, _ = await storage.get(key)
            assert seen is not None
            newer = await other.update(key, seen.value.replace(b'"data":{}', b'"data":{"by":"other"}'),
                                       seen.mod_revision)
            # this server's gate still holds the object as it last saw it (a queued writer would reuse it)
            gate = _KeyGate()
            gate.users, gate.last = 1, seen
            store._gates[key] = gate

            def expect_newest(obj: dict[str, Any]) -> dict[str, Any]:
                if obj["metadata"]["resourceVersion"] != str(newer):  # the client's resourceVersion precondition
                    raise errors.conflict("configmaps", "", "shared")
                obj["data"]["mine"] = "1"
                return obj
            result = await store.guaranteed_update("default", "shared", expect_newest)
            assert result["data"] == {"by": "other", "mine": "1"}

            def always_conflict(obj: dict[str, Any]) -> dict[str, Any]:
                raise errors.conflict("configmaps", "", "shared")
            with pytest.raises(errors.APIError) as err:  # a real conflict still is one
                await store.guaranteed_update("default", "shared", always_conflict)
            assert err.value.code == 409
        finally:
            await storage.close()
            await other.close()
    asyncio.run(main())
