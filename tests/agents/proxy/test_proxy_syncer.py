"""The sync loop on fake informers: a burst of changes is one sync per min sync period, a failing apply (of any
kind) is retried as a full sync and the loop keeps running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from agents.proxy.model import ServicePort
from agents.proxy.syncer import Syncer


class FakeStore:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def list(self) -> list[dict[str, Any]]:
        return list(self.items)


class FakeInformer:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.on_add: Callable[[Any], None] | None = None

    def add_handlers(self, on_add: Callable[[Any], None], on_update: Any, on_delete: Any) -> None:
        self.on_add = on_add

    def add(self, obj: dict[str, Any]) -> None:
        self.store.items.append(obj)
        assert self.on_add is not None
        self.on_add(obj)


def service(i: int) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": f"s{i}"},
            "spec": {"clusterIP": f"10.0.0.{i + 1}", "ports": [{"port": 80}]}}


@pytest.mark.timeout(30)
def test_bursts_are_batched_and_failures_retried_full() -> None:
    async def main() -> None:
        services, slices = FakeInformer(), FakeInformer()
        calls: list[tuple[int, bool]] = []
        fail = [True]

        def apply(ports: Sequence[ServicePort], full: bool) -> None:
            calls.append((len(ports), full))
            if fail[0]:
                fail[0] = False
                raise ValueError("a bug")

        syncer = Syncer(services, slices, min_sync_s=0.3, sync_period_s=60, apply=apply)  # type: ignore[arg-type]
        task = asyncio.get_running_loop().create_task(syncer.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while syncer.stats.failures < 1 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert calls == [(0, True)] and syncer.stats.failures == 1
        for i in range(20):  # a burst within one min sync period
            services.add(service(i))
        while (not calls or calls[-1][0] != 20) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert calls[-1] == (20, True)  # after the failure: full
        assert len(calls) <= 3, calls    # 20 changes, at most two syncs (one may catch the burst half-way)
        services.add(service(20))
        while calls[-1][0] != 21 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert calls[-1] == (21, False)  # then partial again
        task.cancel()
    asyncio.run(main())
