"""Pod creation as 1.32's pod strategy: status.qosClass from GetPodQOS, the SchedulingGated condition, and
scheduling gates that may only be removed; pure."""

from __future__ import annotations

import pytest

from apiserver.registry.qos import pod_qos
from apiserver.registry.strategies import strategy_for

pytestmark = pytest.mark.unit


def c(requests: dict | None = None, limits: dict | None = None, name: str = "c") -> dict:
    res: dict = {}
    if requests is not None:
        res["requests"] = requests
    if limits is not None:
        res["limits"] = limits
    return {"name": name, "image": "busybox", "resources": res}


def pod(*containers: dict, init: tuple[dict, ...] = ()) -> dict:
    spec: dict = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    return {"metadata": {"name": "p"}, "spec": spec}


FULL = {"cpu": "100m", "memory": "64Mi"}


@pytest.mark.parametrize("p,qos", [
    (pod(c()), "BestEffort"),
    (pod(c({"cpu": "0"}, {"memory": "0"})), "BestEffort"),  # zero quantities count for nothing
    (pod(c({"nvidia.com/gpu": "1"}, {"nvidia.com/gpu": "1"})), "BestEffort"),  # only cpu and memory count
    (pod(c(FULL, FULL)), "Guaranteed"),
    (pod(c(None, FULL)), "Guaranteed"),  # requests default to the limits
    (pod(c(FULL, FULL), c({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})), "Guaranteed"),
    (pod(c({"cpu": "100m"}, FULL)), "Guaranteed"),  # memory's request defaults to its limit
    (pod(c({"cpu": "50m", "memory": "64Mi"}, FULL)), "Burstable"),  # request below limit
    (pod(c({"cpu": "100m"})), "Burstable"),
    (pod(c(None, {"cpu": "100m"})), "Burstable"),  # no memory limit
    (pod(c(FULL, FULL), c()), "Burstable"),  # one container without limits
    # init containers count too
    (pod(c(FULL, FULL), init=(c({"cpu": "10m"}),)), "Burstable"),
    (pod(c(), init=(c({"memory": "1Mi"}),)), "Burstable"),
    (pod(c(FULL, FULL), init=(c(FULL, FULL),)), "Guaranteed"),
    # equal quantities written differently are equal
    (pod(c({"cpu": "0.1", "memory": "67108864"}, {"cpu": "100m", "memory": "64Mi"})), "Guaranteed"),
])
def test_pod_qos(p, qos):
    assert pod_qos(p) == qos
    strategy_for("pods").prepare_for_create(p)
    assert p["status"] == {"phase": "Pending", "qosClass": qos}


def test_scheduling_gates_give_the_scheduling_gated_condition_and_may_only_be_removed():
    s = strategy_for("pods")
    gated = pod(c())
    gated["spec"]["schedulingGates"] = [{"name": "example.com/a"}, {"name": "example.com/b"}]
    s.prepare_for_create(gated)
    assert gated["status"]["conditions"] == [{
        "type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": None,
        "reason": "SchedulingGated", "message": "Scheduling is blocked due to non-empty scheduling gates"}]
    removed = {**gated, "spec": {**gated["spec"], "schedulingGates": [{"name": "example.com/b"}]}}
    assert s.validate_update(removed, gated) == []
    cleared = {**gated, "spec": {**gated["spec"], "schedulingGates": []}}
    assert s.validate_update(cleared, gated) == []
    added = {**gated, "spec": {**gated["spec"], "schedulingGates": [{"name": "example.com/b"}, {"name": "new"}]}}
    assert [(x.field, x.message) for x in s.validate_update(added, gated)] == [
        ("spec.schedulingGates[1].name", "Forbidden: only deletion is allowed, but found new scheduling gate 'new'")]
    plain = pod(c())
    s.prepare_for_create(plain)
    assert "conditions" not in plain["status"]
    assert [x.field for x in s.validate_update({**plain, "spec": {**plain["spec"], "schedulingGates": [
        {"name": "late"}]}}, plain)] == ["spec.schedulingGates[0].name"]
