"""The status subresource resets what kube-apiserver 1.32's *StatusStrategy.PrepareForUpdate resets, keeps the rest."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apiserver.registry import meta
from apiserver.registry.strategies import strategy_for

OLD_MD = {"name": "x", "namespace": "ns", "uid": "u1", "resourceVersion": "5", "generation": 3,
          "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "a"}, "annotations": {"k": "v"},
          "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "o1"}]}


def status_write(plural: str, group: str, old: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What the store does with a PUT to <plural>/status: the strategy, then before_update."""
    strategy = strategy_for(plural, group)
    new = copy.deepcopy(body)
    strategy.prepare_for_status_update(new, copy.deepcopy(old))
    meta.before_update(new, old, tracks_generation=strategy.tracks_generation)
    return new


def changed_body(old: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(old)
    md = body["metadata"]
    md.update(labels={"app": "b"}, annotations={"deployment.kubernetes.io/revision": "2"}, uid="other",
              ownerReferences=[], finalizers=["f"], generation=99)
    body["spec"] = {"changed": True}
    body["status"] = {"observed": 1}
    return body


# (plural, group, metadata fields a status write may not change besides uid/generation/creationTimestamp)
KINDS = [
    ("deployments", "apps", {"labels"}),
    ("replicasets", "apps", set()),
    ("statefulsets", "apps", set()),
    ("daemonsets", "apps", set()),
    ("replicationcontrollers", "", set()),
    ("jobs", "batch", set()),
    ("cronjobs", "batch", set()),
    ("pods", "", {"ownerReferences"}),
    ("nodes", "", set()),
    ("namespaces", "", set()),
    ("services", "", set()),
    ("persistentvolumeclaims", "", set()),
    ("resourcequotas", "", set()),
]


@pytest.mark.parametrize("plural,group,kept", KINDS, ids=[k[0] for k in KINDS])
def test_status_write_resets_spec_and_only_what_kube_resets(plural: str, group: str, kept: set[str]) -> None:
    old = {"metadata": dict(OLD_MD), "spec": {"orig": True}, "status": {}}
    new = status_write(plural, group, old, changed_body(old))
    md = new["metadata"]
    assert new["spec"] == {"orig": True}
    assert new["status"] == {"observed": 1}
    assert md["uid"] == "u1" and md["creationTimestamp"] == OLD_MD["creationTimestamp"]
    assert md["annotations"] == {"deployment.kubernetes.io/revision": "2"}  # the Deployment controller relies on it
    assert md["finalizers"] == ["f"]
    assert md["labels"] == ({"app": "a"} if "labels" in kept else {"app": "b"})
    assert md["ownerReferences"] == (OLD_MD["ownerReferences"] if "ownerReferences" in kept else [])
    if strategy_for(plural, group).tracks_generation:
        assert md["generation"] == 3  # a status write never bumps (or sets) the generation


def test_pod_status_keeps_deletion_timestamp_and_backfills_qos_class() -> None:
    old = {"metadata": {**OLD_MD, "deletionTimestamp": "2026-01-02T00:00:00Z", "deletionGracePeriodSeconds": 30},
           "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"qosClass": "Burstable"}}
    body = copy.deepcopy(old)
    del body["metadata"]["deletionTimestamp"]
    body["status"] = {"phase": "Running", "resize": "Proposed", "resourceClaimStatuses": [{"name": "r"}],
                      "containerStatuses": [{"name": "c", "allocatedResources": {"cpu": "1"},
                                             "resources": {}, "ready": True}]}
    new = status_write("pods", "", old, body)
    assert new["metadata"]["deletionTimestamp"] == "2026-01-02T00:00:00Z"
    # qosClass is immutable; in-place resize (alpha) and DRA (beta, off) fields are dropped in 1.32
    assert new["status"] == {"phase": "Running", "qosClass": "Burstable", "containerStatuses": [
        {"name": "c", "ready": True}]}


def test_pod_status_keeps_resize_fields_when_the_pod_uses_resize_policy() -> None:
    old = {"metadata": dict(OLD_MD), "spec": {"containers": [{"name": "c", "resizePolicy": [
        {"resourceName": "cpu", "restartPolicy": "NotRequired"}]}], "resourceClaims": [{"name": "r"}]}}
    body = {**copy.deepcopy(old), "status": {"resize": "Proposed", "resourceClaimStatuses": [{"name": "r"}]}}
    assert status_write("pods", "", old, body)["status"] == body["status"]


def test_node_status_config_only_where_already_set() -> None:
    old = {"metadata": {"name": "n", "uid": "u"}, "spec": {"podCIDR": "10.0.0.0/24"}, "status": {}}
    body = {**copy.deepcopy(old), "spec": {}, "status": {"config": {"active": {}}, "phase": "Running"}}
    assert status_write("nodes", "", old, body)["status"] == {"phase": "Running"}
    old["status"] = {"config": {}}
    assert status_write("nodes", "", old, body)["status"]["config"] == {"active": {}}


def created(plural: str, group: str, obj: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(obj)
    strategy_for(plural, group).prepare_for_create(new)
    return new


def test_node_keeps_its_status_on_create_but_not_the_removed_kubelet_config() -> None:
    status = {"capacity": {"cpu": "2"}, "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
              "conditions": [{"type": "Ready", "status": "True"}], "runtimeHandlers": [{"name": "runc"}]}
    node = {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.1.0.0/24", "configSource": {"configMap": {}}},
            "status": {**status, "config": {"active": {}}}}
    assert created("nodes", "", node) == {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.1.0.0/24"},
                                          "status": status}


# kube-apiserver 1.32's PrepareForCreate empties status; the zeroed Go struct keeps the fields without omitempty
CREATED_STATUS = [
    ("deployments", "apps", {}),
    ("replicasets", "apps", {"replicas": 0}),
    ("statefulsets", "apps", {"replicas": 0, "availableReplicas": 0}),
    ("daemonsets", "apps", {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                            "numberReady": 0}),
    ("replicationcontrollers", "", {"replicas": 0}),
    ("jobs", "batch", {}),
    ("cronjobs", "batch", {}),
    ("resourcequotas", "", {}),
    ("services", "", {"loadBalancer": {}}),
    ("namespaces", "", {"phase": "Active"}),
    ("persistentvolumeclaims", "", {"phase": "Pending"}),
]


@pytest.mark.parametrize("plural,group,status", CREATED_STATUS, ids=[k[0] for k in CREATED_STATUS])
def test_create_drops_the_requested_status(plural: str, group: str, status: dict[str, Any]) -> None:
    obj = {"metadata": {"name": "x", "namespace": "ns"}, "spec": {}, "status": {"replicas": 3, "hard": {"pods": "1"}}}
    assert created(plural, group, obj)["status"] == status


def test_pvc_status_drops_volume_attributes_class_fields() -> None:
    old = {"metadata": dict(OLD_MD), "spec": {}, "status": {"phase": "Pending"}}
    body = {**copy.deepcopy(old), "status": {"phase": "Bound", "currentVolumeAttributesClassName": "g",
                                             "modifyVolumeStatus": {}, "allocatedResources": {"storage": "1Gi"}}}
    assert status_write("persistentvolumeclaims", "", old, body)["status"] == {
        "phase": "Bound", "allocatedResources": {"storage": "1Gi"}}


def job(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": dict(OLD_MD), "spec": spec, "status": status}


def messages(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in strategy_for("jobs", "batch").validate_status_update(new, old)]


T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"
COMPLETE = {"type": "Complete", "status": "True"}
FAILED = {"type": "Failed", "status": "True"}


def test_job_status_transitions_as_1_32() -> None:
    running = job({"startTime": T0, "active": 1, "failed": 2, "succeeded": 1})
    done = job({"startTime": T0, "completionTime": T1, "succeeded": 2, "failed": 2, "conditions": [COMPLETE]})
    assert messages(done, running) == []
    assert messages(job({"startTime": T0, "failed": 1, "succeeded": 1}), running) == [
        "status.failed: Invalid value: 1: cannot decrease the failed counter"]
    assert messages(job({"startTime": T0, "failed": 2, "succeeded": 0}), running) == [
        "status.succeeded: Invalid value: 0: cannot decrease the succeeded counter"]
    # an elastic Indexed Job (completions == parallelism) may scale its succeeded count down
    assert messages(job({"startTime": T0, "failed": 2}, completionMode="Indexed", completions=1, parallelism=1),
                    running) == []
    assert messages(job({"startTime": T0, "failed": 2, "succeeded": 1, "active": 1, "conditions": [COMPLETE]}),
                    running) == ["status.completionTime: Required value: completionTime is required for Complete jobs",
                                 "status.active: Invalid value: 1: active>0 is invalid for finished job"]
    assert messages(job({"failed": 2, "succeeded": 1, "completionTime": T1}), running) == [
        'status.completionTime: Invalid value: "2026-01-01T00:01:00Z": cannot set completionTime when there is '
        'no Complete=True condition', "status.startTime: Required value: startTime cannot be removed for "
        "unsuspended job"]
    assert messages(job({"startTime": T1, "completionTime": T0, "succeeded": 2, "failed": 2,
                         "conditions": [COMPLETE, FAILED]}), running) == [
        "status.conditions: Invalid value: cannot set Complete=True and Failed=true conditions",
        'status.completionTime: Invalid value: "2026-01-01T00:00:00Z": completionTime cannot be set before startTime',
        'status.startTime: Required value: startTime cannot be removed for unsuspended job']
    assert messages(job({"startTime": T0, "completionTime": T1, "succeeded": 2, "failed": 2}), done) == [
        "status.completionTime: Invalid value: \"2026-01-01T00:01:00Z\": cannot set completionTime when there is "
        "no Complete=True condition",
        "status.conditions: Invalid value: cannot disable the terminal Complete=True condition"]
    assert messages(job({"startTime": T0, "completionTime": T0, "succeeded": 2, "failed": 2,
                         "conditions": [COMPLETE]}), done) == [
        'status.completionTime: Invalid value: "2026-01-01T00:00:00Z": completionTime cannot be mutated']
    assert messages(job({"startTime": T0, "active": -1}), job({"startTime": T0})) == [
        "status.active: Invalid value: -1: must be greater than or equal to 0"]


@pytest.fixture(scope="module")
def server() -> Any:
    import shutil
    import tempfile

    from tests.apiserver.fixtures import apiserver, etcd
    if not shutil.which("etcd"):
        pytest.skip("needs etcd")
    tmp = tempfile.mkdtemp(prefix="status-strategies-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as srv:
            yield srv
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def call(srv: Any, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    import http.client
    import json
    host, port = srv.url.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=srv.ssl_context(), timeout=30)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.e2e
def test_deployment_status_write_keeps_annotations_and_jobs_status_checks_transitions(server: Any) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "a"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "a"}}, "template": {
                  "metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    code, created = call(server, "POST", base, deploy)
    assert code == 201
    body = copy.deepcopy(created)
    body["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    body["metadata"]["labels"] = {"app": "changed"}
    body["spec"]["replicas"] = 5
    body["status"] = {"observedGeneration": 1, "replicas": 1}
    code, got = call(server, "PUT", f"{base}/web/status", body)
    assert code == 200, got
    assert got["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert got["metadata"]["labels"] == {"app": "a"} and got["spec"]["replicas"] == 1
    assert got["status"]["replicas"] == 1 and got["metadata"]["generation"] == 1

    jobs = "/apis/batch/v1/namespaces/default/jobs"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}
    code, created = call(server, "POST", jobs, job)
    assert code == 201, created
    created["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    code, refused = call(server, "PUT", f"{jobs}/j/status", created)
    assert code == 422 and refused["message"] == (
        'Job.batch "j" is invalid: [status.completionTime: Required value: completionTime is required for '
        "Complete jobs, status.startTime: Required value: startTime is required for finished job]"), refused
