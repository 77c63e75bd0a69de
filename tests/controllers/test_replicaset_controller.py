"""The ReplicaSet adapter in-process, on a fake API client and a fake clock: the bookkeeping kube's syncReplicaSet
does around the pure core — slow-start batches that stop at the first failing batch, expectations lowered by the
creations that will never be observed, ReplicaFailure written, the error raised for the queue's retry, and no
second round of creations until the informer has shown the pods in flight."""

from __future__ import annotations

import asyncio
import copy
import itertools
from typing import Any

import pytest

from controllers.machinery.client import APIError
from controllers.machinery.controller import ControllerContext
from controllers.machinery.informer import SharedInformerFactory
from controllers.machinery.resources import EVENTS, PODS, REPLICASETS, Resource
from controllers.options import ControllerManagerOptions
from controllers.replicaset.controller import new_replicaset_controller

pytestmark = pytest.mark.unit
T0 = 1_800_000_000.0
QUOTA = 'pods "web-" is forbidden: exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3'


class FakeClient:
    """Answers creates of pods until `allowed` exist, then refuses them as a quota would; records every call."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.pods: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        self.events: list[dict[str, Any]] = []
        self.status_writes: list[dict[str, Any]] = []
        self._names = itertools.count()

    async def create(self, resource: Resource, namespace: str | None, body: dict[str, Any],
                     subresource: str | None = None) -> dict[str, Any]:
        await asyncio.sleep(0)
        if resource == EVENTS:
            self.events.append(body)
            return body
        self.calls.append(("create", resource.plural))
        if len(self.pods) >= self.allowed:
            raise APIError(403, "Forbidden", QUOTA)
        pod = copy.deepcopy(body)
        n = next(self._names)
        pod["metadata"].update(name=f"web-{n:05d}", namespace=namespace, uid=f"pod-{n}", resourceVersion=str(n + 100))
        self.pods.append(pod)
        return pod

    async def update(self, resource: Resource, namespace: str | None, name: str, body: dict[str, Any],
                     subresource: str | None = None) -> dict[str, Any]:
        self.calls.append(("update", f"{resource.plural}/{subresource}"))
        self.status_writes.append(body["status"])
        return body

    async def patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("patch", "pods"))
        return {}


def replicaset(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": "rs-uid", "generation": 1, "resourceVersion": "1"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}},
            "status": {"replicas": 0}}


def test_a_refused_batch_stops_the_slow_start_and_lowers_the_expectations() -> None:
    async def main() -> None:
        client = FakeClient(allowed=3)
        now = [T0]
        ctx = ControllerContext(client, SharedInformerFactory(client), ControllerManagerOptions(),  # type: ignore[arg-type]
                                clock=lambda: now[0])
        ctl = new_replicaset_controller(ctx)
        ctx.informer(REPLICASETS).handle_event("ADDED", replicaset(10))

        with pytest.raises(APIError) as raised:
            await ctl.sync("ns/web")
        assert raised.value.message == QUOTA
        # batches of 1 and 2 succeed, the batch of 4 fails whole: 7 attempts, never the remaining 3
        assert [c for c in client.calls if c[0] == "create"] == [("create", "pods")] * 7
        [status] = client.status_writes
        assert status["replicas"] == 0  # the cache has not shown the new pods yet
        [cond] = status["conditions"]
        assert (cond["type"], cond["reason"], cond["message"]) == ("ReplicaFailure", "FailedCreate", QUOTA)
        # 10 expected, 7 will never come: 3 are still in flight, so the next sync must not create again
        assert not ctl.expectations.satisfied("ns/web", now[0])
        for pod in client.pods:
            ctx.informer(PODS).handle_event("ADDED", pod)
        assert ctl.expectations.satisfied("ns/web", now[0])

        await ctl.recorder.flush()
        reasons = [(e["reason"], e["message"]) for e in client.events]
        assert reasons.count(("FailedCreate", f"Error creating: {QUOTA}")) >= 1
        assert sorted(m for r, m in reasons if r == "SuccessfulCreate") == [
            f"Created pod: {p['metadata']['name']}" for p in client.pods]
        await ctl.recorder.close()
    asyncio.run(main())


def test_creations_in_flight_are_not_repeated_until_observed_or_expired() -> None:
    async def main() -> None:
        client = FakeClient(allowed=100)
        now = [T0]
        ctx = ControllerContext(client, SharedInformerFactory(client), ControllerManagerOptions(),  # type: ignore[arg-type]
                                clock=lambda: now[0])
        ctl = new_replicaset_controller(ctx)
        ctx.informer(REPLICASETS).handle_event("ADDED", replicaset(3))
        await ctl.sync("ns/web")
        assert len(client.pods) == 3
        await ctl.sync("ns/web")  # the informer is behind: nothing is created twice
        assert len(client.pods) == 3
        now[0] += 301  # kube's 5 minute expectations timeout: a lost watch event must not wedge the set
        await ctl.sync("ns/web")
        assert len(client.pods) == 6
        await ctl.recorder.close()
    asyncio.run(main())
