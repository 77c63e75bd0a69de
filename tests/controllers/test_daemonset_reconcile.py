"""The DaemonSet core against kube-controller-manager 1.32: placement, taints and tolerations, rolling update,
history and status, on fake times."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controllers import history
from controllers import podcontrol as pc
from controllers.daemonset import reconcile as dr
from controllers.machinery.actions import Create, Update

pytestmark = pytest.mark.unit
Obj = dict[str, Any]
NOW = 10_000.0


def ds(**spec: Any) -> Obj:
    base: Obj = {"selector": {"matchLabels": {"app": "agent"}},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                 "revisionHistoryLimit": 10,
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "c", "image": "agent:1"}]}}}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "ns", "uid": "ds-uid", "generation": 1}, "spec": base,
            "status": {}}


def node(name: str, taints: list[Obj] | None = None, **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
            "spec": {"taints": taints or []}}


def pod_on(d: Obj, node_name: str, name: str, *, hash_: str | None = None, ready: bool = True,
           phase: str = "Running", created: float = 0.0) -> Obj:
    h = hash_ if hash_ is not None else history.template_hash(d)
    body = dr.new_pod(d, h, node_name)
    if hash_ is not None and hash_ != history.template_hash(d):  # a pod of an older template and generation
        body["metadata"]["labels"][dr.GENERATION_LABEL] = "0"
    body["metadata"].update({"name": name, "uid": f"u-{name}", "creationTimestamp": pc.rfc3339(created)})
    body["spec"]["nodeName"] = node_name
    body["status"] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": pc.rfc3339(0)}]}
    return body


def created_nodes(r: dr.Result) -> list[str]:
    return sorted(dr.target_node(c.body) or "" for c in r.creates)


def test_one_pod_per_node_pinned_by_node_affinity_with_auto_tolerations() -> None:
    d = ds()
    r = dr.sync(d, [node("n1"), node("n2")], [], [], NOW)
    assert created_nodes(r) == ["n1", "n2"]
    pod = r.creates[0].body
    assert "nodeName" not in pod["spec"]
    assert pod["spec"]["affinity"] == {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
    assert pod["metadata"]["generateName"] == "agent-"
    assert pod["metadata"]["labels"] == {"app": "agent", "pod-template-generation": "1",
                                         "controller-revision-hash": r.hash}
    assert {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]} == set(dr.AUTO_TOLERATIONS)
    assert all(t["operator"] == "Exists" and "tolerationSeconds" not in t for t in pod["spec"]["tolerations"])
    assert r.status is not None and r.status["desiredNumberScheduled"] == 2
    assert r.status["currentNumberScheduled"] == 0 and r.status["numberUnavailable"] == 2


def test_host_network_pods_also_tolerate_network_unavailable() -> None:
    d = ds()
    d["spec"]["template"]["spec"]["hostNetwork"] = True
    pod = dr.sync(d, [node("n1")], [], [], NOW).creates[0].body
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") in {
        (t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}


@pytest.mark.parametrize("taint,tolerations,expected", [
    ({"key": "dedicated", "value": "db", "effect": "NoSchedule"}, [], (False, True)),
    ({"key": "dedicated", "value": "db", "effect": "NoExecute"}, [], (False, False)),
    ({"key": "dedicated", "value": "db", "effect": "PreferNoSchedule"}, [], (True, True)),
    ({"key": "dedicated", "value": "db", "effect": "NoSchedule"},
     [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}], (True, True)),
    ({"key": "dedicated", "value": "db", "effect": "NoSchedule"},
     [{"key": "dedicated", "operator": "Equal", "value": "web"}], (False, True)),
    ({"key": "dedicated", "value": "db", "effect": "NoExecute"}, [{"operator": "Exists"}], (True, True)),
    ({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}, [], (True, True)),
    ({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}, [], (True, True)),
    ({"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}, [], (False, True)),
])
def test_taints_and_tolerations(taint: Obj, tolerations: list[Obj], expected: tuple[bool, bool]) -> None:
    d = ds()
    d["spec"]["template"]["spec"]["tolerations"] = tolerations
    assert dr.should_run(d, node("n1", [taint])) == expected


@pytest.mark.parametrize("pod_spec,expected", [
    ({"nodeSelector": {"disk": "ssd"}}, ["n2"]),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}]}}}}, ["n1", "n3"]),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "Exists"}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n3"]}]}]}}}}, ["n2", "n3"]),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}]}}}}, ["n1"]),
    ({"nodeName": "n3"}, ["n3"]),
])
def test_node_selection(pod_spec: Obj, expected: list[str]) -> None:
    d = ds()
    d["spec"]["template"]["spec"].update(pod_spec)
    nodes = [node("n1", cores="8"), node("n2", disk="ssd", cores="2"), node("n3")]
    assert created_nodes(dr.sync(d, nodes, [], [], NOW)) == expected


def test_first_sync_records_the_template_as_revision_1() -> None:
    d = ds()
    r = dr.sync(d, [], [], [], NOW)
    (rev,) = r.revisions
    assert isinstance(rev, Create)
    body = rev.body
    assert body["metadata"]["name"] == f"agent-{r.hash}" and body["revision"] == 1
    assert body["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": r.hash}
    assert body["data"]["spec"]["template"]["$patch"] == "replace"
    assert body["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"


def test_going_back_to_an_old_template_renumbers_its_revision() -> None:
    d1 = ds()
    rev1 = dict(dr.sync(d1, [], [], [], NOW).revisions[0].body, metadata={
        **dr.sync(d1, [], [], [], NOW).revisions[0].body["metadata"], "uid": "r1"})
    d2 = copy.deepcopy(d1)
    d2["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2"
    rev2 = dict(dr.sync(d2, [], [], [rev1], NOW).revisions[0].body)
    assert rev2["revision"] == 2
    r = dr.sync(d1, [], [], [rev1, rev2], NOW)
    (update,) = r.revisions
    assert isinstance(update, Update) and update.body["revision"] == 3 and update.name == rev1["metadata"]["name"]


def test_failed_pod_is_deleted_with_event_and_backoff() -> None:
    d = ds()
    failed = pod_on(d, "n1", "agent-a", phase="Failed")
    r = dr.sync(d, [node("n1")], [failed], [], NOW)
    assert [x.name for x in r.deletes] == ["agent-a"]
    assert [(e.reason, e.message) for e in r.events] == [
        ("FailedDaemonPod", "Found failed daemon pod ns/agent-a on node n1, will try to kill it")]
    assert r.backoff["n1"] == dr.Backoff(1.0, NOW)
    again = dr.sync(d, [node("n1")], [failed], [], NOW + 0.5, backoff=r.backoff)
    assert again.deletes == [] and again.requeue_after == pytest.approx(0.5)
    later = dr.sync(d, [node("n1")], [failed], [], NOW + 2, backoff=r.backoff)
    assert later.backoff["n1"] == dr.Backoff(2.0, NOW + 2)


def test_extra_pods_on_a_node_keep_the_oldest() -> None:
    d = ds()
    pods = [pod_on(d, "n1", "agent-new", created=50), pod_on(d, "n1", "agent-old", created=10)]
    assert [x.name for x in dr.sync(d, [node("n1")], pods, [], NOW).deletes] == ["agent-new"]


def test_pod_on_a_node_that_no_longer_fits_is_deleted_and_counted_misscheduled() -> None:
    d = ds()
    d["spec"]["template"]["spec"]["nodeSelector"] = {"role": "edge"}
    pods = [pod_on(d, "n1", "agent-a")]
    r = dr.sync(d, [node("n1")], pods, [], NOW)
    assert [x.name for x in r.deletes] == ["agent-a"]
    assert r.status is not None and r.status["numberMisscheduled"] == 1 and r.status["desiredNumberScheduled"] == 0


def test_no_schedule_taint_keeps_a_running_pod_but_no_execute_evicts() -> None:
    d = ds()
    pods = [pod_on(d, "n1", "agent-a")]
    soft = node("n1", [{"key": "k", "effect": "NoSchedule"}])
    assert dr.sync(d, [soft], pods, [], NOW).deletes == []
    hard = node("n1", [{"key": "k", "effect": "NoExecute"}])
    assert [x.name for x in dr.sync(d, [hard], pods, [], NOW).deletes] == ["agent-a"]


def test_status_counts_ready_available_updated() -> None:
    d = ds(minReadySeconds=30)
    h = history.template_hash(d)
    pods = [pod_on(d, "n1", "a"), pod_on(d, "n2", "b", ready=False), pod_on(d, "n3", "c", hash_="old")]
    pods[0]["status"]["conditions"][0]["lastTransitionTime"] = pc.rfc3339(NOW - 5)  # ready, not yet available
    r = dr.sync(d, [node("n1"), node("n2"), node("n3")], pods, [], NOW)
    assert r.hash == h and r.status is not None
    assert {k: r.status.get(k) for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                         "numberAvailable", "updatedNumberScheduled", "numberUnavailable",
                                         "numberMisscheduled", "observedGeneration")} == {
        "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "numberAvailable": 1,
        "updatedNumberScheduled": 2, "numberUnavailable": 2, "numberMisscheduled": 0, "observedGeneration": 1}
    assert r.requeue_after == 30


def test_rolling_update_replaces_one_available_old_pod_at_a_time() -> None:
    d = ds()
    nodes = [node("n1"), node("n2"), node("n3")]
    pods = [pod_on(d, n, f"old-{n}", hash_="old") for n in ("n1", "n2", "n3")]
    assert [x.name for x in dr.sync(d, nodes, pods, [], NOW).deletes] == ["old-n1"]
    pods[0] = pod_on(d, "n1", "new-n1", ready=False)  # replacement not ready yet: nothing more
    assert dr.sync(d, nodes, pods, [], NOW).deletes == []
    pods[0] = pod_on(d, "n1", "new-n1")
    assert [x.name for x in dr.sync(d, nodes, pods, [], NOW).deletes] == ["old-n2"]


def test_rolling_update_always_replaces_unavailable_old_pods_and_honours_percent() -> None:
    d = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%", "maxSurge": 0}})
    nodes = [node(f"n{i}") for i in range(4)]
    pods = [pod_on(d, f"n{i}", f"old-{i}", hash_="old", ready=i != 3) for i in range(4)]
    assert sorted(x.name for x in dr.sync(d, nodes, pods, [], NOW).deletes) == ["old-0", "old-1", "old-3"]


def test_on_delete_never_replaces_old_pods() -> None:
    d = ds(updateStrategy={"type": "OnDelete"})
    pods = [pod_on(d, "n1", "old", hash_="old")]
    r = dr.sync(d, [node("n1")], pods, [], NOW)
    assert r.deletes == [] and r.status is not None and "updatedNumberScheduled" not in r.status


def test_selecting_everything_is_refused() -> None:
    d = ds(selector={})
    r = dr.sync(d, [node("n1")], [], [], NOW)
    assert [(e.reason, e.message) for e in r.events] == [
        ("SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")]
    assert r.creates == [] and r.status is None


def test_unsatisfied_expectations_only_report_status() -> None:
    r = dr.sync(ds(), [node("n1")], [], [], NOW, satisfied_expectations=False)
    assert r.creates == [] and r.status is not None


def test_history_beyond_the_limit_is_cleaned_unless_a_pod_uses_it() -> None:
    d = ds(revisionHistoryLimit=1)
    revs = []
    for i, h in enumerate(["h1", "h2", "h3"]):
        revs.append({"metadata": {"name": f"agent-{h}", "namespace": "ns", "uid": f"r{i}", "labels": {
            "controller-revision-hash": h}, "ownerReferences": [{"uid": "ds-uid", "controller": True}]},
            "data": {"x": i}, "revision": i + 1})
    pods = [pod_on(d, "n1", "p", hash_="h1")]
    r = dr.sync(d, [node("n1")], pods, revs, NOW)
    assert [x.name for x in r.deletes if x.resource.kind == "ControllerRevision"] == ["agent-h2"]


def surge_ds() -> Obj:
    return ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})


def test_max_surge_starts_a_new_pod_beside_the_old_one_then_removes_the_old() -> None:
    d = surge_ds()
    nodes = [node("n1"), node("n2")]
    pods = [pod_on(d, "n1", "old-1", hash_="old", created=1), pod_on(d, "n2", "old-2", hash_="old", created=1)]
    r = dr.sync(d, nodes, pods, [], NOW)
    assert created_nodes(r) == ["n1"] and r.deletes == []  # one surge pod, nothing deleted
    pods.append(pod_on(d, "n1", "new-1", ready=False, created=2))
    r = dr.sync(d, nodes, pods, [], NOW)
    assert r.creates == [] and r.deletes == []  # the surge budget is spent until new-1 is available
    pods[-1] = pod_on(d, "n1", "new-1", created=2)
    r = dr.sync(d, nodes, pods, [], NOW)
    assert [x.name for x in r.deletes if x.resource.kind == "Pod"] == ["old-1"]
    assert created_nodes(r) == ["n2"]


def test_max_surge_replaces_an_unavailable_old_pod_beyond_the_budget() -> None:
    d = surge_ds()
    nodes = [node("n1"), node("n2")]
    pods = [pod_on(d, "n1", "old-1", hash_="old", ready=False), pod_on(d, "n2", "old-2", hash_="old", ready=False)]
    assert created_nodes(dr.sync(d, nodes, pods, [], NOW)) == ["n1", "n2"]


def test_surge_keeps_an_unready_new_pod_and_a_ready_old_one_prunes_the_rest() -> None:
    d = surge_ds()
    pods = [pod_on(d, "n1", "old-a", hash_="old", created=1), pod_on(d, "n1", "old-b", hash_="old", created=2),
            pod_on(d, "n1", "new-a", ready=False, created=3)]
    assert [x.name for x in dr.sync(d, [node("n1")], pods, [], NOW).deletes if x.resource.kind == "Pod"] == ["old-b"]
