"""Informers against a real API server: list then watch, indexes, handler events exactly once, resumption after
a watch ends, a relist on 410 Expired (after a compaction) that reports what changed meanwhile, and an API
server restart that loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from controllers.machinery import informer as informer_module
from controllers.machinery.client import RESTClient
from controllers.machinery.informer import Informer
from controllers.machinery.kubeconfig import load_kubeconfig
from controllers.machinery.resources import CONFIGMAPS, PODS
from tests.conftest import GiveUp
from tests.controllers.cluster import ControlPlane

pytestmark = pytest.mark.e2e
DEADLINE_S = 30.0


class Recorder:
    """Every handler call, as (event, name, resourceVersion)."""

    def __init__(self, inf: Informer) -> None:
        self.calls: list[tuple[str, str, str]] = []
        inf.add_handlers(on_add=lambda o: self._rec("add", o), on_update=lambda old, new: self._rec("update", new),
                         on_delete=lambda o: self._rec("delete", o))

    def _rec(self, what: str, obj: dict[str, Any]) -> None:
        self.calls.append((what, obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))

    def names(self, what: str) -> list[str]:
        return [n for w, n, _ in self.calls if w == what]


async def until(pred: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"v": "0"}}


def run(cp: ControlPlane, body: Callable[[RESTClient], Awaitable[None]]) -> None:
    async def main() -> None:
        client = RESTClient(load_kubeconfig(cp.admin_kubeconfig), qps=0)
        try:
            await body(client)
        finally:
            await client.close()
    asyncio.run(main())


def test_list_then_watch_with_indexes_and_exactly_once_handlers(control_plane: ControlPlane) -> None:
    control_plane.create_namespace("inf-a")

    async def body(client: RESTClient) -> None:
        await client.create(CONFIGMAPS, "inf-a", cm("before"))
        inf = Informer(client, CONFIGMAPS, namespace="inf-a")
        rec = Recorder(inf)
        inf.start()
        assert await inf.wait_for_sync(DEADLINE_S)
        assert rec.names("add") == ["before"] and inf.lists == 1
        made = await client.create(CONFIGMAPS, "inf-a", cm("after"))
        await client.patch(CONFIGMAPS, "inf-a", "after", {"data": {"v": "1"}})
        await client.delete(CONFIGMAPS, "inf-a", "before", uid=None)
        await until(lambda: len(rec.calls) == 4, "four handler calls")
        assert [(w, n) for w, n, _ in rec.calls] == [("add", "before"), ("add", "after"), ("update", "after"),
                                                    ("delete", "before")]
        assert inf.store.keys() == ["inf-a/after"]
        assert inf.store.get("inf-a/after")["data"] == {"v": "1"}
        assert [o["metadata"]["uid"] for o in inf.store.by_index("namespace", "inf-a")] == [made["metadata"]["uid"]]
        await inf.stop()
    run(control_plane, body)


def test_owner_and_node_indexes(control_plane: ControlPlane) -> None:
    control_plane.create_namespace("inf-idx")

    async def body(client: RESTClient) -> None:
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "uid-rs-1", "controller": True}
        pod = {"metadata": {"name": "p", "ownerReferences": [owner]},
               "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]}}
        await client.create(PODS, "inf-idx", pod)
        inf = Informer(client, PODS, namespace="inf-idx")
        inf.start()
        assert await inf.wait_for_sync(DEADLINE_S)
        assert [p["metadata"]["name"] for p in inf.store.by_index("owner_uid", "uid-rs-1")] == ["p"]
        assert [p["metadata"]["name"] for p in inf.store.by_index("node_name", "node-1")] == ["p"]
        assert inf.store.by_index("node_name", "node-2") == []
        await inf.stop()
    run(control_plane, body)


def test_watch_that_ends_is_resumed_from_the_last_resource_version(control_plane: ControlPlane,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Watches end every second or two (timeoutSeconds); each is resumed without a relist, nothing lost or
    repeated."""
    control_plane.create_namespace("inf-b")
    monkeypatch.setattr(informer_module, "MIN_WATCH_TIMEOUT_S", 1)

    async def body(client: RESTClient) -> None:
        inf = Informer(client, CONFIGMAPS, namespace="inf-b")
        rec = Recorder(inf)
        inf.start()
        assert await inf.wait_for_sync(DEADLINE_S)
        for i in range(12):
            await client.create(CONFIGMAPS, "inf-b", cm(f"c{i}"))
            await asyncio.sleep(0.25)  # spread the writes over several watch requests
        await until(lambda: len(rec.calls) == 12, "twelve adds")
        await asyncio.sleep(0.5)
        assert rec.names("add") == [f"c{i}" for i in range(12)] and len(rec.calls) == 12
        assert inf.lists == 1 and inf.watches >= 2, (inf.lists, inf.watches)
        await inf.stop()
    run(control_plane, body)


def test_410_expired_relists_and_reports_what_changed_meanwhile(control_plane: ControlPlane) -> None:
    control_plane.create_namespace("inf-c")

    async def body(client: RESTClient) -> None:
        for name in ("keep", "change", "remove"):
            await client.create(CONFIGMAPS, "inf-c", cm(name))
        inf = Informer(client, CONFIGMAPS, namespace="inf-c")
        rec = Recorder(inf)
        inf.start()
        assert await inf.wait_for_sync(DEADLINE_S)
        await inf.stop()
        # While the reflector is away: one added, one changed, one removed; then history is compacted away.
        await client.create(CONFIGMAPS, "inf-c", cm("new"))
        await client.patch(CONFIGMAPS, "inf-c", "change", {"data": {"v": "1"}})
        await client.delete(CONFIGMAPS, "inf-c", "remove")
        page = await client.list(CONFIGMAPS, "inf-c")
        control_plane.store.etcdctl("compact", page["metadata"]["resourceVersion"])
        # A fresh API server's watch cache reaches back only to its own start, so the reflector's resourceVersion
        # (older, and compacted away in the store) must be answered 410 Expired.
        await asyncio.to_thread(control_plane.restart_apiserver)
        rec.calls.clear()
        inf.start()
        await until(lambda: inf.lists == 2, "a relist")
        await until(lambda: len(rec.calls) == 3, "three handler calls")
        assert sorted((w, n) for w, n, _ in rec.calls) == [("add", "new"), ("delete", "remove"),
                                                           ("update", "change")]
        assert sorted(inf.store.keys()) == ["inf-c/change", "inf-c/keep", "inf-c/new"]
        # and the watch after the relist delivers new events
        await client.create(CONFIGMAPS, "inf-c", cm("later"))
        await until(lambda: ("add", "later") in [(w, n) for w, n, _ in rec.calls], "the add after the relist")
        await inf.stop()
    run(control_plane, body)


def test_api_server_restart_loses_and_duplicates_nothing(control_plane: ControlPlane) -> None:
    control_plane.create_namespace("inf-d")

    async def body(client: RESTClient) -> None:
        inf = Informer(client, CONFIGMAPS, namespace="inf-d")
        rec = Recorder(inf)
        inf.start()
        assert await inf.wait_for_sync(DEADLINE_S)
        for i in range(3):
            await client.create(CONFIGMAPS, "inf-d", cm(f"a{i}"))
        await until(lambda: len(rec.calls) == 3, "three adds")
        try:
            await asyncio.to_thread(control_plane.restart_apiserver)
        except GiveUp as e:
            if "already allocated" in str(e):  # the API server's own restart bug, not the informer's
                pytest.xfail("the API server does not start again on its own store: bootstrapping the "
                             "'kubernetes' Service fails with 'provided IP is already allocated'")
            raise
        for i in range(3):  # written before the reflector has reconnected (it backs off ≥ 0.8 s)
            await client.create(CONFIGMAPS, "inf-d", cm(f"b{i}"))
        await client.patch(CONFIGMAPS, "inf-d", "a0", {"data": {"v": "1"}})
        await until(lambda: len(rec.calls) == 7, "seven handler calls", timeout=60)
        await asyncio.sleep(1.0)
        assert [(w, n) for w, n, _ in rec.calls] == [
            ("add", "a0"), ("add", "a1"), ("add", "a2"), ("add", "b0"), ("add", "b1"), ("add", "b2"),
            ("update", "a0")], rec.calls
        assert len({rv for _, _, rv in rec.calls}) == 7
        await inf.stop()
    run(control_plane, body)
