"""The Endpoints and EndpointSlice sync adapters on a scripted API client: what a refused write becomes (the real
Warning event and a retry, or a silent drop in a terminating namespace) and the stale-cache guards."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from controllers.endpoints.controller import EndpointsController
from controllers.endpointslice.controller import EndpointSliceController
from controllers.machinery.client import APIError
from controllers.machinery.controller import ControllerContext
from controllers.machinery.informer import SharedInformerFactory
from controllers.options import ControllerManagerOptions
from tests.controllers.svcpods import node, pod, service

pytestmark = pytest.mark.unit
Obj = dict[str, Any]
TERMINATING = APIError(403, "Forbidden", "unable to create new content in namespace default because it is being "
                       "terminated", {"details": {"causes": [{"reason": "NamespaceTerminating"}]}})


class ScriptedClient:
    """Answers writes from `failures` (verb -> error) or echoes them with a new resourceVersion/generation."""

    def __init__(self, failures: dict[str, Exception] | None = None) -> None:
        self.failures = failures or {}
        self.calls: list[tuple[str, str]] = []
        self.written: list[Obj] = []
        self.rv = 100

    def _answer(self, verb: str, body: Obj | None) -> Obj | None:
        self.calls.append((verb, ((body or {}).get("metadata") or {}).get("name") or
                           ((body or {}).get("metadata") or {}).get("generateName", "")))
        if verb in self.failures:
            raise self.failures[verb]
        if body is None:
            return None
        out = copy.deepcopy(body)
        md = out["metadata"]
        self.rv += 1
        md["resourceVersion"] = str(self.rv)
        if "generateName" in md:
            md["name"] = md.pop("generateName") + "abcde"
        md["generation"] = int(md.get("generation") or 0) + 1
        self.written.append(out)
        return out

    async def create(self, resource: Any, ns: Any, body: Obj, subresource: Any = None) -> Any:
        return self._answer("create", body)

    async def update(self, resource: Any, ns: Any, name: str, body: Obj, subresource: Any = None) -> Any:
        return self._answer("update", body)

    async def delete(self, resource: Any, ns: Any, name: str, **kw: Any) -> Any:
        return self._answer("delete", {"metadata": {"name": name}})


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        self.events.append((obj.get("kind", ""), type_, reason, message))


def build(cls: Any, client: ScriptedClient) -> Any:
    ctl = cls(ControllerContext(client, SharedInformerFactory(client), ControllerManagerOptions()))  # type: ignore[arg-type]
    ctl.recorder = Recorder()
    return ctl


def put(informer: Any, *objs: Obj) -> None:
    for o in objs:
        md = o["metadata"]
        informer.store.upsert(f"{md['namespace']}/{md['name']}" if md.get("namespace") else md["name"], o)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def sync_raises(ctl: Any, key: str) -> str:
    with pytest.raises(Exception) as info:
        await ctl.sync(key)
    return str(info.value)


def test_endpoints_create_refused_gives_the_warning_event_and_a_retry() -> None:
    async def main() -> None:
        ctl = build(EndpointsController, ScriptedClient({"create": APIError(500, "InternalError", "boom")}))
        put(ctl.services, service())
        put(ctl.pods, pod("a"))
        assert "boom" in await sync_raises(ctl, "default/web")
        assert ctl.recorder.events == [("Endpoints", "Warning", "FailedToCreateEndpoint",
                                        "Failed to create endpoint for service default/web: boom")]
    run(main())


def test_endpoints_update_refused_names_the_update() -> None:
    async def main() -> None:
        ctl = build(EndpointsController, ScriptedClient({"update": APIError(409, "Conflict", "the object has been "
                                                                            "modified")}))
        put(ctl.services, service())
        put(ctl.pods, pod("a"))
        put(ctl.endpoints, {"apiVersion": "v1", "kind": "Endpoints",
                            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"}})
        await sync_raises(ctl, "default/web")
        assert ctl.recorder.events == [("Endpoints", "Warning", "FailedToUpdateEndpoint",
                                        "Failed to update endpoint default/web: the object has been modified")]
    run(main())


def test_endpoints_create_in_a_terminating_namespace_is_dropped_silently() -> None:
    async def main() -> None:
        ctl = build(EndpointsController, ScriptedClient({"create": TERMINATING}))
        put(ctl.services, service())
        await ctl.sync("default/web")
        assert ctl.recorder.events == []
    run(main())


def test_endpoints_of_a_deleted_service_already_gone_is_fine() -> None:
    async def main() -> None:
        ctl = build(EndpointsController, ScriptedClient({"delete": APIError(404, "NotFound", "not found")}))
        put(ctl.endpoints, {"metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"}})
        await ctl.sync("default/web")
        assert ctl.ctx.client.calls == [("delete", "web")]
    run(main())


def test_endpoints_sync_on_a_cache_older_than_its_own_update_is_retried() -> None:
    async def main() -> None:
        client = ScriptedClient()
        ctl = build(EndpointsController, client)
        put(ctl.services, service())
        put(ctl.pods, pod("a"))
        stale = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"}}
        put(ctl.endpoints, stale)
        await ctl.sync("default/web")
        assert client.calls == [("update", "web")]
        put(ctl.pods, pod("a", ready=False))
        assert "endpoints informer cache is out of date, resource version 3 already processed for endpoints " \
               "default/web" == await sync_raises(ctl, "default/web")
        assert client.calls == [("update", "web")], "nothing written from the stale cache"
    run(main())


def test_endpointslice_missing_node_still_writes_and_reports() -> None:
    async def main() -> None:
        client = ScriptedClient()
        ctl = build(EndpointSliceController, client)
        put(ctl.services, service(ipFamilies=["IPv4"]))
        put(ctl.nodes, node("node-1"))
        put(ctl.pods, pod("a"), pod("b", "10.0.0.2", node="gone"))
        message = await sync_raises(ctl, "default/web")
        assert message == "skipping Pod b for Service default/web: Node gone Not Found"
        assert client.calls == [("create", "web-")]
        assert ctl.recorder.events == [("Service", "Warning", "FailedToUpdateEndpointSlices",
                                        "Error updating Endpoint Slices for Service default/web: " + message)]
    run(main())


def test_endpointslice_create_refused_and_the_stale_cache_guard() -> None:
    async def main() -> None:
        client = ScriptedClient({"create": APIError(500, "InternalError", "boom")})
        ctl = build(EndpointSliceController, client)
        put(ctl.services, service(ipFamilies=["IPv4"]))
        put(ctl.nodes, node("node-1"))
        put(ctl.pods, pod("a"))
        assert await sync_raises(ctl, "default/web") == "failed to create EndpointSlice for Service default/web: boom"
        assert ctl.recorder.events[-1][2:] == ("FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for "
                                               "Service default/web: failed to create EndpointSlice for Service "
                                               "default/web: boom")
        client.failures.clear()
        await ctl.sync("default/web")  # created web-abcde; the informer has not shown it yet
        assert await sync_raises(ctl, "default/web") == "EndpointSlice informer cache is out of date"
        assert [c for c in client.calls if c[0] == "create"] == [("create", "web-"), ("create", "web-")]
        put(ctl.slices, client.written[-1])  # the informer shows it now
        client.calls.clear()
        await ctl.sync("default/web")
        assert client.calls == [], "caught up and already correct: no duplicate, no write"
    run(main())


def test_endpointslice_terminating_namespace_drops_the_key() -> None:
    async def main() -> None:
        ctl = build(EndpointSliceController, ScriptedClient({"create": TERMINATING}))
        put(ctl.services, service(ipFamilies=["IPv4"]))
        await ctl.sync("default/web")
        assert ctl.recorder.events == []
    run(main())


def test_endpoints_not_created_twice_while_the_cache_lags() -> None:
    async def main() -> None:
        client = ScriptedClient()
        ctl = build(EndpointsController, client)
        put(ctl.services, service())
        put(ctl.pods, pod("a"))
        await ctl.sync("default/web")
        assert "created but not seen" in await sync_raises(ctl, "default/web")
        assert client.calls == [("create", "web")]
        put(ctl.endpoints, client.written[-1])
        await ctl.sync("default/web")
        assert client.calls == [("create", "web")], "seen and correct: nothing to write"
        ctl._endpoints_deleted(client.written[-1])  # a user deletes it: created again
        ctl.endpoints.store.remove("default/web")
        await ctl.sync("default/web")
        assert client.calls == [("create", "web"), ("create", "web")]
    run(main())


def test_max_endpoints_per_slice_flag_reaches_the_reconciler() -> None:
    from controllers.options import parse_options

    async def main() -> None:
        client = ScriptedClient()
        opts = parse_options(["--kubeconfig", "kc", "--max-endpoints-per-slice", "2"])
        ctl = EndpointSliceController(ControllerContext(client, SharedInformerFactory(client), opts))  # type: ignore[arg-type]
        ctl.recorder = Recorder()
        put(ctl.services, service(ipFamilies=["IPv4"]))
        put(ctl.nodes, node("node-1"))
        put(ctl.pods, *[pod(f"p{i}", f"10.0.0.{i + 1}") for i in range(5)])
        await ctl.sync("default/web")
        assert [len(o["endpoints"]) for o in client.written] == [2, 2, 1]
    run(main())


def test_topology_hints_events_are_recorded_on_the_service_and_remembered() -> None:
    def zone_node(name: str, zone: str) -> Obj:
        n = node(name, zone=zone)
        n["status"] = {"allocatable": {"cpu": "4"}, "conditions": [{"type": "Ready", "status": "True"}]}
        return n

    async def main() -> None:
        client = ScriptedClient()
        ctl = build(EndpointSliceController, client)
        auto = service(ipFamilies=["IPv4"])
        auto["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
        put(ctl.services, auto)
        put(ctl.nodes, zone_node("node-1", "zone-a"), zone_node("node-2", "zone-b"))
        put(ctl.pods, *[pod(f"p{i}", f"10.0.0.{i + 1}", node=f"node-{i % 2 + 1}") for i in range(4)])
        await ctl.sync("default/web")
        assert ctl.recorder.events == [("Service", "Normal", "TopologyAwareHintsEnabled",
                                        "Topology Aware Hints has been enabled, addressType: IPv4")]
        assert "default/web" in ctl.hinted
        put(ctl.slices, client.written[-1])
        put(ctl.services, service(ipFamilies=["IPv4"]))  # the annotation removed
        await ctl.sync("default/web")
        assert ctl.recorder.events[-1] == ("Service", "Warning", "TopologyAwareHintsDisabled",
                                           "Topology Aware Hints has been disabled, addressType: IPv4")
        assert all("hints" not in e for e in client.written[-1]["endpoints"])
        assert "default/web" not in ctl.hinted
    run(main())
