"""The replica controllers' pure core on fake times: what kube-controller-manager 1.32 decides for ReplicaSets and
ReplicationControllers — claiming, creations, which pods are deleted first, status and ReplicaFailure, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.machinery.actions import Create, Delete, Event, Patch, Update
from controllers.machinery.resources import PODS, REPLICASETS, REPLICATIONCONTROLLERS
from controllers.replicaset import ranking
from controllers.replicaset.reconcile import (
    BURST_REPLICAS,
    REPLICA_SET,
    REPLICATION_CONTROLLER,
    active_pods,
    calculate_status,
    claim_pods,
    create_failed_event,
    created_event,
    delete_failed_event,
    deleted_event,
    is_adoption,
    manage_replicas,
    min_ready_requeue,
    pod_from_template,
    pod_name_prefix,
    selector_of,
    status_update,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rs(name: str = "web", replicas: int = 3, uid: str = "rs-uid", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "ns", "uid": uid, "generation": 1, "resourceVersion": "10"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, **spec},
            "status": {"replicas": 0}}


def rc(name: str = "web", replicas: int = 3) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name, "namespace": "ns", "uid": "rc-uid", "generation": 2},
            "spec": {"replicas": replicas, "selector": {"app": "web"},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}},
            "status": {"replicas": 0}}


def pod(name: str, *, owner: str | None = "rs-uid", labels: dict[str, str] | None = None, node: str = "n1",
        phase: str = "Running", ready_since: float | None = 100.0, created: float = 1000.0, restarts: int = 0,
        deleting: bool = False, cost: str | None = None, uid: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}",
                            "labels": {"app": "web", "tier": "fe"} if labels is None else labels,
                            "creationTimestamp": ts(created)}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": owner,
                                    "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = ts(0)
    if cost is not None:
        meta["annotations"] = {ranking.DELETION_COST: cost}
    conditions = []
    if ready_since is not None:
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": ts(ready_since)})
    else:
        conditions.append({"type": "Ready", "status": "False", "lastTransitionTime": ts(10)})
    return {"metadata": meta, "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


# ------------------------------------------------------------------------------------------- pods it creates

def test_pod_from_template_carries_labels_annotations_generate_name_and_controller_ref() -> None:
    owner = rs()
    owner["spec"]["template"]["metadata"]["annotations"] = {"a": "b"}
    owner["spec"]["template"]["metadata"]["finalizers"] = ["x/y"]
    body = pod_from_template(REPLICA_SET, owner)
    assert body["apiVersion"] == "v1" and body["kind"] == "Pod"
    assert body["metadata"] == {
        "generateName": "web-", "labels": {"app": "web", "tier": "fe"}, "annotations": {"a": "b"},
        "finalizers": ["x/y"],
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-uid",
                             "controller": True, "blockOwnerDeletion": True}]}
    assert body["spec"] == {"containers": [{"name": "c", "image": "nginx"}]}
    assert body["spec"] is not owner["spec"]["template"]["spec"]


def test_replication_controller_pods_point_at_a_v1_replication_controller() -> None:
    ref = pod_from_template(REPLICATION_CONTROLLER, rc())["metadata"]["ownerReferences"][0]
    assert (ref["apiVersion"], ref["kind"], ref["uid"]) == ("v1", "ReplicationController", "rc-uid")
    assert REPLICATION_CONTROLLER.component == "replication-controller"
    assert REPLICA_SET.component == "replicaset-controller"


@pytest.mark.parametrize("name,prefix", [("web", "web-"), ("a" * 252, "a" * 252 + "-"), ("a" * 253, "a" * 253)])
def test_generate_name_prefix_drops_the_dash_only_when_too_long(name: str, prefix: str) -> None:
    assert pod_name_prefix(name) == prefix


# ------------------------------------------------------------------------------------------- manageReplicas

@pytest.mark.parametrize("replicas,have,creates,deletes", [
    (3, 0, 3, 0), (3, 2, 1, 0), (3, 3, 0, 0), (1, 3, 0, 2), (0, 2, 0, 2),
    (BURST_REPLICAS + 100, 0, BURST_REPLICAS, 0), (0, BURST_REPLICAS + 7, 0, BURST_REPLICAS)])
def test_manage_replicas_creates_or_deletes_the_difference_up_to_the_burst(
        replicas: int, have: int, creates: int, deletes: int) -> None:
    pods = [pod(f"p{i}") for i in range(have)]
    actions = manage_replicas(REPLICA_SET, rs(replicas=replicas), pods, pods, NOW)
    assert sum(isinstance(a, Create) for a in actions) == creates
    assert sum(isinstance(a, Delete) for a in actions) == deletes
    for a in actions:
        assert a.resource == PODS and a.namespace == "ns"
        if isinstance(a, Create):
            assert a.body["metadata"]["generateName"] == "web-"


def test_unset_replicas_means_one() -> None:
    owner = rs()
    del owner["spec"]["replicas"]
    assert len(manage_replicas(REPLICA_SET, owner, [], [], NOW)) == 1


def test_scale_down_deletes_the_least_valuable_pods_first() -> None:
    pods = [pod("ready-old", ready_since=5000, created=9000), pod("unready", ready_since=None),
            pod("pending", phase="Pending", ready_since=None), pod("unscheduled", node="", phase="Pending",
                                                                     ready_since=None)]
    actions = manage_replicas(REPLICA_SET, rs(replicas=1), pods, pods, NOW)
    assert [a.name for a in actions if isinstance(a, Delete)] == ["unscheduled", "pending", "unready"]


# ------------------------------------------------------------------------------------------- ActivePods order

def order(pods: list[dict[str, Any]], related: list[dict[str, Any]] | None = None) -> list[str]:
    return [p["metadata"]["name"] for p in ranking.sort_for_deletion(pods, pods if related is None else related,
                                                                      NOW)]


@pytest.mark.parametrize("first,second", [
    (pod("a", node=""), pod("b")),                                          # 1 unassigned first
    (pod("a", phase="Pending"), pod("b", phase="Running")),                # 2 Pending < Running
    (pod("a", phase="Unknown"), pod("b", phase="Running")),                # 2 Unknown < Running
    (pod("a", phase="Pending"), pod("b", phase="Unknown")),                # 2 Pending < Unknown
    (pod("a", ready_since=None), pod("b")),                                 # 3 not ready first
    (pod("a", cost="-5"), pod("b")),                                        # 4 lower deletion cost first
    (pod("a", cost="1"), pod("b", cost="100")),
    (pod("a", ready_since=10), pod("b", ready_since=10000)),                # 6 ready for less time first
    (pod("a", restarts=5), pod("b", restarts=1)),                           # 7 more restarts first
    (pod("a", created=10), pod("b", created=100000)),                       # 8 newer first
])
def test_each_rule_of_the_deletion_order(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert order([second, first]) == ["a", "b"]
    assert order([first, second]) == ["a", "b"]


def test_earlier_rules_win_over_later_ones() -> None:
    # an unready pod goes before a ready one even when the ready one has restarted a lot and is newer
    assert order([pod("ready", restarts=9, created=1), pod("unready", ready_since=None, created=99999)]) == \
        ["unready", "ready"]
    # deletion cost beats readiness time
    assert order([pod("young", ready_since=1), pod("costly-young", ready_since=1, cost="10"),
                  pod("old", ready_since=99999)]) == ["young", "old", "costly-young"]


def test_pods_doubled_up_on_a_node_go_before_lonely_ones() -> None:
    crowded, lonely = pod("crowded", node="n1"), pod("lonely", node="n2")
    sibling = pod("sibling", node="n1", owner="other-rs")  # a pod of another ReplicaSet of the same Deployment
    assert order([lonely, crowded], related=[crowded, lonely, sibling]) == ["crowded", "lonely"]
    # inactive related pods do not count
    gone = pod("gone", node="n2", phase="Failed")
    gone2 = pod("gone2", node="n2", deleting=True)
    assert order([lonely, crowded], related=[crowded, lonely, sibling, gone, gone2]) == ["crowded", "lonely"]


def test_ready_times_in_the_same_log2_bucket_tie_break_by_uid() -> None:
    # 1000 s and 1050 s ago are both in bucket floor(log2(ns)) == 39: the UID decides, not the exact time
    a = pod("a", ready_since=1050, uid="u-1")
    b = pod("b", ready_since=1000, uid="u-2")
    assert order([b, a]) == ["a", "b"]
    # 10 s vs 1000 s are in different buckets: the more recent goes first whatever the UIDs
    c = pod("c", ready_since=10, uid="u-9")
    assert order([a, c]) == ["c", "a"]


def test_creation_times_in_the_same_bucket_tie_break_by_uid() -> None:
    a = pod("a", ready_since=None, created=5000, uid="u-2")
    b = pod("b", ready_since=None, created=5100, uid="u-1")
    assert order([a, b]) == ["b", "a"]


def test_sidecar_restarts_break_ties_of_regular_restarts() -> None:
    a, b = pod("a"), pod("b")
    for p, n in ((a, 4), (b, 1)):
        p["spec"]["initContainers"] = [{"name": "side", "restartPolicy": "Always"}, {"name": "init"}]
        p["status"]["initContainerStatuses"] = [{"name": "side", "restartCount": n}, {"name": "init",
                                                                                      "restartCount": 50 - n}]
    assert order([b, a]) == ["a", "b"]


@pytest.mark.parametrize("raw,cost", [("5", 5), ("-3", -3), ("+7", 7), (" 5", 0), ("1_0", 0), ("abc", 0),
                                      ("2147483648", 0), ("-2147483648", -2147483648)])
def test_deletion_cost_parses_like_strconv_parseint_32(raw: str, cost: int) -> None:
    assert ranking.deletion_cost(pod("p", cost=raw)) == cost


def test_deleting_everything_needs_no_ranking() -> None:
    pods = [pod("b"), pod("a")]
    assert ranking.pods_to_delete(pods, pods, 2, NOW) == pods


# ------------------------------------------------------------------------------------------- claiming

def test_claim_adopts_matching_orphans_and_releases_owned_pods_that_stopped_matching() -> None:
    owned = pod("owned")
    orphan = pod("orphan", owner=None)
    strayed = pod("strayed", labels={"app": "other"})
    foreign = pod("foreign", owner="someone-else")
    unrelated_orphan = pod("unrelated", owner=None, labels={"app": "db"})
    deleting_orphan = pod("dying", owner=None, deleting=True)
    owner = rs()
    claim = claim_pods(REPLICA_SET, owner, selector_of(REPLICA_SET, owner),
                       [owned, orphan, strayed, foreign, unrelated_orphan, deleting_orphan])
    assert [p["metadata"]["name"] for p in claim.pods] == ["owned", "orphan"]
    assert claim.pods[1]["metadata"]["ownerReferences"][0]["uid"] == "rs-uid"
    assert orphan["metadata"].get("ownerReferences") is None  # the cache's object is not modified
    adopt, release = claim.actions
    assert isinstance(adopt, Patch) and adopt.patch_type == "strategic" and adopt.name == "orphan"
    assert adopt.patch == {"metadata": {"uid": "uid-orphan", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-uid", "controller": True,
         "blockOwnerDeletion": True}]}}
    assert isinstance(release, Patch) and release.name == "strayed"
    assert release.patch == {"metadata": {"uid": "uid-strayed",
                                          "ownerReferences": [{"$patch": "delete", "uid": "rs-uid"}]}}


def test_an_owner_being_deleted_neither_adopts_nor_releases() -> None:
    owner = rs()
    owner["metadata"]["deletionTimestamp"] = ts(1)
    claim = claim_pods(REPLICA_SET, owner, selector_of(REPLICA_SET, owner),
                       [pod("owned"), pod("orphan", owner=None), pod("strayed", labels={"app": "x"})])
    assert [p["metadata"]["name"] for p in claim.pods] == ["owned"]
    assert claim.actions == []


def test_set_based_selectors_and_rc_map_selectors() -> None:
    owner = rs()
    owner["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]},
                                                      {"key": "canary", "operator": "DoesNotExist"}]}
    sel = selector_of(REPLICA_SET, owner)
    claim = claim_pods(REPLICA_SET, owner, sel, [pod("a", owner=None, labels={"app": "api"}),
                                                 pod("b", owner=None, labels={"app": "web", "canary": "1"})])
    assert [p["metadata"]["name"] for p in claim.pods] == ["a"]
    rc_sel = selector_of(REPLICATION_CONTROLLER, rc())
    assert rc_sel.matches({"app": "web", "x": "y"}) and not rc_sel.matches({"app": "db"})


def test_active_pods_drop_finished_and_deleting_pods() -> None:
    pods = [pod("run"), pod("ok", phase="Succeeded"), pod("bad", phase="Failed"), pod("dying", deleting=True)]
    assert [p["metadata"]["name"] for p in active_pods(pods)] == ["run"]


# ------------------------------------------------------------------------------------------- status

def test_status_counts_fully_labeled_ready_and_available_with_min_ready_seconds() -> None:
    owner = rs(minReadySeconds=30)
    pods = [pod("a", ready_since=100), pod("b", ready_since=10), pod("c", ready_since=None),
            pod("d", labels={"app": "web"}, ready_since=31)]
    status = calculate_status(owner, pods, None, NOW)
    assert status == {"replicas": 4, "fullyLabeledReplicas": 3, "readyReplicas": 3, "availableReplicas": 2}


def test_ready_exactly_min_ready_seconds_ago_is_not_yet_available() -> None:
    status = calculate_status(rs(minReadySeconds=30), [pod("a", ready_since=30)], None, NOW)
    assert status.get("availableReplicas") is None and status["readyReplicas"] == 1


def test_zero_counts_are_omitted_but_replicas_is_always_written() -> None:
    owner = rs()
    owner["status"] = {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "fullyLabeledReplicas": 2}
    assert calculate_status(owner, [], None, NOW) == {"replicas": 0}


@pytest.mark.parametrize("have,reason", [(1, "FailedCreate"), (5, "FailedDelete")])
def test_replica_failure_condition_is_set_with_the_error_and_removed_after_a_clean_sync(have: int,
                                                                                        reason: str) -> None:
    owner = rs(replicas=3)
    msg = 'pods "web-" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1'
    pods = [pod(f"p{i}") for i in range(have)]
    status = calculate_status(owner, pods, msg, NOW)
    assert status["conditions"] == [{"type": "ReplicaFailure", "status": "True",
                                     "lastTransitionTime": "2026-12-01T12:00:00Z", "reason": reason,
                                     "message": msg}]
    owner["status"] = status
    later = calculate_status(owner, pods, "another error", NOW + timedelta(minutes=1))
    assert later["conditions"] == status["conditions"]  # an existing failure is kept as it was
    owner["status"] = later
    assert "conditions" not in calculate_status(owner, pods, None, NOW)


def test_status_update_writes_observed_generation_through_the_status_subresource() -> None:
    owner = rs()
    owner["metadata"]["generation"] = 4
    action = status_update(REPLICA_SET, owner, {"replicas": 3, "readyReplicas": 3})
    assert isinstance(action, Update) and action.subresource == "status" and action.resource == REPLICASETS
    assert action.body["status"] == {"replicas": 3, "readyReplicas": 3, "observedGeneration": 4}
    assert action.body["metadata"]["resourceVersion"] == "10"


def test_status_update_is_skipped_when_nothing_changed() -> None:
    owner = rs()
    owner["status"] = {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "fullyLabeledReplicas": 3,
                       "observedGeneration": 1}
    same = {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "fullyLabeledReplicas": 3}
    assert status_update(REPLICA_SET, owner, same) is None
    owner["metadata"]["generation"] = 2  # a spec change must be observed even with the same counts
    assert status_update(REPLICA_SET, owner, same) is not None


def test_rc_status_goes_to_the_replicationcontrollers_status_subresource() -> None:
    action = status_update(REPLICATION_CONTROLLER, rc(), {"replicas": 1})
    assert isinstance(action, Update) and action.resource == REPLICATIONCONTROLLERS
    assert action.body["status"]["observedGeneration"] == 2


@pytest.mark.parametrize("status,ok,after", [
    ({"readyReplicas": 3, "availableReplicas": 1}, True, 10.0),
    ({"readyReplicas": 3, "availableReplicas": 3}, True, None),
    ({"readyReplicas": 2, "availableReplicas": 1}, True, None),
    ({"readyReplicas": 3, "availableReplicas": 1}, False, None),
])
def test_min_ready_seconds_requeue(status: dict[str, int], ok: bool, after: float | None) -> None:
    assert min_ready_requeue(rs(minReadySeconds=10), status, ok) == after
    assert min_ready_requeue(rs(), status, ok) is None


def test_event_texts_are_kube_controller_managers() -> None:
    owner = rs()
    assert created_event(owner, "web-abcde") == Event(owner, "Normal", "SuccessfulCreate", "Created pod: web-abcde")
    assert deleted_event(owner, "web-abcde") == Event(owner, "Normal", "SuccessfulDelete", "Deleted pod: web-abcde")
    assert create_failed_event(owner, "boom") == Event(owner, "Warning", "FailedCreate", "Error creating: boom")
    assert delete_failed_event(owner, "boom") == Event(owner, "Warning", "FailedDelete", "Error deleting: boom")


def test_only_adoptions_need_the_owner_rechecked() -> None:
    owner = rs()
    claim = claim_pods(REPLICA_SET, owner, selector_of(REPLICA_SET, owner),
                       [pod("orphan", owner=None), pod("strayed", labels={"app": "x"})])
    assert [is_adoption(a) for a in claim.actions] == [True, False]
