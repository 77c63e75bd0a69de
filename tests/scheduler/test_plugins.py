"""Each plugin as a pure function of (pod, node snapshot), table-driven: filter verdicts with kube's reason texts,
and scores."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.scheduler.cache import Cache
from controllers.scheduler.framework import Code, Plugin, Status
from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.plugins.imagelocality import ImageLocality
from controllers.scheduler.plugins.interpodaffinity import InterPodAffinity
from controllers.scheduler.plugins.nodeaffinity import NodeAffinity
from controllers.scheduler.plugins.nodename import NodeName
from controllers.scheduler.plugins.nodeports import NodePorts
from controllers.scheduler.plugins.noderesources import (
    BalancedAllocation,
    NodeResourcesFit,
    ScoringStrategy,
)
from controllers.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from controllers.scheduler.plugins.podtopologyspread import PodTopologySpread
from controllers.scheduler.plugins.tainttoleration import TaintToleration
from controllers.scheduler.plugins.volumebinding import VolumeBinding
from controllers.scheduler.podinfo import PodInfo
from tests.scheduler.builders import info, node, node_info, pod, snapshot

pytestmark = pytest.mark.unit
Object = dict[str, Any]


def verdict(plugin: Plugin, p: PodInfo, target: NodeInfo, snap: Snapshot | None = None) -> Status | None:
    """PreFilter (on `snap`, default: just the node) then Filter; SKIP means the filter does not apply."""
    state: dict[str, Any] = {}
    pre = plugin.pre_filter(p, snap or snapshot(target), state)
    if pre is not None:
        return None if pre.code == Code.SKIP else pre
    return plugin.filter(p, target, state)


def reasons(st: Status | None) -> tuple[Code, tuple[str, ...]] | None:
    return None if st is None else (st.code, st.reasons)


U, R = Code.UNSCHEDULABLE, Code.UNRESOLVABLE
ZONE_KEY = "topology.kubernetes.io/zone"
TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


@pytest.mark.parametrize("pod_kw,node_kw,want", [
    ({}, {}, None),
    ({}, {"unschedulable": True}, (R, ("node(s) were unschedulable",))),
    ({"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]},
     {"unschedulable": True}, None),
])
def test_node_unschedulable(pod_kw: Object, node_kw: Object, want: Any) -> None:
    assert reasons(verdict(NodeUnschedulable(), info(pod("p", **pod_kw)), node_info(node("n", **node_kw)))) == want


def test_node_name() -> None:
    p = info(pod("p"))
    p.node_name = "other"
    assert reasons(verdict(NodeName(), p, node_info(node("n")))) == (R, ("node(s) didn't match the requested node "
                                                                        "name",))
    p.node_name = "n"
    assert verdict(NodeName(), p, node_info(node("n"))) is None


@pytest.mark.parametrize("tolerations,taints,want", [
    ([], [TAINT], (R, ("node(s) had untolerated taint {dedicated: gpu}",))),
    ([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}], [TAINT], None),
    ([{"key": "dedicated", "operator": "Equal", "value": "cpu"}], [TAINT],
     (R, ("node(s) had untolerated taint {dedicated: gpu}",))),
    ([{"key": "dedicated", "operator": "Exists"}], [TAINT], None),
    ([{"operator": "Exists"}], [TAINT, {"key": "x", "effect": "NoExecute"}], None),
    ([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}], [TAINT],
     (R, ("node(s) had untolerated taint {dedicated: gpu}",))),
    ([], [{"key": "soft", "value": "", "effect": "PreferNoSchedule"}], None),
    ([], [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}],
     (R, ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",))),
])
def test_taint_toleration_filter(tolerations: list[Object], taints: list[Object], want: Any) -> None:
    p = info(pod("p", tolerations=tolerations))
    assert reasons(verdict(TaintToleration(), p, node_info(node("n", taints=taints)))) == want


def test_taint_toleration_score_prefers_fewer_untolerated_prefer_no_schedule_taints() -> None:
    plugin = TaintToleration()
    soft = {"key": "soft", "value": "1", "effect": "PreferNoSchedule"}
    nodes = [node_info(node("a")), node_info(node("b", taints=[soft])),
             node_info(node("c", taints=[soft, {**soft, "key": "soft2"}]))]
    p = info(pod("p"))
    scores = [plugin.score(p, n, {}) for n in nodes]
    plugin.normalize(scores, {})
    assert scores == [100, 50, 0]


AFFINITY_SSD = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}


def _terms(*terms: Object) -> Object:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


@pytest.mark.parametrize("pod_kw,labels,want_fit", [
    ({}, {}, True),
    ({"nodeSelector": {"disk": "ssd"}}, {"disk": "ssd"}, True),
    ({"nodeSelector": {"disk": "ssd"}}, {"disk": "hdd"}, False),
    ({"affinity": AFFINITY_SSD}, {"disk": "ssd"}, True),
    ({"affinity": AFFINITY_SSD}, {}, False),
    ({"affinity": _terms({"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]})}, {}, True),
    ({"affinity": _terms({"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["3"]}]})},
     {"gen": "4"}, True),
    ({"affinity": _terms({"matchExpressions": [{"key": "gen", "operator": "Lt", "values": ["3"]}]})},
     {"gen": "4"}, False),
    ({"affinity": _terms({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]})}, {"gpu": "1"}, False),
    ({"affinity": _terms({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]})}, {}, True),
    ({"affinity": _terms({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["m"]}]})}, {},
     False),
    ({"affinity": _terms({"matchExpressions": [{"key": "disk", "operator": "In", "values": ["x"]}]},
                         {"matchExpressions": [{"key": "disk", "operator": "Exists"}]})}, {"disk": "y"}, True),
    ({"affinity": _terms({})}, {"disk": "y"}, False),
    ({"affinity": AFFINITY_SSD, "nodeSelector": {"zone": "a"}}, {"disk": "ssd"}, False),
])
def test_node_affinity_filter(pod_kw: Object, labels: dict[str, str], want_fit: bool) -> None:
    st = verdict(NodeAffinity(), info(pod("p", **pod_kw)), node_info(node("n", labels=labels)))
    assert reasons(st) == (None if want_fit else (R, ("node(s) didn't match Pod's node affinity/selector",)))


def test_node_affinity_malformed_operator_is_an_error_with_the_field_path() -> None:
    p = info(pod("p", affinity=_terms({"matchExpressions": [{"key": "k", "operator": "Sometimes", "values": ["v"]}]})))
    st = verdict(NodeAffinity(), p, node_info(node("n")))
    assert st is not None and st.code == Code.ERROR
    assert st.message.startswith("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                                 'nodeSelectorTerms[0].matchExpressions[0].operator: Unsupported value: "Sometimes"')


def test_node_affinity_preferred_score() -> None:
    pref = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 30, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}}
    plugin, p = NodeAffinity(), info(pod("p", affinity=pref))
    nodes = [node_info(node("a", labels={"disk": "ssd"})), node_info(node("b", labels={"zone": "a"})),
             node_info(node("c", labels={"disk": "ssd", "zone": "a"})), node_info(node("d"))]
    assert plugin.pre_score(p, nodes, snapshot(*nodes), {}) is None
    scores = [plugin.score(p, n, {}) for n in nodes]
    plugin.normalize(scores, {})
    assert scores == [25, 75, 100, 0]


@pytest.mark.parametrize("pod_kw,node_kw,existing,want", [
    ({"cpu": "1"}, {"cpu": "2"}, [{"cpu": "500m"}], None),
    ({"cpu": "2"}, {"cpu": "2"}, [{"cpu": "500m"}], (U, ("Insufficient cpu",))),
    ({"cpu": "1", "memory": "5Gi"}, {"cpu": "1", "memory": "8Gi"}, [{"cpu": "100m", "memory": "4Gi"}],
     (U, ("Insufficient cpu", "Insufficient memory"))),
    ({}, {"pods": "1"}, [{}], (U, ("Too many pods",))),
    ({"cpu": "5"}, {"cpu": "4", "pods": "1"}, [{}], (U, ("Too many pods", "Insufficient cpu"))),
    ({}, {"cpu": "1"}, [{"cpu": "1"}], None),  # no requests: fits a full node
])
def test_node_resources_fit_filter(pod_kw: Object, node_kw: Object, existing: list[Object], want: Any) -> None:
    others = [pod(f"e{i}", node_name="n", **kw) for i, kw in enumerate(existing)]
    assert reasons(verdict(NodeResourcesFit(), info(pod("p", **pod_kw)), node_info(node("n", **node_kw), *others))) \
        == want


def test_node_resources_fit_extended_resource() -> None:
    p = info(pod("p", containers=[{"name": "c", "resources": {"requests": {"example.com/gpu": "2"}}}]))
    assert reasons(verdict(NodeResourcesFit(), p, node_info(node("n")))) == (U, ("Insufficient example.com/gpu",))
    assert verdict(NodeResourcesFit(), p, node_info(node("n", extra={"example.com/gpu": "4"}))) is None


def test_requests_count_init_containers_sidecars_and_overhead() -> None:
    spec_pod = pod("p", containers=[{"name": "a", "resources": {"requests": {"cpu": "200m"}}},
                                    {"name": "b", "resources": {"requests": {"cpu": "300m"}}}],
                   initContainers=[{"name": "init", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                                   {"name": "side", "restartPolicy": "Always",
                                    "resources": {"requests": {"cpu": "100m"}}},
                                   {"name": "late-init", "resources": {"requests": {"cpu": "550m"}}}],
                   overhead={"cpu": "50m"})
    p = info(spec_pod)
    # containers 500m + sidecar 100m = 600m; init max(1000m, sidecar 100m + 550m) = 1000m; + overhead 50m
    assert p.requests == {"cpu": 1050, "memory": 1024 ** 3}
    assert (p.nonzero_cpu, p.nonzero_memory) == (500, 2 * 200 * 1024 * 1024)


@pytest.mark.parametrize("strategy,want", [
    (ScoringStrategy("LeastAllocated"), [75, 25]),
    (ScoringStrategy("MostAllocated"), [25, 75]),
    (ScoringStrategy("RequestedToCapacityRatio", shape=[(0, 0), (100, 10)]), [25, 75]),
    (ScoringStrategy("RequestedToCapacityRatio", shape=[(0, 10), (100, 0)]), [75, 25]),
])
def test_node_resources_fit_scoring_strategies(strategy: ScoringStrategy, want: list[int]) -> None:
    plugin = NodeResourcesFit(strategy)
    plugin.strategy.resources = [("cpu", 1)]
    p = info(pod("p", cpu="1"))
    empty = node_info(node("empty", cpu="4"))
    busy = node_info(node("busy", cpu="4"), pod("e", cpu="2", node_name="busy"))
    assert [plugin.score(p, n, {}) for n in (empty, busy)] == want


def test_balanced_allocation_prefers_even_cpu_and_memory() -> None:
    p = info(pod("p", cpu="1", memory="1Gi"))
    even = node_info(node("even", cpu="4", memory="4Gi"))
    skewed = node_info(node("skewed", cpu="4", memory="4Gi"), pod("e", cpu="2", memory="100Mi", node_name="skewed"))
    plugin = BalancedAllocation()
    assert plugin.score(p, even, {}) == 100
    assert plugin.score(p, skewed, {}) < 100


@pytest.mark.parametrize("want_port,used_port,want", [
    (("0.0.0.0", "TCP", 80), ("0.0.0.0", "TCP", 80), (U, ("node(s) didn't have free ports for the requested pod "
                                                          "ports",))),
    (("10.0.0.1", "TCP", 80), ("10.0.0.2", "TCP", 80), None),
    (("10.0.0.1", "TCP", 80), ("0.0.0.0", "TCP", 80), (U, ("node(s) didn't have free ports for the requested pod "
                                                           "ports",))),
    (("0.0.0.0", "UDP", 80), ("0.0.0.0", "TCP", 80), None),
    (("0.0.0.0", "TCP", 81), ("0.0.0.0", "TCP", 80), None),
])
def test_node_ports(want_port: tuple[str, str, int], used_port: tuple[str, str, int], want: Any) -> None:
    def with_port(name: str, port: tuple[str, str, int], **kw: Any) -> Object:
        ip, proto, n = port
        return pod(name, containers=[{"name": "c", "ports": [{"containerPort": n, "hostPort": n, "hostIP": ip,
                                                              "protocol": proto}]}], **kw)
    target = node_info(node("n"), with_port("e", used_port, node_name="n"))
    assert reasons(verdict(NodePorts(), info(with_port("p", want_port)), target)) == want


def test_node_ports_skips_pods_without_host_ports() -> None:
    assert NodePorts().pre_filter(info(pod("p")), snapshot(), {}) is not None


def _zone_nodes(*zones_and_pods: tuple[str, str, int]) -> list[NodeInfo]:
    """(node name, zone, number of app=web pods on it)."""
    out = []
    for name, zone, n in zones_and_pods:
        pods = [pod(f"{name}-w{i}", labels={"app": "web"}, node_name=name) for i in range(n)]
        out.append(node_info(node(name, labels={"zone": zone} if zone else {}), *pods))
    return out


SPREAD = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"app": "web"}}}]


@pytest.mark.parametrize("layout,target,want", [
    ([("a1", "a", 1), ("b1", "b", 0)], "b1", None),
    ([("a1", "a", 1), ("b1", "b", 0)], "a1", (U, ("node(s) didn't match pod topology spread constraints",))),
    ([("a1", "a", 1), ("b1", "b", 1)], "a1", None),
    ([("a1", "a", 1), ("none", "", 0)], "none",
     (R, ("node(s) didn't match pod topology spread constraints (missing required label)",))),
    ([("a1", "a", 2), ("a2", "a", 0), ("b1", "b", 1)], "a2",
     (U, ("node(s) didn't match pod topology spread constraints",))),
])
def test_pod_topology_spread_filter(layout: list[tuple[str, str, int]], target: str, want: Any) -> None:
    nodes = _zone_nodes(*layout)
    snap = snapshot(*nodes)
    p = info(pod("p", labels={"app": "web"}, topologySpreadConstraints=SPREAD))
    assert reasons(verdict(PodTopologySpread(), p, snap.by_name[target], snap)) == want


def test_pod_topology_spread_counts_only_nodes_matching_the_pods_node_selector() -> None:
    nodes = [node_info(node("a1", labels={"zone": "a", "pool": "x"}), pod("w", labels={"app": "web"},
                                                                          node_name="a1")),
             node_info(node("b1", labels={"zone": "b", "pool": "y"}))]
    snap = snapshot(*nodes)
    p = info(pod("p", labels={"app": "web"}, topologySpreadConstraints=SPREAD, nodeSelector={"pool": "x"}))
    # zone b is not eligible, so zone a (1 pod) is the minimum: placing there gives skew 1
    assert verdict(PodTopologySpread(), p, snap.by_name["a1"], snap) is None


def test_pod_topology_spread_schedule_anyway_scores_emptier_domains_higher() -> None:
    soft = [{**SPREAD[0], "whenUnsatisfiable": "ScheduleAnyway"}]
    nodes = _zone_nodes(("a1", "a", 2), ("b1", "b", 0), ("c1", "c", 1))
    snap, plugin = snapshot(*nodes), PodTopologySpread()
    p = info(pod("p", labels={"app": "web"}, topologySpreadConstraints=soft))
    state: dict[str, Any] = {}
    assert plugin.pre_filter(p, snap, state) is not None  # no hard constraint: filter skipped
    assert plugin.pre_score(p, nodes, snap, state) is None
    scores = [plugin.score(p, n, state) for n in nodes]
    assert scores == [3, 0, 2]  # round(count × log(3 domains + 2)) + maxSkew - 1
    plugin.normalize(scores, state)
    assert scores == [0, 100, 33]  # 100 × (max + min - score) / max


def _affinity(kind: str, selector: Object, key: str = "zone", required: bool = True, weight: int = 10) -> Object:
    term = {"labelSelector": {"matchLabels": selector}, "topologyKey": key}
    if required:
        return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "podAffinityTerm": term}]}}


@pytest.mark.parametrize("affinity,labels,target,want", [
    (_affinity("podAffinity", {"app": "db"}), {}, "a1", None),
    (_affinity("podAffinity", {"app": "db"}), {}, "b1", (R, ("node(s) didn't match pod affinity rules",))),
    (_affinity("podAffinity", {"app": "nobody"}), {"app": "nobody"}, "b1", None),  # first of its group
    (_affinity("podAffinity", {"app": "nobody"}), {}, "b1", (R, ("node(s) didn't match pod affinity rules",))),
    (_affinity("podAntiAffinity", {"app": "db"}), {}, "a2", (U, ("node(s) didn't match pod anti-affinity rules",))),
    (_affinity("podAntiAffinity", {"app": "db"}), {}, "b1", None),
    (_affinity("podAntiAffinity", {"app": "db"}, key="kubernetes.io/hostname"), {}, "a2", None),
    ({}, {"app": "cache"}, "c1", (U, ("node(s) didn't satisfy existing pods anti-affinity rules",))),
    ({}, {"app": "other"}, "c1", None),
])
def test_inter_pod_affinity_filter(affinity: Object, labels: dict[str, str], target: str, want: Any) -> None:
    guard = pod("guard", labels={"app": "guard"}, node_name="c1",
                affinity=_affinity("podAntiAffinity", {"app": "cache"}))
    nodes = [node_info(node("a1", labels={"zone": "a"}), pod("db", labels={"app": "db"}, node_name="a1")),
             node_info(node("a2", labels={"zone": "a"})),
             node_info(node("b1", labels={"zone": "b"})),
             node_info(node("c1", labels={"zone": "c"}), guard)]
    snap = snapshot(*nodes)
    p = info(pod("p", labels=labels, affinity=affinity))
    assert reasons(verdict(InterPodAffinity(), p, snap.by_name[target], snap)) == want


def test_inter_pod_affinity_other_namespaces_do_not_match_by_default() -> None:
    nodes = [node_info(node("a1", labels={"zone": "a"}), pod("db", ns="other", labels={"app": "db"},
                                                             node_name="a1"))]
    snap = snapshot(*nodes)
    p = info(pod("p", affinity=_affinity("podAntiAffinity", {"app": "db"})))
    assert verdict(InterPodAffinity(), p, nodes[0], snap) is None


def test_inter_pod_affinity_preferred_scores() -> None:
    nodes = [node_info(node("a1", labels={"zone": "a"}), pod("db", labels={"app": "db"}, node_name="a1")),
             node_info(node("b1", labels={"zone": "b"}))]
    snap, plugin = snapshot(*nodes), InterPodAffinity()
    for kind, want in (("podAffinity", [100, 0]), ("podAntiAffinity", [0, 100])):
        p = info(pod("p", affinity=_affinity(kind, {"app": "db"}, required=False)))
        state: dict[str, Any] = {}
        assert plugin.pre_score(p, nodes, snap, state) is None
        scores = [plugin.score(p, n, state) for n in nodes]
        plugin.normalize(scores, state)
        assert scores == want, kind


def test_image_locality_prefers_nodes_with_big_images() -> None:
    big = [{"names": ["registry/app:1"], "sizeBytes": 500 * 1024 * 1024}]
    nodes = [node_info(node("has", images=big)), node_info(node("lacks"))]
    snap, plugin = snapshot(*nodes), ImageLocality()
    p = info(pod("p", image="registry/app:1"))
    state: dict[str, Any] = {}
    assert plugin.pre_score(p, nodes, snap, state) is None
    has, lacks = (plugin.score(p, n, state) for n in nodes)
    assert lacks == 0 and 0 < has < 100
    untagged = info(pod("p", image="busybox"))
    assert plugin.pre_score(untagged, nodes, snap, {}) is None  # busybox -> busybox:latest, on no node
    assert plugin.score(untagged, nodes[0], {"image_locality": (["busybox:latest"], 2, snap.image_nodes)}) == 0


@pytest.mark.parametrize("pvc,want", [
    (None, (R, ('persistentvolumeclaim "data" not found',))),
    ({"spec": {}, "status": {"phase": "Pending"}}, (R, ("pod has unbound immediate PersistentVolumeClaims",))),
    ({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"volumeName": "pv"}},
     (R, ('persistentvolumeclaim "data" is being deleted',))),
    ({"spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}}, None),
])
def test_volume_binding(pvc: Object | None, want: Any) -> None:
    p = info(pod("p", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]))
    snap = snapshot(node_info(node("n")))
    if pvc is not None:
        snap.pvcs = {"default/data": pvc}
    assert reasons(VolumeBinding().pre_filter(p, snap, {})) == (want if want else (Code.SKIP, ()))


def test_inter_pod_affinity_reports_the_pods_own_anti_affinity_before_existing_pods() -> None:
    """A node that breaks both the pod's anti-affinity and an existing pod's: kube names the pod's own rule."""
    mutual = _affinity("podAntiAffinity", {"app": "web"}, key="kubernetes.io/hostname")
    target = node_info(node("n"), pod("w1", labels={"app": "web"}, node_name="n", affinity=mutual))
    p = info(pod("w2", labels={"app": "web"}, affinity=mutual))
    assert reasons(verdict(InterPodAffinity(), p, target)) == (U, ("node(s) didn't match pod anti-affinity rules",))


def test_inter_pod_affinity_scores_existing_pods_terms_symmetrically() -> None:
    """Existing pods attract (required affinity: weight 1; preferred: its weight) or repel the incoming pod."""
    likes_web = pod("fan", node_name="a1", labels={"app": "fan"},
                    affinity=_affinity("podAffinity", {"app": "web"}, required=False, weight=40))
    hates_web = pod("hater", node_name="b1", labels={"app": "hater"},
                    affinity=_affinity("podAntiAffinity", {"app": "web"}, required=False, weight=20))
    needs_web = pod("needy", node_name="c1", labels={"app": "needy"},
                    affinity=_affinity("podAffinity", {"app": "web"}))
    nodes = [node_info(node("a1", labels={"zone": "a"}), likes_web),
             node_info(node("b1", labels={"zone": "b"}), hates_web),
             node_info(node("c1", labels={"zone": "c"}), needs_web),
             node_info(node("d1", labels={"zone": "d"}))]
    snap, plugin = snapshot(*nodes), InterPodAffinity()
    p = info(pod("web", labels={"app": "web"}))
    state: dict[str, Any] = {}
    assert plugin.pre_score(p, nodes, snap, state) is None
    raw = [plugin.score(p, n, state) for n in nodes]
    assert raw == [40, -20, 1, 0]
    plugin.normalize(raw, state)
    assert raw == [100, 0, 35, 33]
    assert plugin.pre_score(info(pod("web")), nodes[3:], snapshot(nodes[3]), {}) is not None  # nobody has terms


def test_inter_pod_affinity_namespace_selector_matches_by_namespace_labels() -> None:
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone",
            "namespaceSelector": {"matchLabels": {"team": "data"}}}
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    nodes = [node_info(node("a1", labels={"zone": "a"}), pod("db", ns="warehouse", labels={"app": "db"},
                                                             node_name="a1")),
             node_info(node("b1", labels={"zone": "b"}), pod("db", ns="scratch", labels={"app": "db"},
                                                             node_name="b1"))]
    snap = snapshot(*nodes)
    snap.namespace_labels = {"warehouse": {"team": "data"}, "scratch": {"team": "web"}}
    p = info(pod("p", affinity=anti))
    assert reasons(verdict(InterPodAffinity(), p, nodes[0], snap)) == (U, ("node(s) didn't match pod anti-affinity "
                                                                          "rules",))
    assert verdict(InterPodAffinity(), p, nodes[1], snap) is None


def test_pod_topology_spread_system_defaults_spread_a_controllers_pods() -> None:
    """No constraints, a ReplicaSet owner: hostname (maxSkew 3) and zone (maxSkew 5) ScheduleAnyway defaults."""
    owner = {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs-1",
                                  "controller": True}]}

    def owned(name: str, **kw: Any) -> Object:
        p = pod(name, **kw)
        p["metadata"].update(owner)
        return p
    cache = Cache()
    for n in (node("a1", labels={ZONE_KEY: "a"}), node("a2", labels={ZONE_KEY: "a"}),
              node("b1", labels={ZONE_KEY: "b"})):
        cache.add_node(n)
    for p in (owned("w1", node_name="a1"), owned("w2", node_name="a1"), pod("stranger", node_name="b1")):
        cache.add_pod(info(p))
    snap, plugin = cache.snapshot(), PodTopologySpread()
    nodes = snap.nodes
    state: dict[str, Any] = {}
    assert plugin.pre_score(info(owned("w3")), nodes, snap, state) is None
    scores = [plugin.score(info(owned("w3")), n, state) for n in nodes]
    # hostname: count × log(3 nodes + 2) + 2; zone: count × log(2 zones + 2) + 4
    assert scores == [12, 9, 6]
    plugin.normalize(scores, state)
    assert scores == [50, 75, 100]
    assert plugin.pre_score(info(pod("loose")), nodes, snap, {}) is not None  # no owner, no constraints: skip


def test_image_locality_normalizes_untagged_names_on_both_sides() -> None:
    nodes = [node_info(node("has", images=[{"names": ["busybox"], "sizeBytes": 500 * 1024 * 1024}])),
             node_info(node("lacks"))]
    snap, plugin = snapshot(*nodes), ImageLocality()
    p = info(pod("p", image="busybox:latest"))
    state: dict[str, Any] = {}
    assert plugin.pre_score(p, nodes, snap, state) is None
    assert plugin.score(p, nodes[0], state) > 0 and plugin.score(p, nodes[1], state) == 0
