"""The framework: kube's FailedScheduling text, the adaptive percentageOfNodesToScore, round-robin filtering,
seeded tie-breaking, nominated pods reserving room, and DefaultPreemption's choices."""

from __future__ import annotations

import random
from typing import Any

import pytest

from controllers.scheduler import config, framework
from controllers.scheduler.framework import (
    FitError,
    SchedulingError,
    num_feasible_nodes_to_find,
    schedule_pod,
)
from controllers.scheduler.nodeinfo import NodeInfo
from controllers.scheduler.preemption import filter_pods_with_pdb_violation, pick_one, preempt
from tests.scheduler.builders import info, node, node_info, pod, snapshot

pytestmark = pytest.mark.unit


def profile(**raw: Any) -> framework.Profile:
    return config.load({"profiles": [{"schedulerName": "default-scheduler", **raw}]}).profiles[0]


def fit_error(nodes: list[NodeInfo], p: dict[str, Any]) -> FitError:
    with pytest.raises(FitError) as e:
        schedule_pod(profile(), info(p), snapshot(*nodes), random.Random(0))
    return e.value


@pytest.mark.parametrize("percentage,nodes,want", [
    (0, 50, 50), (0, 99, 99), (0, 100, 100), (0, 500, 230), (0, 1000, 420), (0, 5000, 500), (0, 6000, 300),
    (0, 20000, 1000), (10, 5000, 500), (1, 5000, 100), (100, 5000, 5000), (50, 120, 100),
])
def test_percentage_of_nodes_to_score(percentage: int, nodes: int, want: int) -> None:
    assert num_feasible_nodes_to_find(percentage, nodes) == want


def test_fit_error_histogram_is_sorted_and_counts_each_reason() -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    nodes = [node_info(node("a", cpu="1")), node_info(node("b", taints=[taint])),
             node_info(node("c", taints=[taint])), node_info(node("d", unschedulable=True))]
    err = fit_error(nodes, pod("p", cpu="2"))
    assert err.message() == ("0/4 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable, "
                             "2 node(s) had untolerated taint {dedicated: gpu}.")
    assert err.diagnosis.unschedulable_plugins == {"NodeResourcesFit", "TaintToleration", "NodeUnschedulable"}


def test_prefilter_failure_is_reported_once() -> None:
    p = pod("p", volumes=[{"name": "v", "persistentVolumeClaim": {"claimName": "missing"}}])
    err = fit_error([node_info(node("a")), node_info(node("b"))], p)
    assert err.message() == '0/2 nodes are available: persistentvolumeclaim "missing" not found.'


def test_no_nodes_and_malformed_pods_are_scheduler_errors() -> None:
    with pytest.raises(SchedulingError, match="no nodes available to schedule pods"):
        schedule_pod(profile(), info(pod("p")), snapshot(), random.Random(0))
    bad = pod("p", affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Maybe"}]}, "topologyKey": "zone"}]}})
    with pytest.raises(SchedulingError, match="'Maybe' is not a valid label selector operator"):
        schedule_pod(profile(), info(bad), snapshot(node_info(node("a"))), random.Random(0))


def test_ties_are_broken_by_the_injected_rng() -> None:
    nodes = [node_info(node(f"n{i}")) for i in range(4)]
    picks = {schedule_pod(profile(), info(pod("p")), snapshot(*nodes), random.Random(seed)).node
             for seed in range(40)}
    assert picks == {"n0", "n1", "n2", "n3"}
    again = [schedule_pod(profile(), info(pod("p")), snapshot(*nodes), random.Random(7)).node for _ in range(3)]
    assert len(set(again)) == 1


def test_scores_pick_the_least_allocated_node() -> None:
    nodes = [node_info(node("busy"), pod("e", cpu="3", memory="6Gi", node_name="busy")), node_info(node("idle"))]
    assert schedule_pod(profile(), info(pod("p", cpu="1")), snapshot(*nodes), random.Random(0)).node == "idle"
    most = profile(pluginConfig=[{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
        "type": "MostAllocated", "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]}}}],
        plugins={"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]}})
    assert schedule_pod(most, info(pod("p", cpu="1")), snapshot(*nodes), random.Random(0)).node == "busy"


def test_filtering_stops_at_the_feasible_target_and_rotates() -> None:
    nodes = [node_info(node(f"n{i:03d}")) for i in range(200)]
    snap = snapshot(*nodes)
    r = schedule_pod(profile(), info(pod("p")), snap, random.Random(0), start=150)
    assert (r.evaluated, r.feasible) == (100, 100)  # 200 nodes: 50% - 1% = 49% -> 98 -> at least 100
    assert r.node in {f"n{i:03d}" for i in list(range(150, 200)) + list(range(0, 50))}


def test_nominated_higher_priority_pods_hold_their_room() -> None:
    nodes = [node_info(node("a", cpu="2")), node_info(node("b", cpu="2"))]
    nominee = info(pod("nominee", cpu="2", priority=100))
    err_or = schedule_pod(profile(), info(pod("p", cpu="1", priority=1)), snapshot(*nodes), random.Random(0),
                          nominated={"a": [nominee]})
    assert err_or.node == "b"
    with pytest.raises(FitError):
        schedule_pod(profile(), info(pod("p", cpu="1", priority=1)), snapshot(*nodes[:1]), random.Random(0),
                     nominated={"a": [nominee]})
    # a pod of higher priority than the nominee ignores it
    assert schedule_pod(profile(), info(pod("p", cpu="1", priority=200)), snapshot(*nodes[:1]), random.Random(0),
                        nominated={"a": [nominee]}).node == "a"


def _preempt(nodes: list[NodeInfo], p: dict[str, Any]) -> Any:
    err = fit_error(nodes, p)
    return preempt(profile(), info(p), snapshot(*nodes), err.diagnosis)


def test_preemption_evicts_the_fewest_lowest_priority_victims() -> None:
    nodes = [node_info(node("a", cpu="2"), pod("a-low", cpu="1", priority=1, node_name="a"),
                       pod("a-mid", cpu="1", priority=5, node_name="a")),
             node_info(node("b", cpu="2"), pod("b-mid", cpu="1", priority=5, node_name="b"),
                       pod("b-mid2", cpu="1", priority=5, node_name="b"))]
    result = _preempt(nodes, pod("p", cpu="1", priority=10))
    assert result.candidate.node == "a" and [v.name for v in result.candidate.victims] == ["a-low"]


def test_preemption_reprieves_victims_that_need_not_go() -> None:
    nodes = [node_info(node("a", cpu="3"), pod("small", cpu="500m", priority=1, node_name="a"),
                       pod("big", cpu="2", priority=2, node_name="a"))]
    result = _preempt(nodes, pod("p", cpu="2", priority=10))
    assert [v.name for v in result.candidate.victims] == ["big"]


def _pdb(selector: dict[str, str], allowed: int, disrupted: tuple[str, ...] = (), ns: str = "default") -> dict:
    return {"metadata": {"name": "b", "namespace": ns}, "spec": {"selector": {"matchLabels": selector}},
            "status": {"disruptionsAllowed": allowed, "disruptedPods": {n: "2026-01-01T00:00:00Z" for n in disrupted}}}


def test_pdb_violations_count_down_the_budget_and_skip_disrupted_pods() -> None:
    pods = [info(pod(n, labels={"app": "web"})) for n in ("w1", "w2", "w3")] + [info(pod("other"))]
    violating, fine = filter_pods_with_pdb_violation(pods, [_pdb({"app": "web"}, 1, ("w1",))])
    assert ([p.name for p in violating], [p.name for p in fine]) == (["w3"], ["w1", "w2", "other"])
    # an empty selector, another namespace: nothing is violated
    violating, _ = filter_pods_with_pdb_violation(pods, [{"metadata": {"namespace": "default"}, "spec": {"selector": {}},
                                                          "status": {"disruptionsAllowed": 0}},
                                                         _pdb({"app": "web"}, 0, ns="elsewhere")])
    assert violating == []


def test_preemption_prefers_the_node_whose_victims_no_budget_protects() -> None:
    nodes = [node_info(node("a", cpu="1"), pod("guarded", cpu="1", priority=1, node_name="a", labels={"app": "db"})),
             node_info(node("b", cpu="1"), pod("free", cpu="1", priority=5, node_name="b"))]
    p = pod("p", cpu="1", priority=10)
    assert _preempt(nodes, p).candidate.node == "a"  # without budgets: the lowest-priority victim
    err = fit_error(nodes, p)
    result = preempt(profile(), info(p), snapshot(*nodes), err.diagnosis, [_pdb({"app": "db"}, 0)])
    assert result.candidate.node == "b" and result.candidate.pdb_violations == 0
    # when every node needs a violation, the violation is still taken (and counted)
    only = [nodes[0]]
    err = fit_error(only, p)
    result = preempt(profile(), info(p), snapshot(*only), err.diagnosis, [_pdb({"app": "db"}, 0)])
    assert result.candidate.node == "a" and result.candidate.pdb_violations == 1


def test_preemption_reprieves_budget_protected_victims_first() -> None:
    # room for the preemptor needs one of the two 1-cpu pods gone; the protected one is reprieved first
    nodes = [node_info(node("a", cpu="2"), pod("guarded", cpu="1", priority=1, node_name="a", labels={"app": "db"}),
                       pod("plain", cpu="1", priority=2, node_name="a"))]
    p = pod("p", cpu="1", priority=10)
    assert [v.name for v in _preempt(nodes, p).candidate.victims] == ["guarded"]
    err = fit_error(nodes, p)
    result = preempt(profile(), info(p), snapshot(*nodes), err.diagnosis, [_pdb({"app": "db"}, 0)])
    assert [v.name for v in result.candidate.victims] == ["plain"] and result.candidate.pdb_violations == 0


def test_preemption_messages() -> None:
    nodes = [node_info(node("a", cpu="1"), pod("peer", cpu="1", priority=10, node_name="a")),
             node_info(node("b", cpu="4", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]))]
    result = _preempt(nodes, pod("p", cpu="1", priority=10))
    assert result.candidate is None
    assert result.message == ("preemption: 0/2 nodes are available: 1 No preemption victims found for incoming "
                              "pod, 1 Preemption is not helpful for scheduling.")
    never = _preempt(nodes, pod("p", cpu="1", priority=100, preemptionPolicy="Never"))
    assert never.message == "preemption: not eligible due to preemptionPolicy=Never."
    too_big = _preempt(nodes[:1], pod("p", cpu="2", priority=100))
    assert too_big.message == "preemption: 0/1 nodes are available: 1 Insufficient cpu."


def test_pick_one_prefers_lower_victim_priority_then_fewer_then_later_start() -> None:
    from controllers.scheduler.preemption import Candidate
    low = info(pod("low", priority=1, start="2026-01-01T00:00:00Z"))
    mid = info(pod("mid", priority=5, start="2026-01-01T00:00:00Z"))
    early = info(pod("early", priority=1, start="2025-01-01T00:00:00Z"))
    assert pick_one([Candidate("x", [mid]), Candidate("y", [low])]).node == "y"
    assert pick_one([Candidate("x", [low, early]), Candidate("y", [low])]).node == "y"
    assert pick_one([Candidate("x", [early]), Candidate("y", [low])]).node == "y"


def test_config_profiles_weights_and_errors() -> None:
    cfg = config.load({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                       "percentageOfNodesToScore": 30,
                       "profiles": [{"schedulerName": "default-scheduler"},
                                    {"schedulerName": "no-taints", "plugins": {
                                        "filter": {"disabled": [{"name": "TaintToleration"}]},
                                        "score": {"enabled": [{"name": "ImageLocality", "weight": 7}]},
                                        "postFilter": {"disabled": [{"name": "DefaultPreemption"}]}}}]})
    default, custom = cfg.profiles
    assert default.percentage_of_nodes_to_score == 30
    assert "TaintToleration" not in [p.name for p in custom.filter_plugins]
    assert dict((p.name, w) for p, w in custom.score_plugins)["ImageLocality"] == 7
    assert dict((p.name, w) for p, w in default.score_plugins) == config.DEFAULT_SCORES
    assert cfg.preemption == {"default-scheduler": True, "no-taints": False}
    with pytest.raises(config.ConfigError, match='plugin "Nope" does not exist'):
        config.load({"profiles": [{"plugins": {"score": {"enabled": [{"name": "Nope"}]}}}]})
    with pytest.raises(config.ConfigError, match="Duplicate value"):
        config.load({"profiles": [{}, {}]})
