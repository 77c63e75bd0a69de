"""The Deployment controller's pure core on fake times: kube-controller-manager 1.32's decisions for a rollout,
step by step (create, surge, scale down, complete, clean up), Recreate, proportional scaling, pause/resume,
progress deadline, collisions, and the arithmetic and annotations they rest on."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.deployment import hashing
from controllers.deployment import util as u
from controllers.deployment.reconcile import (
    claim_replicasets,
    create_collided,
    create_failed,
    sync_deployment,
)
from controllers.machinery.actions import Action, Create, Delete, Event, Patch, Update
from controllers.machinery.resources import DEPLOYMENTS, REPLICASETS

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def template(image: str = "nginx:1.25") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}


def deployment(replicas: int = 3, image: str = "nginx:1.25", **spec: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": 1, "resourceVersion": "5"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image),
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                  "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
         "status": {}}
    d["spec"].update(spec)
    return d


def replicaset(d: dict[str, Any], image: str, replicas: int, available: int | None = None, revision: int = 1,
               age: float = 1000, desired: int | None = None, maximum: int | None = None) -> dict[str, Any]:
    t = template(image)
    h = hashing.compute_hash(t)
    t["metadata"]["labels"]["pod-template-hash"] = h
    avail = replicas if available is None else available
    desired = u.replicas(d) if desired is None else desired
    maximum = desired + u.max_surge(d) if maximum is None else maximum
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-{h}", "namespace": "ns", "uid": f"uid-{h}", "generation": 1,
                         "resourceVersion": "7", "creationTimestamp": ts(age), "labels": dict(t["metadata"]["labels"]),
                         "annotations": {u.REVISION: str(revision), u.DESIRED_REPLICAS: str(desired),
                                         u.MAX_REPLICAS: str(maximum)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "uid": "d-uid", "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", "pod-template-hash": h}},
                     "template": t},
            "status": {"replicas": replicas, "readyReplicas": avail, "availableReplicas": avail,
                       "observedGeneration": 1}}


def events(actions: list[Action]) -> list[str]:
    return [a.message for a in actions if isinstance(a, Event)]


def writes(actions: list[Action]) -> list[tuple[str, str, str | None]]:
    return [(type(a).__name__, getattr(a, "name", "") or a.body["metadata"]["name"],  # type: ignore[union-attr]
             getattr(a, "subresource", None)) for a in actions if not isinstance(a, Event)]


def last_status(actions: list[Action]) -> dict[str, Any]:
    updates = [a for a in actions if isinstance(a, Update) and a.subresource == "status"]
    status: dict[str, Any] = updates[-1].body["status"]
    return status


def cond(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    [c] = [c for c in status.get("conditions", []) if c["type"] == ctype]
    return c


# ------------------------------------------------------------------------------------------- arithmetic

@pytest.mark.parametrize("replicas,surge,unavailable,want", [
    (10, "25%", "25%", (3, 2)),      # surge rounds up, unavailability down
    (3, "25%", "25%", (1, 0)),
    (1, "25%", "25%", (1, 0)),
    (2, 0, "1%", (0, 1)),            # both resolve to 0: maxUnavailable becomes 1
    (1, "0%", "25%", (0, 1)),
    (5, 2, 1, (2, 1)),
    (4, "50%", "100%", (2, 4)),
])
def test_resolve_fenceposts(replicas: int, surge: Any, unavailable: Any, want: tuple[int, int]) -> None:
    d = deployment(replicas, strategy={"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    assert u.resolve_fenceposts(d) == want


def test_max_unavailable_is_capped_by_replicas_and_zero_for_recreate() -> None:
    d = deployment(2, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 5}})
    assert u.max_unavailable(d) == 2
    assert u.max_unavailable(deployment(0)) == 0
    recreate = deployment(3, strategy={"type": "Recreate"})
    assert u.max_unavailable(recreate) == 0 and u.max_surge(recreate) == 0


def test_hash_uses_fnv1a_and_the_safe_alphabet() -> None:
    assert hashing.fnv1a_32(b"") == 0x811C9DC5 and hashing.fnv1a_32(b"a") == 0xE40C292C
    assert hashing.safe_encode_string("0123456789") == "456789bcdf"
    h = hashing.compute_hash(template())
    assert h == hashing.compute_hash(template()) and set(h) <= set("456789bcdf") and 1 <= len(h) <= 10
    assert hashing.compute_hash(template(), 1) != h != hashing.compute_hash(template("nginx:1.26"))
    noisy = template()
    noisy["metadata"]["annotations"] = {}
    noisy["spec"]["volumes"] = []
    assert hashing.compute_hash(noisy) == h  # nil and empty are the same template


def test_equal_ignore_hash() -> None:
    a, b = template(), template()
    b["metadata"]["labels"]["pod-template-hash"] = "abc"
    b["spec"]["tolerations"] = []
    assert u.equal_ignore_hash(a, b)
    assert not u.equal_ignore_hash(a, template("other"))


def test_rollback_keeps_the_revision_history() -> None:
    d = deployment()
    rs = replicaset(d, "nginx:1.25", 0, revision=1)
    assert u.set_new_replicaset_annotations(d, rs, "3", True)
    assert rs["metadata"]["annotations"][u.REVISION] == "3" and rs["metadata"]["annotations"][u.REVISION_HISTORY] == "1"
    assert u.set_new_replicaset_annotations(d, rs, "5", True)
    assert rs["metadata"]["annotations"][u.REVISION_HISTORY] == "1,3"
    assert not u.set_new_replicaset_annotations(d, rs, "4", True)  # never lowered


def test_deployment_annotations_are_copied_except_the_controllers_own() -> None:
    d = deployment()
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "x", u.REVISION: "9", u.LAST_APPLIED: "{}"}
    rs = replicaset(d, "nginx:1.25", 3)
    u.copy_deployment_annotations(d, rs)
    ann = rs["metadata"]["annotations"]
    assert ann["kubernetes.io/change-cause"] == "x" and ann[u.REVISION] == "1" and u.LAST_APPLIED not in ann


# ------------------------------------------------------------------------------------------- a rolling update

def test_a_new_deployment_creates_its_first_replicaset() -> None:
    d = deployment()
    plan = sync_deployment(d, [], {}, NOW)
    h = hashing.compute_hash(d["spec"]["template"])
    name = f"web-{h}"
    create = plan.actions[0]
    assert isinstance(create, Create) and plan.created is create and create.resource == REPLICASETS
    body = create.body
    assert body["metadata"]["name"] == name and body["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "d-uid"
    assert body["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": h}}
    assert body["spec"]["replicas"] == 3
    assert body["metadata"]["annotations"] == {u.REVISION: "1", u.DESIRED_REPLICAS: "3", u.MAX_REPLICAS: "4"}
    assert events(plan.actions) == [f"Scaled up replica set {name} from 0 to 3"]
    assert writes(plan.actions)[1:] == [("Update", "web", None), ("Update", "web", "status"),
                                        ("Update", "web", "status")]
    annotated = plan.actions[2]
    assert isinstance(annotated, Update) and annotated.body["metadata"]["annotations"] == {u.REVISION: "1"}
    status = last_status(plan.actions)
    assert status["observedGeneration"] == 1 and "replicas" not in status  # nothing created yet
    p = cond(status, "Progressing")
    assert (p["status"], p["reason"], p["message"]) == ("True", "NewReplicaSetCreated",
                                                       f'Created new replica set "{name}"')
    a = cond(status, "Available")
    assert (a["status"], a["reason"], a["message"]) == ("False", "MinimumReplicasUnavailable",
                                                       "Deployment does not have minimum availability.")


def test_a_template_change_surges_one_new_pod_first() -> None:
    d = deployment(image="nginx:1.26")
    d["metadata"]["annotations"] = {u.REVISION: "1"}
    old = replicaset(d, "nginx:1.25", 3)
    plan = sync_deployment(d, [old], {}, NOW)
    create = plan.actions[0]
    assert isinstance(create, Create) and create.body["spec"]["replicas"] == 1  # 3 + ceil(25% of 3) = 4 pods max
    assert create.body["metadata"]["annotations"][u.REVISION] == "2"
    assert events(plan.actions) == [f"Scaled up replica set {create.body['metadata']['name']} from 0 to 1"]
    assert not any(isinstance(a, Update) and a.resource == REPLICASETS for a in plan.actions)  # old untouched


def test_old_pods_go_once_new_ones_are_available() -> None:
    d = deployment(image="nginx:1.26")
    d["metadata"]["annotations"] = {u.REVISION: "2"}
    old = replicaset(d, "nginx:1.25", 3, revision=1, age=1000)
    new = replicaset(d, "nginx:1.26", 1, revision=2, age=10)
    plan = sync_deployment(d, [old, new], {}, NOW)
    assert events(plan.actions) == [f"Scaled down replica set {old['metadata']['name']} from 3 to 2"]
    scaled = [a for a in plan.actions if isinstance(a, Update) and a.resource == REPLICASETS]
    assert scaled[0].body["spec"]["replicas"] == 2


def test_no_scale_down_while_the_new_pods_are_unavailable() -> None:
    d = deployment(image="nginx:1.26")
    old = replicaset(d, "nginx:1.25", 3, revision=1)
    new = replicaset(d, "nginx:1.26", 1, available=0, revision=2, age=10)
    plan = sync_deployment(d, [old, new], {}, NOW)
    assert events(plan.actions) == []


def test_unhealthy_old_pods_are_cleaned_up_first() -> None:
    d = deployment(image="nginx:1.26")
    old = replicaset(d, "nginx:1.25", 3, available=1, revision=1)
    new = replicaset(d, "nginx:1.26", 1, available=0, revision=2, age=10)
    plan = sync_deployment(d, [old, new], {}, NOW)
    # 4 pods, min available 3, one new pod unavailable: nothing may go... except unhealthy old pods
    assert events(plan.actions) == []
    d2 = deployment(image="nginx:1.26", strategy={"type": "RollingUpdate",
                                                  "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    old2 = replicaset(d2, "nginx:1.25", 3, available=1, revision=1)
    new2 = replicaset(d2, "nginx:1.26", 1, available=0, revision=2, age=10)
    plan2 = sync_deployment(d2, [old2, new2], {}, NOW)
    assert events(plan2.actions) == [f"Scaled down replica set {old2['metadata']['name']} from 3 to 2"]


def test_completion_reports_new_replicaset_available_and_cleans_up_history() -> None:
    d = deployment(image="nginx:1.26", revisionHistoryLimit=0)
    d["metadata"]["annotations"] = {u.REVISION: "2"}
    d["status"] = {"observedGeneration": 1, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3,
                   "conditions": [u.new_condition("Progressing", "True", u.REPLICASET_UPDATED, "x", NOW)]}
    old = replicaset(d, "nginx:1.25", 0, revision=1)
    old["status"] = {"replicas": 0, "observedGeneration": 1}
    new = replicaset(d, "nginx:1.26", 3, revision=2, age=10)
    plan = sync_deployment(d, [old, new], {}, NOW)
    # the status first says complete; the deletion comes in the sync that sees a complete status
    status = last_status(plan.actions)
    p = cond(status, "Progressing")
    assert (p["reason"], p["message"]) == ("NewReplicaSetAvailable",
                                           f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.')
    d["status"] = status
    plan = sync_deployment(d, [old, new], {}, NOW)
    assert [a for a in plan.actions if isinstance(a, Delete)] == [Delete(REPLICASETS, "ns", old["metadata"]["name"])]


def test_history_cleanup_spares_sets_with_pods_or_unobserved_generations() -> None:
    d = deployment(image="nginx:1.26", revisionHistoryLimit=0)
    busy = replicaset(d, "nginx:1.23", 0, revision=1)
    busy["status"]["replicas"] = 1
    unobserved = replicaset(d, "nginx:1.24", 0, revision=2)
    unobserved["metadata"]["generation"] = 2
    unobserved["status"] = {"observedGeneration": 1}
    new = replicaset(d, "nginx:1.26", 3, revision=3, age=10)
    d["status"] = {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
    plan = sync_deployment(d, [busy, unobserved, new], {}, NOW)
    assert not any(isinstance(a, Delete) for a in plan.actions)


# ------------------------------------------------------------------------------------------- scaling events

def test_proportional_scaling_during_a_rollout() -> None:
    d = deployment(10)  # scaled from 6 (max 8) to 10 (max 13) in the middle of a rollout
    d["status"] = {"replicas": 8}
    new = replicaset(d, "nginx:1.25", 4, revision=2, age=10, desired=6, maximum=8)
    old = replicaset(d, "nginx:1.24", 4, revision=1, age=1000, desired=6, maximum=8)
    plan = sync_deployment(d, [old, new], {}, NOW)
    assert events(plan.actions) == [f"Scaled up replica set {new['metadata']['name']} from 4 to 7",
                                    f"Scaled up replica set {old['metadata']['name']} from 4 to 6"]
    for a in plan.actions:
        if isinstance(a, Update) and a.resource == REPLICASETS:
            assert a.body["metadata"]["annotations"][u.DESIRED_REPLICAS] == "10"
            assert a.body["metadata"]["annotations"][u.MAX_REPLICAS] == "13"


def test_proportional_scale_down_takes_from_the_larger_and_older_first() -> None:
    d = deployment(2)
    d["status"] = {"replicas": 8}
    new = replicaset(d, "nginx:1.25", 4, revision=2, age=10, desired=6, maximum=8)
    old = replicaset(d, "nginx:1.24", 4, revision=1, age=1000, desired=6, maximum=8)
    plan = sync_deployment(d, [old, new], {}, NOW)
    # allowed 2 + ceil(0.5) = 3: each share round(4*3/8)-4 = -2 (old first), leftover -1 on the first (old)
    assert events(plan.actions) == [f"Scaled down replica set {old['metadata']['name']} from 4 to 1",
                                    f"Scaled down replica set {new['metadata']['name']} from 4 to 2"]


def test_a_single_active_set_is_scaled_to_the_full_size() -> None:
    d = deployment(5)
    rs = replicaset(d, "nginx:1.25", 3, desired=3, maximum=4)
    plan = sync_deployment(d, [rs], {}, NOW)
    assert events(plan.actions) == [f"Scaled up replica set {rs['metadata']['name']} from 3 to 5"]


# ------------------------------------------------------------------------------------------- pause, deadline

def test_pausing_records_the_condition_and_stops_the_rollout() -> None:
    d = deployment(image="nginx:1.26", paused=True)
    old = replicaset(d, "nginx:1.25", 3)
    plan = sync_deployment(d, [old], {}, NOW)
    assert not any(isinstance(a, Create) for a in plan.actions)
    p = cond(last_status(plan.actions), "Progressing")
    assert (p["status"], p["reason"], p["message"]) == ("Unknown", "DeploymentPaused", "Deployment is paused")
    d["status"] = last_status(plan.actions)
    d["spec"]["paused"] = False
    plan = sync_deployment(d, [old], {}, NOW)
    first_status = next(a for a in plan.actions if isinstance(a, Update) and a.subresource == "status")
    p = cond(first_status.body["status"], "Progressing")
    assert (p["status"], p["reason"], p["message"]) == ("Unknown", "DeploymentResumed", "Deployment is resumed")
    assert any(isinstance(a, Create) for a in plan.actions)


def stuck(last_update_ago: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    d = deployment(image="nginx:1.26")
    d["metadata"]["annotations"] = {u.REVISION: "2"}
    old = replicaset(d, "nginx:1.25", 3, revision=1)
    new = replicaset(d, "nginx:1.26", 1, available=0, revision=2, age=10)
    progressing = u.new_condition("Progressing", "True", u.REPLICASET_UPDATED,
                                  f'ReplicaSet "{new["metadata"]["name"]}" is progressing.',
                                  NOW - timedelta(seconds=last_update_ago))
    available = u.new_condition("Available", "True", u.MIN_AVAILABLE, "Deployment has minimum availability.",
                                NOW - timedelta(seconds=5000))
    d["status"] = {"observedGeneration": 1, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3,
                   "availableReplicas": 3, "unavailableReplicas": 1, "conditions": [available, progressing]}
    return d, [old, new]


def test_no_progress_past_the_deadline_is_progress_deadline_exceeded() -> None:
    d, rss = stuck(601)
    plan = sync_deployment(d, rss, {}, NOW)
    p = cond(last_status(plan.actions), "Progressing")
    assert (p["status"], p["reason"], p["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rss[1]["metadata"]["name"]}" has timed out progressing.')
    assert p["lastTransitionTime"] == "2026-12-01T12:00:00Z"


def test_a_stuck_rollout_is_looked_at_again_when_its_deadline_passes() -> None:
    d, rss = stuck(100)
    plan = sync_deployment(d, rss, {}, NOW)
    assert not any(isinstance(a, Update) for a in plan.actions)
    assert plan.requeue_after == 501.0  # 600 - 100, plus a second against clock skew


def test_progress_refreshes_last_update_time_but_keeps_the_transition_time() -> None:
    d, rss = stuck(100)
    rss[1]["status"]["availableReplicas"] = 1
    plan = sync_deployment(d, rss, {}, NOW)
    p = cond(last_status(plan.actions), "Progressing")
    assert p["lastUpdateTime"] == "2026-12-01T12:00:00Z" and p["lastTransitionTime"] == ts(100)


def test_replica_failure_of_the_new_set_is_surfaced() -> None:
    d, rss = stuck(10)
    rss[1]["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                       "message": "quota", "lastTransitionTime": ts(3)}]
    plan = sync_deployment(d, rss, {}, NOW)
    f = cond(last_status(plan.actions), "ReplicaFailure")
    assert (f["reason"], f["message"], f["lastUpdateTime"]) == ("FailedCreate", "quota", ts(3))


# ------------------------------------------------------------------------------------------- Recreate

def test_recreate_scales_old_sets_down_before_creating_the_new_one() -> None:
    d = deployment(image="nginx:1.26", strategy={"type": "Recreate"})
    old = replicaset(d, "nginx:1.25", 3)
    plan = sync_deployment(d, [old], {}, NOW)
    assert events(plan.actions) == [f"Scaled down replica set {old['metadata']['name']} from 3 to 0"]
    assert not any(isinstance(a, Create) for a in plan.actions)
    old["spec"]["replicas"] = 0
    running = {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
    plan = sync_deployment(d, [old], {old["metadata"]["uid"]: [running]}, NOW)
    assert not any(isinstance(a, Create) for a in plan.actions)  # old pods still running
    old["status"]["replicas"] = 0
    done = {"metadata": {"name": "p"}, "status": {"phase": "Succeeded"}}
    plan = sync_deployment(d, [old], {old["metadata"]["uid"]: [done]}, NOW)
    [create] = [a for a in plan.actions if isinstance(a, Create)]
    assert create.body["spec"]["replicas"] == 3


# ------------------------------------------------------------------------------------------- odd cases

def test_an_empty_selector_selects_all_and_is_refused_with_an_event() -> None:
    d = deployment(selector={})
    d["metadata"]["generation"] = 2
    plan = sync_deployment(d, [], {}, NOW)
    assert events(plan.actions) == ["This deployment is selecting all pods. A non-empty selector is required."]
    assert last_status(plan.actions) == {"observedGeneration": 2}


def test_a_deployment_being_deleted_only_gets_its_status() -> None:
    d = deployment(image="nginx:1.26")
    d["metadata"]["deletionTimestamp"] = ts(1)
    plan = sync_deployment(d, [replicaset(d, "nginx:1.25", 3)], {}, NOW)
    assert [type(a) for a in plan.actions] == [Update] and last_status(plan.actions)["replicas"] == 3


def test_a_collision_bumps_collision_count_and_our_own_set_is_left_alone() -> None:
    d = deployment()
    ours = replicaset(d, "nginx:1.25", 3)
    assert create_collided(d, ours) == []
    foreign = copy.deepcopy(ours)
    foreign["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    [update] = create_collided(d, foreign)
    assert isinstance(update, Update) and update.subresource == "status"
    assert update.body["status"]["collisionCount"] == 1
    d["status"]["collisionCount"] = 1
    plan = sync_deployment(d, [], {}, NOW)
    assert isinstance(plan.actions[0], Create)
    assert plan.actions[0].body["metadata"]["name"] == f"web-{hashing.compute_hash(d['spec']['template'], 1)}"


def test_a_refused_creation_reports_replicaset_create_error() -> None:
    d = deployment()
    msg = 'replicasets.apps "web-x" is forbidden: exceeded quota'
    status_update, event = create_failed(d, "web-x", msg, NOW)
    assert isinstance(status_update, Update) and status_update.resource == DEPLOYMENTS
    p = cond(status_update.body["status"], "Progressing")
    assert (p["status"], p["reason"], p["message"]) == ("False", "ReplicaSetCreateError",
                                                       f'Failed to create new replica set "web-x": {msg}')
    assert isinstance(event, Event) and (event.type, event.reason) == ("Warning", "ReplicaSetCreateError")


def test_claim_adopts_orphans_and_releases_sets_that_stopped_matching() -> None:
    d = deployment()
    orphan = replicaset(d, "nginx:1.25", 1)
    orphan["metadata"].pop("ownerReferences")
    strayed = replicaset(d, "nginx:1.24", 1)
    strayed["metadata"]["labels"] = {"app": "other"}
    foreign = replicaset(d, "nginx:1.23", 1)
    foreign["metadata"]["ownerReferences"][0]["uid"] = "other"
    claim = claim_replicasets(d, [orphan, strayed, foreign])
    assert [rs["metadata"]["name"] for rs in claim.replicasets] == [orphan["metadata"]["name"]]
    adopt, release = claim.actions
    assert isinstance(adopt, Patch) and adopt.patch["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert isinstance(release, Patch) and release.patch["metadata"]["ownerReferences"] == [
        {"$patch": "delete", "uid": "d-uid"}]


def test_without_surge_the_old_set_shrinks_first() -> None:
    d = deployment(image="nginx:1.26", strategy={"type": "RollingUpdate",
                                                 "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    old = replicaset(d, "nginx:1.25", 3)
    plan = sync_deployment(d, [old], {}, NOW)
    create = plan.actions[0]
    assert isinstance(create, Create) and create.body["spec"]["replicas"] == 0
    assert create.body["metadata"]["annotations"][u.MAX_REPLICAS] == "3"
    # no "Scaled up ... from 0 to 0": only the old set's step down
    assert events(plan.actions) == [f"Scaled down replica set {old['metadata']['name']} from 3 to 2"]
