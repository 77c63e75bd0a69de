"""The adapter on a scripted API client (no server): the cycle assumes then binds in the background; a refused
binding is forgotten, reported (FailedScheduling + PodScheduled=False SchedulerError) and retried after back-off;
a node deleted between filter and bind does not stop the scheduling of other pods; pods of another schedulerName
are never touched."""

from __future__ import annotations

import asyncio
import copy
import random
from typing import Any, cast

import pytest

from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.informer import SharedInformerFactory
from controllers.scheduler import config
from controllers.scheduler.scheduler import Scheduler
from tests.scheduler.builders import node, pod

pytestmark = pytest.mark.unit
Obj = dict[str, Any]


class ScriptedClient:
    """Records every call; `refuse_bindings` answers that many bindings with a 409 first."""

    def __init__(self, refuse_bindings: int = 0) -> None:
        self.refuse_bindings = refuse_bindings
        self.bindings: list[tuple[str, str]] = []
        self.events: list[Obj] = []
        self.status_patches: list[tuple[str, Obj]] = []
        self.deleted: list[str] = []

    async def create(self, resource: Any, ns: str | None, body: Obj, subresource: str | None = None,
                     name: str | None = None, **params: Any) -> Obj:
        if subresource == "binding":
            if self.refuse_bindings:
                self.refuse_bindings -= 1
                raise APIError(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{name}": the '
                                                "object has been modified")
            self.bindings.append((str(name), body["target"]["name"]))
            return {}
        self.events.append(body)
        return body

    async def patch(self, resource: Any, ns: str | None, name: str, patch: Any, patch_type: str = "merge",
                    subresource: str | None = None, **kw: Any) -> Obj:
        self.status_patches.append((name, patch))
        return {}

    async def delete(self, resource: Any, ns: str | None, name: str, **kw: Any) -> Obj:
        self.deleted.append(name)
        return {}


def make(client: ScriptedClient, now: list[float]) -> Scheduler:
    rest = cast(RESTClient, client)
    sched = Scheduler(rest, SharedInformerFactory(rest), config.load(None), clock=lambda: now[0],
                      rng=random.Random(1))
    for inf in (sched.pods, sched.nodes, sched.pvc_informer, sched.namespaces):
        inf.replace([], "1")
    return sched


def add(sched: Scheduler, kind: str, obj: Obj) -> Obj:
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = str(random.randrange(10**9))
    (sched.nodes if kind == "node" else sched.pods).handle_event("ADDED", obj)
    return obj


def modify(sched: Scheduler, kind: str, obj: Obj) -> None:
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = str(random.randrange(10**9))
    (sched.nodes if kind == "node" else sched.pods).handle_event("MODIFIED", obj)


def cycle(sched: Scheduler) -> bool:
    sched.queue.flush_backoff()
    qp = sched.queue.pop()
    if qp is None:
        return False
    sched.schedule_one(qp)
    return True


async def settle(sched: Scheduler) -> None:
    while sched._tasks:
        await asyncio.gather(*list(sched._tasks), return_exceptions=True)
    for rec in sched.recorders.values():
        await rec.flush()


def test_refused_binding_is_forgotten_reported_and_retried() -> None:
    async def main() -> None:
        client, now = ScriptedClient(refuse_bindings=1), [1000.0]
        sched = make(client, now)
        add(sched, "node", node("n1", cpu="1"))
        p = add(sched, "pod", pod("web", cpu="800m"))
        assert cycle(sched)
        assert sched.cache.nodes["n1"].requested["cpu"] == 800  # assumed before the binding lands
        await settle(sched)
        assert sched.cache.nodes["n1"].requested.get("cpu", 0) == 0  # forgotten
        failed = [e for e in client.events if e["reason"] == "FailedScheduling"]
        assert [e["message"] for e in failed] == [
            'running Bind plugin "DefaultBinder": Operation cannot be fulfilled on pods/binding "web": the object '
            'has been modified']
        cond = client.status_patches[-1][1]["status"]["conditions"][0]
        assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False", "SchedulerError")
        assert sched.queue.where("default/web") == "backoff"
        assert not cycle(sched)  # backing off
        now[0] += 1.5
        assert cycle(sched)
        await settle(sched)
        assert client.bindings == [("web", "n1")]
        modify(sched, "pod", {**p, "spec": {**p["spec"], "nodeName": "n1"}})
        assert not sched.cache.is_assumed(p["metadata"]["uid"])
        assert [e["message"] for e in client.events if e["reason"] == "Scheduled"] == [
            "Successfully assigned default/web to n1"]
    asyncio.run(main())


def test_node_deleted_between_filter_and_bind_does_not_stop_the_others() -> None:
    async def main() -> None:
        client, now = ScriptedClient(), [1000.0]
        sched = make(client, now)
        add(sched, "node", node("n1", cpu="1"))
        n2 = add(sched, "node", node("n2", cpu="1", taints=[{"key": "later", "value": "", "effect": "NoSchedule"}]))
        add(sched, "pod", pod("first", cpu="800m"))
        assert cycle(sched)  # filtered and assumed on n1; the binding is still in flight
        sched.nodes.handle_event("DELETED", sched.nodes.store.get("n1") or {})
        await settle(sched)
        # as kube-scheduler: the binding was already decided; the API server takes it (PodGC collects pods of
        # vanished nodes), and the cache simply no longer lists the node
        assert client.bindings == [("first", "n1")]
        assert [n.name for n in sched.cache.snapshot().nodes] == ["n2"]
        add(sched, "pod", pod("second", cpu="800m"))
        assert cycle(sched)
        await settle(sched)
        failed = [e["message"] for e in client.events if e["reason"] == "FailedScheduling"]
        assert failed == ["0/1 nodes are available: 1 node(s) had untolerated taint {later: }. preemption: 0/1 "
                          "nodes are available: 1 Preemption is not helpful for scheduling.."]
        modify(sched, "node", {**n2, "spec": {"taints": []}})  # the event that cures it
        assert sched.queue.where("default/second") == "backoff"  # still within its 1 s back-off
        now[0] += 1.5
        assert cycle(sched)
        await settle(sched)
        assert client.bindings == [("first", "n1"), ("second", "n2")]
    asyncio.run(main())


def test_pods_for_another_scheduler_and_bound_pods_are_left_alone() -> None:
    async def main() -> None:
        client, now = ScriptedClient(), [1000.0]
        sched = make(client, now)
        add(sched, "node", node("n1"))
        add(sched, "pod", pod("theirs", schedulerName="other-scheduler"))
        add(sched, "pod", pod("bound", cpu="1", node_name="n1"))
        assert not cycle(sched)
        await settle(sched)
        assert client.bindings == [] and client.events == [] and client.status_patches == []
        assert sched.cache.nodes["n1"].requested["cpu"] == 1000
    asyncio.run(main())


def test_pending_pod_deleted_while_parked_leaves_the_queue() -> None:
    async def main() -> None:
        client, now = ScriptedClient(), [1000.0]
        sched = make(client, now)
        add(sched, "node", node("n1", cpu="1"))
        p = add(sched, "pod", pod("big", cpu="2"))
        assert cycle(sched)
        await settle(sched)
        assert sched.queue.where("default/big") == "unschedulable"
        sched.pods.handle_event("DELETED", p)
        assert sched.queue.where("default/big") is None
    asyncio.run(main())


def test_scheduling_gated_pods_wait_until_their_gates_are_removed() -> None:
    async def main() -> None:
        client, now = ScriptedClient(), [1000.0]
        sched = make(client, now)
        add(sched, "node", node("n1"))
        gated = add(sched, "pod", pod("gated", schedulingGates=[{"name": "example.com/wait"}]))
        assert not cycle(sched) and sched.queue.where("default/gated") is None
        modify(sched, "pod", {**gated, "spec": {k: v for k, v in gated["spec"].items() if k != "schedulingGates"}})
        assert cycle(sched)
        await settle(sched)
        assert client.bindings == [("gated", "n1")]
    asyncio.run(main())


def test_no_nodes_is_unschedulable_until_a_node_arrives() -> None:
    async def main() -> None:
        client, now = ScriptedClient(), [1000.0]
        sched = make(client, now)
        add(sched, "pod", pod("early"))
        assert cycle(sched)
        await settle(sched)
        assert [e["message"] for e in client.events if e["reason"] == "FailedScheduling"] == [
            "no nodes available to schedule pods"]
        cond = client.status_patches[-1][1]["status"]["conditions"][0]
        assert cond["reason"] == "Unschedulable"
        assert sched.queue.where("default/early") == "unschedulable"
        now[0] += 2
        add(sched, "node", node("n1"))
        assert cycle(sched)
        await settle(sched)
        assert client.bindings == [("early", "n1")]
    asyncio.run(main())


def test_preemption_nominates_at_once_and_the_freed_room_waits_for_the_preemptor() -> None:
    async def main() -> None:
        client, now = ScriptedClient(), [1000.0]
        sched = make(client, now)
        add(sched, "node", node("n1", cpu="1"))
        victim = add(sched, "pod", pod("victim", cpu="800m", priority=0, node_name="n1"))
        add(sched, "pod", pod("vip", cpu="800m", priority=1000))
        assert cycle(sched)
        await settle(sched)
        assert client.deleted == ["victim"]
        disruption = next(p for name, p in client.status_patches if name == "victim")
        assert disruption["status"]["conditions"][0]["reason"] == "PreemptionByScheduler"
        assert [e["message"] for e in client.events if e["reason"] == "Preempted"] == [
            "Preempted by pod uid-default-vip on node n1"]
        nominated = next(p for name, p in client.status_patches if name == "vip")
        assert nominated["status"]["nominatedNodeName"] == "n1"
        assert [e["message"] for e in client.events if e["reason"] == "FailedScheduling"] == [
            "0/1 nodes are available: 1 Insufficient cpu."]
        sched.pods.handle_event("DELETED", victim)  # the victim is gone; vip is still backing off
        assert sched.queue.where("default/vip") == "backoff"
        add(sched, "pod", pod("sneaky", cpu="800m", priority=0))
        assert cycle(sched)  # sneaky goes first, but the room on n1 is held for the nominated vip
        await settle(sched)
        assert client.bindings == []
        sneaky = [e["message"] for e in client.events
                  if e["reason"] == "FailedScheduling" and e["involvedObject"]["name"] == "sneaky"]
        assert sneaky == ["0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No "
                          "preemption victims found for incoming pod.."]
        now[0] += 2
        assert cycle(sched)
        await settle(sched)
        assert client.bindings == [("vip", "n1")]
    asyncio.run(main())


def test_a_nomination_with_no_candidate_left_is_cleared() -> None:
    async def main() -> None:
        client, now = ScriptedClient(), [1000.0]
        sched = make(client, now)
        add(sched, "node", node("n1", cpu="1"))
        add(sched, "pod", pod("boss", cpu="1", priority=100, node_name="n1"))
        hopeful = pod("hopeful", cpu="1", priority=10)
        hopeful["status"]["nominatedNodeName"] = "n1"
        add(sched, "pod", hopeful)
        assert "uid-default-hopeful" in sched.nominated.get("n1", {})
        assert cycle(sched)
        await settle(sched)
        patch = client.status_patches[-1][1]["status"]
        assert patch["nominatedNodeName"] is None and patch["conditions"][0]["reason"] == "Unschedulable"
        assert sched.nominated == {}
    asyncio.run(main())
