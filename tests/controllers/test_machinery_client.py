"""The REST client, the executor and the event recorder against a real API server (RBAC on), plus kubeconfig
loading and the client-side rate limiter."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from controllers.machinery.actions import Create, Delete, Event, Patch, Update
from controllers.machinery.client import APIError, RateLimiter, RESTClient
from controllers.machinery.events import EventRecorder
from controllers.machinery.executor import execute, execute_slow_start
from controllers.machinery.kubeconfig import KubeconfigError, load_kubeconfig
from controllers.machinery.resources import CONFIGMAPS, DEPLOYMENTS, EVENTS, PODS
from tests.controllers.cluster import ControlPlane

pytestmark = pytest.mark.e2e
NS = "client"


def run(cp: ControlPlane, body: Callable[[RESTClient], Awaitable[None]], kubeconfig: str | None = None) -> None:
    async def main() -> None:
        client = RESTClient(load_kubeconfig(kubeconfig or cp.admin_kubeconfig), qps=0)
        try:
            await body(client)
        finally:
            await client.close()
    asyncio.run(main())


@pytest.fixture(scope="module", autouse=True)
def namespace(control_plane: ControlPlane) -> None:
    control_plane.create_namespace(NS)


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def test_crud_selectors_and_paging(control_plane: ControlPlane) -> None:
    async def body(c: RESTClient) -> None:
        for i in range(5):
            await c.create(CONFIGMAPS, NS, cm(f"page{i}", app="web" if i % 2 else "db"))
        got = await c.get(CONFIGMAPS, NS, "page1")
        assert got["kind"] == "ConfigMap" and got["metadata"]["labels"] == {"app": "web"}
        web = await c.list(CONFIGMAPS, NS, label_selector="app=web")
        assert sorted(o["metadata"]["name"] for o in web["items"]) == ["page1", "page3"]
        named = await c.list(CONFIGMAPS, NS, field_selector="metadata.name=page4")
        assert [o["metadata"]["name"] for o in named["items"]] == ["page4"]
        first = await c.list(CONFIGMAPS, NS, limit=2)
        assert len(first["items"]) == 2 and first["metadata"]["continue"]
        items, rv = await c.list_all(CONFIGMAPS, NS, page_size=2, label_selector="app in (web,db)")
        assert sorted(o["metadata"]["name"] for o in items) == [f"page{i}" for i in range(5)] and rv
        got["data"] = {"k": "updated"}
        updated = await c.update(CONFIGMAPS, NS, "page1", got)
        assert updated["data"] == {"k": "updated"}
        with pytest.raises(APIError) as stale:
            await c.update(CONFIGMAPS, NS, "page1", got)  # the old resourceVersion
        assert stale.value.code == 409 and stale.value.conflict and stale.value.status["kind"] == "Status"
        with pytest.raises(APIError) as dup:
            await c.create(CONFIGMAPS, NS, cm("page1"))
        assert dup.value.already_exists and dup.value.reason == "AlreadyExists"
        with pytest.raises(APIError) as missing:
            await c.get(CONFIGMAPS, NS, "nope")
        assert missing.value.not_found and missing.value.message == 'configmaps "nope" not found'
    run(control_plane, body)


def test_patch_types(control_plane: ControlPlane) -> None:
    async def body(c: RESTClient) -> None:
        await c.create(CONFIGMAPS, NS, cm("patched"))
        merged = await c.patch(CONFIGMAPS, NS, "patched", {"data": {"m": "1"}}, "merge")
        assert merged["data"] == {"k": "v", "m": "1"}
        smp = await c.patch(CONFIGMAPS, NS, "patched", {"metadata": {"labels": {"s": "1"}}}, "strategic")
        assert smp["metadata"]["labels"] == {"s": "1"}
        jp = await c.patch(CONFIGMAPS, NS, "patched", [{"op": "remove", "path": "/data/k"}], "json")
        assert jp["data"] == {"m": "1"}
        applied = await c.patch(CONFIGMAPS, NS, "applied", {"apiVersion": "v1", "kind": "ConfigMap",
                                                            "metadata": {"name": "applied"}, "data": {"a": "1"}},
                                "apply", field_manager="test-controller", force=True)
        assert applied["data"] == {"a": "1"}
        assert [m["manager"] for m in applied["metadata"]["managedFields"]] == ["test-controller"]
        with pytest.raises(ValueError):
            await c.patch(CONFIGMAPS, NS, "patched", {}, "xml")
    run(control_plane, body)


def test_delete_preconditions_and_propagation(control_plane: ControlPlane) -> None:
    async def body(c: RESTClient) -> None:
        made = await c.create(CONFIGMAPS, NS, cm("doomed"))
        with pytest.raises(APIError) as wrong:
            await c.delete(CONFIGMAPS, NS, "doomed", uid="not-the-uid")
        assert wrong.value.code == 409 and "Precondition failed" in wrong.value.message
        await c.delete(CONFIGMAPS, NS, "doomed", uid=made["metadata"]["uid"],
                       resource_version=made["metadata"]["resourceVersion"], propagation="Background")
        with pytest.raises(APIError) as gone:
            await c.get(CONFIGMAPS, NS, "doomed")
        assert gone.value.not_found
        pod = await c.create(PODS, NS, {"metadata": {"name": "graceful"},
                                        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}})
        terminating = await c.delete(PODS, NS, "graceful", uid=pod["metadata"]["uid"], grace_period_seconds=30)
        assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
        await c.delete(PODS, NS, "graceful", grace_period_seconds=0)
    run(control_plane, body)


def test_watch_yields_typed_events_bookmarks_and_expired_errors(control_plane: ControlPlane) -> None:
    async def body(c: RESTClient) -> None:
        page = await c.list(CONFIGMAPS, NS)
        rv = page["metadata"]["resourceVersion"]

        async def writer() -> None:
            await c.create(CONFIGMAPS, NS, cm("watched"))
            await c.patch(CONFIGMAPS, NS, "watched", {"data": {"x": "1"}})
            await c.delete(CONFIGMAPS, NS, "watched")
        seen: list[tuple[str, str]] = []
        task = asyncio.ensure_future(writer())
        async for etype, obj in c.watch(CONFIGMAPS, NS, resource_version=rv, timeout_seconds=10):
            if etype != "BOOKMARK":
                seen.append((etype, obj["metadata"]["name"]))
            if len(seen) == 3:
                break
        await task
        assert seen == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]
    run(control_plane, body)


def test_executor_runs_actions_in_order_and_reports_errors(control_plane: ControlPlane) -> None:
    async def body(c: RESTClient) -> None:
        rec = EventRecorder(c, "executor-test")
        made = await c.create(CONFIGMAPS, NS, cm("exec-base"))
        actions = [Create(CONFIGMAPS, NS, cm("exec-new")),
                   Patch(CONFIGMAPS, NS, "exec-new", {"data": {"p": "1"}}),
                   Update(CONFIGMAPS, NS, "exec-base", {**made, "data": {"u": "1"}}),
                   Delete(CONFIGMAPS, NS, "exec-base", uid="wrong-uid"),
                   Event(made, "Warning", "Tested", "an event from the executor")]
        out = await execute(c, actions, rec)
        assert [o.error is None for o in out] == [True, True, True, False, True]
        assert out[1].object is not None and out[1].object["data"] == {"k": "v", "p": "1"}
        assert isinstance(out[3].error, APIError) and out[3].error.code == 409
        await rec.flush()
        ev = await c.list(EVENTS, NS, field_selector="involvedObject.name=exec-base")
        assert [e["reason"] for e in ev["items"]] == ["Tested"]
        # slow start: batches of 1, 2, 4 ...; the batch with a failure is the last one attempted
        creates = [Create(CONFIGMAPS, NS, cm(f"ss{i}")) for i in range(3)]
        creates += [Create(CONFIGMAPS, NS, cm("ss0"))] + [Create(CONFIGMAPS, NS, cm(f"ss{i}")) for i in range(3, 20)]
        out = await execute_slow_start(c, creates, rec)
        assert len(out) == 7, "batches 1 + 2 + 4 (the failing duplicate is in the third); 13 never attempted"
        assert [o.error is not None for o in out].count(True) == 1
    run(control_plane, body)


def test_identical_events_are_counted_on_one_event(control_plane: ControlPlane) -> None:
    async def body(c: RESTClient) -> None:
        obj = await c.create(CONFIGMAPS, NS, cm("noisy"))
        rec = EventRecorder(c, "event-test", host="h1")
        for _ in range(3):
            rec.event(obj, "Normal", "Same", "the same message")
        rec.event(obj, "Normal", "Same", "another message")
        await rec.flush()
        items = (await c.list(EVENTS, NS, field_selector="involvedObject.name=noisy"))["items"]
        by_msg = {e["message"]: e for e in items}
        assert set(by_msg) == {"the same message", "another message"}
        same = by_msg["the same message"]
        assert same["count"] == 3 and same["firstTimestamp"] <= same["lastTimestamp"]
        assert same["source"] == {"component": "event-test", "host": "h1"}
        assert same["involvedObject"] == {"kind": "ConfigMap", "namespace": NS, "name": "noisy", "apiVersion": "v1",
                                          "uid": obj["metadata"]["uid"],
                                          "resourceVersion": obj["metadata"]["resourceVersion"]}
        assert same["metadata"]["name"].startswith("noisy.")
        assert by_msg["another message"]["count"] == 1
    run(control_plane, body)


def test_rbac_refusal_is_a_typed_403(control_plane: ControlPlane) -> None:
    """The controller manager's own identity may list everything but not write Deployments."""
    async def body(c: RESTClient) -> None:
        await c.list(DEPLOYMENTS, NS)
        with pytest.raises(APIError) as denied:
            await c.create(DEPLOYMENTS, NS, {"metadata": {"name": "d"}})
        assert denied.value.code == 403 and denied.value.reason == "Forbidden"
        assert 'User "system:kube-controller-manager" cannot create resource "deployments"' in denied.value.message
    run(control_plane, body, kubeconfig=control_plane.kcm_kubeconfig)


def test_kubeconfig_inline_data_and_token(control_plane: ControlPlane, tmp_path: Any) -> None:
    srv = control_plane.server

    def b64(path: str) -> str:
        return base64.b64encode(open(path, "rb").read()).decode()
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "inline",
           "clusters": [{"name": "c", "cluster": {"server": srv.url, "certificate-authority-data": b64(srv.ca)}}],
           "users": [{"name": "u", "user": {"client-certificate-data": b64(srv.client_cert),
                                            "client-key-data": b64(srv.client_key)}},
                     {"name": "t", "user": {"token": "abc"}}],
           "contexts": [{"name": "inline", "context": {"cluster": "c", "user": "u", "namespace": "ns1"}},
                        {"name": "tok", "context": {"cluster": "c", "user": "t"}}]}
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(doc))
    cfg = load_kubeconfig(str(path))
    assert cfg.server == srv.url and cfg.namespace == "ns1" and cfg.cert_data and not cfg.cert_file
    assert load_kubeconfig(str(path), context="tok").bearer_token() == "abc"
    with pytest.raises(KubeconfigError):
        load_kubeconfig(str(path), context="missing")
    run(control_plane, lambda c: c.get(CONFIGMAPS, NS, "patched"), kubeconfig=str(path))  # type: ignore[arg-type,return-value]


@pytest.mark.unit
def test_client_side_token_bucket_paces_requests_beyond_the_burst() -> None:
    async def main() -> float:
        limiter = RateLimiter(qps=50, burst=5)
        start = time.monotonic()
        for _ in range(15):
            await limiter.wait()
        return time.monotonic() - start
    took = asyncio.run(main())
    assert 0.18 <= took <= 1.0, f"5 at once then 10 at 50/s takes ~0.2 s, took {took:.3f}s"
