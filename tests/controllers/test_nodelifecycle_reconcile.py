"""Node lifecycle decisions (controllers/nodelifecycle/reconcile.py) on a fake clock, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.machinery.actions import Delete, Event, Patch, Update
from controllers.machinery.resources import NODES, PODS
from controllers.nodelifecycle import reconcile as nl

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
OPTS = nl.Options(monitor_grace_seconds=40, startup_grace_seconds=60)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return nl.rfc3339(at(seconds))


def node(ready: str | None = "True", heartbeat: float = 0, *, taints=None, unschedulable=False,
         extra: dict[str, str] | None = None) -> dict[str, Any]:
    conds = []
    if ready is not None:
        conds.append({"type": "Ready", "status": ready, "lastHeartbeatTime": ts(heartbeat),
                      "lastTransitionTime": ts(0), "reason": "KubeletReady", "message": "kubelet is posting ready status"})
        conds.append({"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": ts(heartbeat),
                      "lastTransitionTime": ts(0), "reason": "KubeletHasSufficientMemory", "message": "ok"})
    for ctype, st in (extra or {}).items():
        conds.append({"type": ctype, "status": st, "lastHeartbeatTime": ts(heartbeat), "lastTransitionTime": ts(0)})
    spec: dict[str, Any] = {}
    if taints is not None:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "uid": "nu", "resourceVersion": "5", "creationTimestamp": ts(-100)},
            "spec": spec, "status": {"conditions": conds}}


def lease(renew: float) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "n1", "renewTime": nl.rfc3339(at(renew)).replace("Z", ".000000Z")}}


# --------------------------------------------------------------------------- probe time
OBSERVE = [
    # (name, prev, node heartbeat, lease renew, now, expected probe)
    ("first sight: now", None, 0, None, 10, 10),
    ("unchanged heartbeat, no lease: probe stays", nl.Health(at(10).timestamp(), ts(0), None), 0, None, 30, 10),
    ("new heartbeat: probe moves", nl.Health(at(10).timestamp(), ts(0), None), 20, None, 30, 30),
    ("lease renewed: probe moves", nl.Health(at(10).timestamp(), ts(0), ts(5)), 0, 25, 30, 30),
    ("lease not renewed: probe stays", nl.Health(at(10).timestamp(), ts(0), nl.rfc3339(at(25)).replace("Z", ".000000Z")), 0, 25, 30,
     10),
]


@pytest.mark.parametrize("prev,hb,renew,now,probe", [o[1:] for o in OBSERVE], ids=[o[0] for o in OBSERVE])
def test_observe_moves_the_probe_only_on_a_sign_of_life(prev, hb, renew, now, probe):
    h = nl.observe(node(heartbeat=hb), lease(renew) if renew is not None else None, prev, at(now))
    assert h.probe == at(probe).timestamp()


def test_a_restarted_controller_gives_every_node_a_fresh_grace_period():
    h = nl.observe(node(heartbeat=0), lease(0), None, at(1000))
    assert nl.unknown_conditions(node(heartbeat=0), h, at(1039), OPTS) is None
    assert nl.unknown_conditions(node(heartbeat=0), h, at(1041), OPTS) is not None


# --------------------------------------------------------------------------- conditions
GRACE = [
    ("within the monitor grace period", node(), 40, False),
    ("past the monitor grace period", node(), 41, True),
    ("never posted Ready: startup grace applies", node(ready=None), 59, False),
    ("never posted Ready: past startup grace", node(ready=None), 61, True),
]


@pytest.mark.parametrize("n,now,unknown", [g[1:] for g in GRACE], ids=[g[0] for g in GRACE])
def test_grace_periods(n, now, unknown):
    h = nl.Health(at(0).timestamp(), None, None)
    assert (nl.unknown_conditions(n, h, at(now), OPTS) is not None) is unknown


def test_silent_node_conditions_become_unknown_with_1_32_reasons():
    h = nl.Health(at(0).timestamp(), ts(0), None)
    out = nl.unknown_conditions(node(), h, at(50), OPTS)
    assert out is not None
    by_type = {c["type"]: c for c in out["status"]["conditions"]}
    assert by_type["Ready"] == {"type": "Ready", "status": "Unknown", "lastHeartbeatTime": ts(0),
                                "lastTransitionTime": ts(50), "reason": "NodeStatusUnknown",
                                "message": "Kubelet stopped posting node status."}
    assert by_type["MemoryPressure"]["status"] == "Unknown"
    for never in ("DiskPressure", "PIDPressure"):
        assert by_type[never] == {"type": never, "status": "Unknown", "lastHeartbeatTime": ts(-100),
                                  "lastTransitionTime": ts(50), "reason": "NodeStatusNeverUpdated",
                                  "message": "Kubelet never posted node status."}
    again = nl.unknown_conditions(out, h, at(60), OPTS)
    assert again is None, "already Unknown: nothing more to write"
    assert nl.status_update(out) == Update(NODES, None, "n1", out, subresource="status")


def test_network_unavailable_is_left_alone():
    h = nl.Health(at(0).timestamp(), ts(0), None)
    out = nl.unknown_conditions(node(extra={"NetworkUnavailable": "False"}), h, at(50), OPTS)
    assert out is not None
    assert {c["type"]: c["status"] for c in out["status"]["conditions"]}["NetworkUnavailable"] == "False"


# --------------------------------------------------------------------------- taints
def keys(taints):
    return None if taints is None else sorted((t["key"], t["effect"]) for t in taints)


TAINTS = [
    ("ready node: no taints", node("True"), True, None),
    ("unknown: unreachable NoSchedule and NoExecute", node("Unknown"), True,
     [(nl.UNREACHABLE, "NoExecute"), (nl.UNREACHABLE, "NoSchedule")]),
    ("not ready: not-ready NoSchedule and NoExecute", node("False"), True,
     [(nl.NOT_READY, "NoExecute"), (nl.NOT_READY, "NoSchedule")]),
    ("full disruption: no NoExecute", node("Unknown"), False, [(nl.UNREACHABLE, "NoSchedule")]),
    ("pressure conditions", node("True", extra={"DiskPressure": "True", "PIDPressure": "True"}), True,
     [("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/pid-pressure", "NoSchedule")]),
    ("cordoned", node("True", unschedulable=True), True, [(nl.UNSCHEDULABLE, "NoSchedule")]),
    ("recovered: controller taints go, a user's taint stays",
     node("True", taints=[{"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(1)},
                          {"key": nl.UNREACHABLE, "effect": "NoSchedule", "timeAdded": ts(1)},
                          {"key": "example.com/gpu", "effect": "NoSchedule"}]), True,
     [("example.com/gpu", "NoSchedule")]),
    ("unknown to not ready: taints swap", node("False", taints=[
        {"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(1)},
        {"key": nl.UNREACHABLE, "effect": "NoSchedule", "timeAdded": ts(1)}]), True,
     [(nl.NOT_READY, "NoExecute"), (nl.NOT_READY, "NoSchedule")]),
    ("already right: nothing to write", node("Unknown", taints=[
        {"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(1)},
        {"key": nl.UNREACHABLE, "effect": "NoSchedule", "timeAdded": ts(1)}]), True, None),
]


@pytest.mark.parametrize("n,no_execute,expected", [t[1:] for t in TAINTS], ids=[t[0] for t in TAINTS])
def test_desired_taints(n, no_execute, expected):
    assert keys(nl.desired_taints(n, at(70), no_execute=no_execute)) == expected


def test_new_taints_carry_time_added_and_kept_ones_keep_theirs():
    n = node("Unknown", taints=[{"key": nl.UNREACHABLE, "effect": "NoSchedule", "timeAdded": ts(1)}])
    taints = nl.desired_taints(n, at(70))
    assert taints == [{"key": nl.UNREACHABLE, "effect": "NoSchedule", "timeAdded": ts(1)},
                      {"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(70)}]
    assert nl.taint_patch(n, taints) == Patch(NODES, None, "n1", {"metadata": {"resourceVersion": "5"},
                                                                   "spec": {"taints": taints}})


ZONES = [
    ([], "Normal"), (["True"], "Normal"), (["Unknown"], "FullDisruption"), (["Unknown", "True"], "Normal"),
    (["False", "Unknown"], "FullDisruption"), (["False"] * 2 + ["True"], "Normal"),  # 2 down: never partial
    (["False"] * 3 + ["True"] * 2, "PartialDisruption"), (["False"] * 3 + ["True"] * 3, "Normal"),  # 50% < 55%
    (["Unknown"] * 11 + ["True"] * 9, "PartialDisruption"),
]


@pytest.mark.parametrize("statuses,expected", ZONES)
def test_zone_state(statuses, expected):
    assert nl.zone_state(statuses, 0.55) == expected


@pytest.mark.parametrize("state,size,rate", [("Normal", 3, 0.1), ("FullDisruption", 3, 0.1),
                                             ("PartialDisruption", 50, 0.0), ("PartialDisruption", 51, 0.01)])
def test_zone_rate(state, size, rate):
    assert nl.zone_rate(state, size, nl.Options()) == rate


def test_zone_key():
    assert nl.zone_key(node()) == ""
    labelled = node()
    labelled["metadata"]["labels"] = {"topology.kubernetes.io/region": "r", "topology.kubernetes.io/zone": "a"}
    assert nl.zone_key(labelled) == "r:\x00:a"
    beta = node()
    beta["metadata"]["labels"] = {"failure-domain.beta.kubernetes.io/zone": "b"}
    assert nl.zone_key(beta) == ":\x00:b"


def test_zone_limiter_paces_first_taints_one_per_ten_seconds():
    lim = nl.ZoneLimiter(0.1, now=0.0)
    assert lim.try_accept(0.0), "burst 1: the first node at once"
    assert not lim.try_accept(5.0) and lim.wait() == pytest.approx(5.0)
    assert lim.try_accept(10.0) and not lim.try_accept(10.0)
    lim.set_rate(0.0, 11.0)
    assert not lim.try_accept(1000.0) and lim.wait() == float("inf"), "rate 0 (small partially disrupted zone)"
    lim.set_rate(0.1, 1001.0)
    assert lim.try_accept(1001.0), "a new rate starts with a full bucket, as SwapLimiter"


def test_a_held_back_node_gets_no_first_no_execute_taint_but_still_swaps():
    held = nl.desired_taints(node("Unknown"), at(70), may_add_no_execute=False)
    assert keys(held) == [(nl.UNREACHABLE, "NoSchedule")]
    swapping = node("False", taints=[{"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(1)},
                                     {"key": nl.UNREACHABLE, "effect": "NoSchedule", "timeAdded": ts(1)}])
    assert not nl.needs_new_no_execute(swapping) and nl.needs_new_no_execute(node("Unknown"))
    assert keys(nl.desired_taints(swapping, at(70), may_add_no_execute=False)) == [
        (nl.NOT_READY, "NoExecute"), (nl.NOT_READY, "NoSchedule")]


# --------------------------------------------------------------------------- pods
def pod(name: str, *, ready: str | None = "True", node_name: str = "n1", tolerations=None,
        deleting: bool = False) -> dict[str, Any]:
    conds = [{"type": "PodScheduled", "status": "True"}]
    if ready is not None:
        conds.append({"type": "Ready", "status": ready, "lastTransitionTime": ts(0)})
    md: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"u-{name}", "resourceVersion": "9"}
    if deleting:
        md["deletionTimestamp"] = ts(0)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"nodeName": node_name, "tolerations": tolerations or []},
            "status": {"phase": "Running", "conditions": conds}}


def test_mark_pods_not_ready_updates_ready_pods_on_the_node_only():
    pods = [pod("a"), pod("b", ready="False"), pod("c", ready=None), pod("d", node_name="n2")]
    actions = nl.mark_pods_not_ready(pods, "n1", at(50))
    assert len(actions) == 2
    upd, ev = actions
    assert isinstance(upd, Update) and (upd.resource, upd.name, upd.subresource) == (PODS, "a", "status")
    assert upd.body["status"]["conditions"][1] == {"type": "Ready", "status": "False", "lastTransitionTime": ts(50)}
    assert ev == Event(pods[0], "Warning", "NodeNotReady", "Node is not ready")


def test_node_events():
    n = node()
    assert nl.node_not_ready_event(n) == Event(n, "Normal", "NodeNotReady", "Node n1 status is now: NodeNotReady")
    assert nl.registered_event(n).message == "Node n1 event: Registered Node n1 in Controller"


UNREACH_NE = {"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": ts(100)}
NOT_READY_NE = {"key": nl.NOT_READY, "effect": "NoExecute", "timeAdded": ts(110)}


def tol(key: str | None = nl.UNREACHABLE, seconds: int | None = None, op: str = "Exists", effect="NoExecute",
        value: str | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"operator": op}
    if key is not None:
        t["key"] = key
    if effect:
        t["effect"] = effect
    if seconds is not None:
        t["tolerationSeconds"] = seconds
    if value is not None:
        t["value"] = value
    return t


EVICTIONS = [
    # (name, node taints, pod tolerations, deleting, expected eviction time in seconds after T0, or None)
    ("no NoExecute taint: stays", [{"key": nl.UNREACHABLE, "effect": "NoSchedule"}], [], False, None),
    ("no toleration: at once", [UNREACH_NE], [], False, 120),
    ("default 300 s toleration", [UNREACH_NE], [tol(seconds=300)], False, 400),
    ("toleration without seconds: forever", [UNREACH_NE], [tol()], False, None),
    ("negative seconds count as zero", [UNREACH_NE], [tol(seconds=-5)], False, 100),
    ("wildcard toleration (no key, Exists) tolerates all", [UNREACH_NE, NOT_READY_NE], [tol(key=None, effect="")],
     False, None),
    ("one taint untolerated: at once", [UNREACH_NE, NOT_READY_NE], [tol(seconds=300)], False, 120),
    ("the shortest toleration wins, from the earliest taint", [UNREACH_NE, NOT_READY_NE],
     [tol(seconds=300), tol(key=nl.NOT_READY, seconds=60)], False, 160),
    ("NoSchedule toleration does not count", [UNREACH_NE], [tol(effect="NoSchedule")], False, 120),
    ("Equal needs the value", [{**UNREACH_NE, "value": "x"}], [tol(op="Equal", value="y", seconds=5)], False, 120),
    ("Equal with the value", [{**UNREACH_NE, "value": "x"}], [tol(op="Equal", value="x", seconds=5)], False, 105),
    ("already being deleted: left to finish", [UNREACH_NE], [], True, None),
]


@pytest.mark.parametrize("taints,tolerations,deleting,expected", [e[1:] for e in EVICTIONS],
                         ids=[e[0] for e in EVICTIONS])
def test_eviction_time(taints, tolerations, deleting, expected):
    got = nl.eviction_time(pod("p", tolerations=tolerations, deleting=deleting), node("Unknown", taints=taints), at(120))
    assert got == (None if expected is None else at(expected).timestamp())


def test_evict_marks_disruption_target_says_so_and_deletes():
    p = pod("p")
    ev, patch, delete = nl.evict(p, at(130))
    assert ev == Event(p, "Normal", "TaintManagerEviction", "Marking for deletion Pod default/p")
    assert patch == Patch(PODS, "default", "p", {"metadata": {"uid": "u-p"}, "status": {"conditions": [
        {"type": "DisruptionTarget", "status": "True", "lastTransitionTime": ts(130),
         "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint"}]}},
        patch_type="strategic", subresource="status")
    assert delete == Delete(PODS, "default", "p", uid="u-p")


def test_removing_the_taint_cancels_pending_evictions_only():
    tainted = node("Unknown", taints=[UNREACH_NE])
    clean = node("True")
    pending, due, forever = pod("a", tolerations=[tol(seconds=3600)]), pod("b"), pod("c", tolerations=[tol()])
    events = nl.cancelled_evictions([pending, due, forever], tainted, clean, at(120))
    assert events == [Event(pending, "Normal", "TaintManagerEviction", "Cancelling deletion of Pod default/a")]
    assert nl.cancelled_evictions([pending], tainted, tainted, at(120)) == [], "still tainted: nothing cancelled"
