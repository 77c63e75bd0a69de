"""The StatefulSet core against kube-controller-manager 1.32: ordinal identity, OrderedReady and Parallel, claims,
scale down, rolling update with partition, OnDelete and status, on fake times."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controllers import podcontrol as pc
from controllers.statefulset import reconcile as sr

pytestmark = pytest.mark.unit
Obj = dict[str, Any]
NOW = 5000.0


def sts(replicas: int = 3, **spec: Any) -> Obj:
    base: Obj = {"replicas": replicas, "serviceName": "web-svc", "podManagementPolicy": "OrderedReady",
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid", "generation": 1}, "spec": base,
            "status": {}}


class World:
    """Applies each sync's writes as the API server would; a test plays the kubelet."""

    def __init__(self, s: Obj) -> None:
        self.sts = s
        self.pods: dict[str, Obj] = {}
        self.claims: dict[str, Obj] = {}
        self.revisions: dict[str, Obj] = {}

    def sync(self) -> sr.Result:
        r = sr.sync(self.sts, list(self.pods.values()), list(self.claims.values()), list(self.revisions.values()),
                    NOW)
        for rev in r.revisions:
            self.revisions[rev.body["metadata"]["name"]] = copy.deepcopy(rev.body)
        for d in r.deletes:
            self.pods[d.name]["metadata"]["deletionTimestamp"] = pc.rfc3339(NOW)
        for c in r.claims:
            self.claims[c.body["metadata"]["name"]] = copy.deepcopy(c.body)
        for c in r.creates:
            pod = copy.deepcopy(c.body)
            pod["metadata"]["uid"] = "u-" + pod["metadata"]["name"]
            pod["status"] = {"phase": "Pending"}
            self.pods[pod["metadata"]["name"]] = pod
        if r.status is not None:
            self.sts = {**self.sts, "status": r.status}
        return r

    def ready(self, *names: str) -> None:
        for n in names:
            self.pods[n]["status"] = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": pc.rfc3339(0)}]}

    def gone(self) -> None:
        for n in [n for n, p in self.pods.items() if p["metadata"].get("deletionTimestamp")]:
            del self.pods[n]

    def names(self) -> list[str]:
        return sorted(self.pods)


def created(r: sr.Result) -> list[str]:
    return [c.body["metadata"]["name"] for c in r.creates]


def test_ordered_ready_creates_one_pod_at_a_time_with_identity() -> None:
    w = World(sts())
    assert created(w.sync()) == ["web-0"]
    pod = w.pods["web-0"]
    assert pod["metadata"]["labels"][sr.POD_NAME_LABEL] == "web-0"
    assert pod["metadata"]["labels"][sr.POD_INDEX_LABEL] == "0"
    assert pod["metadata"]["labels"]["controller-revision-hash"] == w.sts["status"]["updateRevision"]
    assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "web-svc"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert "generateName" not in pod["metadata"]
    assert created(w.sync()) == []  # web-0 not Running and Ready yet
    w.ready("web-0")
    assert created(w.sync()) == ["web-1"]
    w.ready("web-1")
    assert created(w.sync()) == ["web-2"]
    w.ready("web-2")
    w.sync()
    st = w.sts["status"]
    assert (st["replicas"], st["readyReplicas"], st["currentReplicas"], st["updatedReplicas"],
            st["availableReplicas"]) == (3, 3, 3, 3, 3)
    assert st["currentRevision"] == st["updateRevision"] and st["collisionCount"] == 0


def test_parallel_creates_all_at_once_and_scales_down_at_once() -> None:
    w = World(sts(podManagementPolicy="Parallel"))
    assert created(w.sync()) == ["web-0", "web-1", "web-2"]
    w.sts["spec"]["replicas"] = 1
    assert sorted(d.name for d in w.sync().deletes) == ["web-1", "web-2"]


def test_scale_down_is_reverse_ordinal_one_at_a_time() -> None:
    w = World(sts())
    for n in range(3):
        w.sync()
        w.ready(f"web-{n}")
    w.sts["spec"]["replicas"] = 1
    r = w.sync()
    assert [d.name for d in r.deletes] == ["web-2"]
    assert w.sync().deletes == []  # web-2 still terminating
    w.gone()
    assert [d.name for d in w.sync().deletes] == ["web-1"]


def test_claims_from_templates_come_before_the_pod_and_are_kept() -> None:
    tpl = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "1Gi"}}}}
    w = World(sts(replicas=1, volumeClaimTemplates=[tpl]))
    r = w.sync()
    (claim,) = r.claims
    assert claim.body["metadata"]["name"] == "data-web-0"
    assert claim.body["metadata"]["labels"] == {"app": "web"} and "ownerReferences" not in claim.body["metadata"]
    assert w.pods["web-0"]["spec"]["volumes"] == [{"name": "data",
                                                   "persistentVolumeClaim": {"claimName": "data-web-0"}}]
    w.pods["web-0"]["status"] = {"phase": "Failed"}
    w.sync()
    w.gone()
    assert w.sync().claims == []  # the claim survives the pod and is reused


def test_failed_pod_is_deleted_and_recreated() -> None:
    w = World(sts(replicas=1))
    w.sync()
    w.pods["web-0"]["status"] = {"phase": "Failed"}
    r = w.sync()
    assert [d.name for d in r.deletes] == ["web-0"]
    assert [(e.type, e.reason, e.message) for e in r.events] == [
        ("Warning", "RecreatingFailedPod", "StatefulSet ns/web is recreating failed Pod web-0")]
    w.gone()
    assert created(w.sync()) == ["web-0"]


def test_rolling_update_goes_from_the_highest_ordinal_and_stops_at_the_partition() -> None:
    w = World(sts())
    for n in range(3):
        w.sync()
        w.ready(f"web-{n}")
    w.sync()
    old = w.sts["status"]["updateRevision"]
    w.sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    w.sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2
    assert [d.name for d in w.sync().deletes] == ["web-2"]
    new = w.sts["status"]["updateRevision"]
    assert new != old and w.sts["status"]["currentRevision"] == old
    w.gone()
    assert created(w.sync()) == ["web-2"]
    assert w.pods["web-2"]["metadata"]["labels"]["controller-revision-hash"] == new
    assert w.pods["web-2"]["spec"]["containers"][0]["image"] == "nginx:2"
    w.ready("web-2")
    r = w.sync()
    assert r.deletes == []  # web-0 and web-1 are below the partition
    st = w.sts["status"]
    assert (st["currentReplicas"], st["updatedReplicas"], st["currentRevision"]) == (2, 1, old)
    # a pod below the partition that is deleted comes back at the current revision
    w.pods["web-0"]["metadata"]["deletionTimestamp"] = pc.rfc3339(NOW)
    w.gone()
    w.sync()
    assert w.pods["web-0"]["spec"]["containers"][0]["image"] == "nginx:1"
    assert w.pods["web-0"]["metadata"]["labels"]["controller-revision-hash"] == old


def test_on_delete_leaves_old_pods_alone() -> None:
    w = World(sts(replicas=1, updateStrategy={"type": "OnDelete"}))
    w.sync()
    w.ready("web-0")
    w.sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert w.sync().deletes == []
    w.pods["web-0"]["metadata"]["deletionTimestamp"] = pc.rfc3339(NOW)
    w.gone()
    w.sync()
    assert w.pods["web-0"]["spec"]["containers"][0]["image"] == "nginx:2"


def test_unhealthy_pod_blocks_ordered_scale_down() -> None:
    w = World(sts(replicas=2))
    w.sync()
    w.ready("web-0")
    w.sync()
    w.sts["spec"]["replicas"] = 1
    w.pods["web-0"]["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
    assert w.sync().deletes == []


def test_pods_not_named_after_the_set_are_ignored() -> None:
    w = World(sts(replicas=1))
    w.sync()
    stray = copy.deepcopy(w.pods["web-0"])
    stray["metadata"]["name"] = "other-7"
    w.pods["other-7"] = stray
    w.ready("web-0")
    assert w.sync().deletes == []


def test_start_ordinal() -> None:
    w = World(sts(replicas=2, ordinals={"start": 5}))
    assert created(w.sync()) == ["web-5"]


def test_min_ready_seconds_holds_the_next_pod_until_the_last_is_available() -> None:
    w = World(sts(replicas=2, minReadySeconds=30))
    w.sync()
    w.ready("web-0")
    w.pods["web-0"]["status"]["conditions"][0]["lastTransitionTime"] = pc.rfc3339(NOW - 10)
    r = w.sync()
    assert created(r) == [] and r.requeue_after == 30
    w.pods["web-0"]["status"]["conditions"][0]["lastTransitionTime"] = pc.rfc3339(NOW - 31)
    assert created(w.sync()) == ["web-1"]


def test_history_beyond_the_limit_is_truncated_keeping_live_revisions() -> None:
    w = World(sts(replicas=1, revisionHistoryLimit=1))
    for image in ("nginx:1", "nginx:2", "nginx:3", "nginx:4"):
        w.sts["spec"]["template"]["spec"]["containers"][0]["image"] = image
        w.sync()
    r = w.sync()
    live = {w.sts["status"]["updateRevision"], w.sts["status"]["currentRevision"],
            w.pods["web-0"]["metadata"]["labels"]["controller-revision-hash"]}
    doomed = {d.name for d in r.revision_deletes}
    assert doomed and not doomed & live and len(w.revisions) - len(doomed) == len(live) + 1


TEMPLATE = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}}


def test_retention_when_deleted_delete_makes_the_set_own_its_claims() -> None:
    w = World(sts(replicas=1, volumeClaimTemplates=[TEMPLATE],
                  persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"}))
    (claim,) = w.sync().claims
    assert claim.body["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "sts-uid", "controller": True,
        "blockOwnerDeletion": True}]
    assert w.sync().claim_patches == []


def test_retention_when_scaled_delete_hands_a_condemned_pods_claim_to_the_pod() -> None:
    w = World(sts(replicas=2, volumeClaimTemplates=[TEMPLATE],
                  persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"}))
    w.sync()
    w.ready("web-0")
    w.sync()
    w.ready("web-1")
    assert "ownerReferences" not in w.claims["data-web-1"]["metadata"]
    w.sts["spec"]["replicas"] = 1
    r = w.sync()
    (patch,) = r.claim_patches
    assert patch.name == "data-web-1"
    assert patch.patch["metadata"]["ownerReferences"] == [{
        "apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "u-web-1", "controller": True,
        "blockOwnerDeletion": True}]
    assert [d.name for d in r.deletes] == ["web-1"]


def test_retain_policy_never_touches_claim_owners() -> None:
    w = World(sts(replicas=1, volumeClaimTemplates=[TEMPLATE]))
    w.sync()
    w.claims["data-web-0"]["metadata"]["ownerReferences"] = [{"kind": "Thing", "name": "x", "uid": "t"}]
    assert w.sync().claim_patches == []


def test_a_live_pod_gets_its_identity_labels_and_a_lost_claim_back() -> None:
    w = World(sts(replicas=1, volumeClaimTemplates=[TEMPLATE]))
    w.sync()
    w.ready("web-0")
    del w.pods["web-0"]["metadata"]["labels"][sr.POD_INDEX_LABEL]
    del w.claims["data-web-0"]
    r = w.sync()
    assert [(p.name, p.patch) for p in r.pod_updates] == [
        ("web-0", {"metadata": {"labels": {sr.POD_NAME_LABEL: "web-0", sr.POD_INDEX_LABEL: "0"}}})]
    assert [c.body["metadata"]["name"] for c in r.claims] == ["data-web-0"]
    assert sr.claim_pod(w.sts, r.claims[0].body) == "web-0"
