"""The ResourceQuota controller's pure core, table-driven: what counts toward each resource, scopes, terminal and
expired-grace pods, and when the status is (not) written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.machinery.actions import Update
from controllers.machinery.resources import RESOURCEQUOTAS
from controllers.resourcequota import reconcile as rq
from tests.controllers.svcpods import body

pytestmark = pytest.mark.unit

Obj = dict[str, Any]
NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def quota(hard: dict[str, str], status: Obj | None = None, **spec: Any) -> Obj:
    q: Obj = {"apiVersion": "v1", "kind": "ResourceQuota",
              "metadata": {"name": "q", "namespace": "team", "resourceVersion": "3"},
              "spec": {"hard": hard, **spec}}
    if status is not None:
        q["status"] = status
    return q


def pod(name: str, cpu: str | None = None, memory: str | None = None, limit_cpu: str | None = None,
        phase: str = "Running", **spec: Any) -> Obj:
    resources: Obj = {}
    if cpu or memory:
        resources["requests"] = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if limit_cpu:
        resources["limits"] = {"cpu": limit_cpu}
    return {"metadata": {"name": name, "namespace": "team"},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": resources}], **spec},
            "status": {"phase": phase}}


def svc(name: str, type_: str = "ClusterIP", ports: int = 1, **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": {"type": type_, "ports": [{"port": 80 + i} for i in range(ports)],
                                                 **spec}}


PODS = ("", "pods")
USED_CASES = [
    ("pods and compute requests/limits", {"pods": "10", "requests.cpu": "4", "requests.memory": "8Gi",
                                          "limits.cpu": "8", "cpu": "4", "memory": "8Gi"},
     {PODS: [pod("a", cpu="250m", memory="1Gi", limit_cpu="1"), pod("b", cpu="1", memory="512Mi")]},
     {"pods": "2", "requests.cpu": "1250m", "requests.memory": "1536Mi", "limits.cpu": "1", "cpu": "1250m",
      "memory": "1536Mi"}),
    ("terminal pods count only toward count/pods", {"pods": "5", "count/pods": "5", "requests.cpu": "2"},
     {PODS: [pod("a", cpu="1"), pod("b", cpu="1", phase="Succeeded"), pod("c", cpu="1", phase="Failed")]},
     {"pods": "1", "count/pods": "3", "requests.cpu": "1"}),
    ("a pod past its deletion grace period no longer holds resources", {"pods": "5", "count/pods": "5"},
     {PODS: [{**pod("a"), "metadata": {"name": "a", "deletionTimestamp": "2026-12-01T09:59:00Z",
                                       "deletionGracePeriodSeconds": 30}},
             {**pod("b"), "metadata": {"name": "b", "deletionTimestamp": "2026-12-01T09:59:50Z",
                                       "deletionGracePeriodSeconds": 30}}]},
     {"pods": "1", "count/pods": "2"}),
    ("object counts", {"configmaps": "10", "secrets": "10", "count/configmaps": "10", "services": "3",
                       "count/deployments.apps": "2"},
     {("", "configmaps"): [{"metadata": {"name": "x"}}, {"metadata": {"name": "y"}}], ("", "secrets"): [],
      ("", "services"): [svc("s")], ("apps", "deployments"): [{"metadata": {"name": "d"}}]},
     {"configmaps": "2", "secrets": "0", "count/configmaps": "2", "services": "1", "count/deployments.apps": "1"}),
    ("node ports per port, load balancers per Service", {"services.nodeports": "10", "services.loadbalancers": "2"},
     {("", "services"): [svc("a"), svc("b", "NodePort", ports=2), svc("c", "LoadBalancer", ports=3),
                         svc("d", "LoadBalancer", ports=2, allocateLoadBalancerNodePorts=False)]},
     {"services.nodeports": "5", "services.loadbalancers": "2"}),
    ("PVC storage", {"persistentvolumeclaims": "4", "requests.storage": "10Gi"},
     {("", "persistentvolumeclaims"): [{"metadata": {"name": "v"},
                                        "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]},
     {"persistentvolumeclaims": "1", "requests.storage": "1Gi"}),
]


@pytest.mark.parametrize("hard,objects,want", [c[1:] for c in USED_CASES], ids=[c[0] for c in USED_CASES])
def test_used(hard: dict[str, str], objects: Any, want: dict[str, str]) -> None:
    [action] = rq.reconcile(quota(hard), objects, NOW)
    assert isinstance(action, Update) and action.resource == RESOURCEQUOTAS and action.subresource == "status"
    assert body(action)["status"] == {"hard": hard, "used": want}
    assert body(action)["metadata"]["resourceVersion"] == "3"


SCOPE_CASES = [
    ("BestEffort", {"scopes": ["BestEffort"]}, ["a", "t", "hi"]),
    ("NotBestEffort", {"scopes": ["NotBestEffort"]}, ["b"]),
    ("Terminating", {"scopes": ["Terminating"]}, ["t"]),
    ("NotTerminating", {"scopes": ["NotTerminating"]}, ["a", "b", "hi"]),
    ("PriorityClass In", {"scopeSelector": {"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}, ["hi"]),
    ("PriorityClass DoesNotExist and BestEffort", {"scopes": ["BestEffort"], "scopeSelector": {"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "DoesNotExist"}]}}, ["a", "t"]),
]


@pytest.mark.parametrize("spec,counted", [c[1:] for c in SCOPE_CASES], ids=[c[0] for c in SCOPE_CASES])
def test_scopes(spec: Obj, counted: list[str]) -> None:
    pods = [pod("a"), pod("b", cpu="1"), pod("t", activeDeadlineSeconds=30), pod("hi", priorityClassName="high")]
    assert sorted(p["metadata"]["name"] for p in pods if rq.pod_in_scopes(quota({}, **spec), p)) == sorted(counted)
    assert rq.compute_used(quota({"pods": "9"}, **spec), {PODS: pods}, NOW) == {"pods": str(len(counted))}


def test_no_write_when_status_matches_by_value() -> None:
    q = quota({"requests.cpu": "2", "pods": "3"}, status={"hard": {"requests.cpu": "2000m", "pods": "3"},
                                                          "used": {"requests.cpu": "0.5", "pods": "1"}})
    assert rq.reconcile(q, {PODS: [pod("a", cpu="500m")]}, NOW) == []


def test_first_sync_always_writes_even_with_nothing_used() -> None:
    [action] = rq.reconcile(quota({"pods": "3"}), {PODS: []}, NOW)
    assert body(action)["status"] == {"hard": {"pods": "3"}, "used": {"pods": "0"}}


def test_a_deleted_pod_lowers_used_and_a_spec_change_updates_hard() -> None:
    q = quota({"pods": "3"}, status={"hard": {"pods": "3"}, "used": {"pods": "2"}})
    [action] = rq.reconcile(q, {PODS: [pod("a")]}, NOW)
    assert body(action)["status"]["used"] == {"pods": "1"}
    q2 = quota({"pods": "5", "services": "1"}, status={"hard": {"pods": "3"}, "used": {"pods": "1"}})
    [action] = rq.reconcile(q2, {PODS: [pod("a")], ("", "services"): []}, NOW)
    assert body(action)["status"] == {"hard": {"pods": "5", "services": "1"}, "used": {"pods": "1", "services": "0"}}


def test_used_keeps_only_what_hard_limits() -> None:
    q = quota({"pods": "3"}, status={"hard": {"pods": "3", "services": "2"}, "used": {"pods": "1", "services": "1"}})
    [action] = rq.reconcile(q, {PODS: [pod("a")]}, NOW)
    assert body(action)["status"] == {"hard": {"pods": "3"}, "used": {"pods": "1"}}


def test_tracked_resources_name_what_to_list() -> None:
    assert rq.tracked_resources({"pods": "1", "requests.cpu": "1", "count/deployments.apps": "1",
                                 "services.nodeports": "1"}) == {("", "pods"), ("apps", "deployments"),
                                                                 ("", "services")}


def test_resources_not_given_keep_their_previous_usage() -> None:
    q = quota({"pods": "3", "count/widgets.example.com": "5", "count/gadgets.example.com": "5"},
              status={"hard": {}, "used": {"pods": "2", "count/widgets.example.com": "4"}})
    [action] = rq.reconcile(q, {PODS: [pod("a")]}, NOW)
    assert body(action)["status"]["used"] == {"pods": "1", "count/widgets.example.com": "4"}
