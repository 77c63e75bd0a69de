"""The workload strategies and tables added for issue #6 (StatefulSet, DaemonSet, Job, CronJob, RC, PVC,
events.k8s.io), driven as pure functions."""

from __future__ import annotations

import pytest

from apiserver.api import discovery, tables
from apiserver.registry.meta import rfc3339
from apiserver.registry.strategies import JOB_UID_LABELS, strategy_for

pytestmark = pytest.mark.unit


def template(labels: dict[str, str], restart: str | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels}, "spec": spec}


def test_job_selector_is_generated_from_uid_and_restart_always_is_refused():
    s = strategy_for("jobs", "batch")
    job = {"metadata": {"name": "j", "uid": "u-1"}, "spec": {"template": template({}, "Never")}}
    s.prepare_for_create(job)
    s.default(job)
    assert job["spec"]["selector"] == {"matchLabels": {JOB_UID_LABELS[0]: "u-1"}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "j"
    assert (job["spec"]["completions"], job["spec"]["backoffLimit"]) == (1, 6)
    assert s.validate(job) == []
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    [cause] = s.validate(job)
    assert (cause.field, cause.message) == ("spec.template.spec.restartPolicy",
                                            'Unsupported value: "Always": supported values: "OnFailure", "Never"')
    changed = {**job, "spec": {**job["spec"], "selector": {"matchLabels": {"x": "y"}}}}
    assert [c.field for c in s.validate_update(changed, job)] == ["spec.selector"]


def test_statefulset_and_daemonset_defaults_and_immutable_selector():
    sts = {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template({"a": "b"})}}
    strategy_for("statefulsets", "apps").default(sts)
    assert (sts["spec"]["replicas"], sts["spec"]["podManagementPolicy"]) == (1, "OrderedReady")
    assert strategy_for("statefulsets", "apps").validate(sts) == []
    ds = {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template({"a": "c"})}}
    strategy_for("daemonsets", "apps").default(ds)
    assert "replicas" not in ds["spec"]
    assert [c.field for c in strategy_for("daemonsets", "apps").validate(ds)] == ["spec.template.metadata.labels"]
    new = {"spec": {**sts["spec"], "selector": {"matchLabels": {"a": "z"}}}}
    [cause] = strategy_for("statefulsets", "apps").validate_update(new, sts)
    assert cause.field == "spec" and "updates to statefulset spec for fields other than" in cause.message


def test_replication_controller_selector_defaults_from_template():
    rc = {"metadata": {}, "spec": {"template": template({"app": "x"})}}
    s = strategy_for("replicationcontrollers")
    s.default(rc)
    assert rc["spec"]["selector"] == {"app": "x"} and rc["metadata"]["labels"] == {"app": "x"}
    assert s.validate(rc) == []


def test_pod_spec_is_immutable_except_image():
    s = strategy_for("pods")
    old = {"spec": {"containers": [{"name": "c", "image": "a"}], "nodeName": ""}}
    assert s.validate_update({"spec": {"containers": [{"name": "c", "image": "b"}], "nodeName": ""}}, old) == []
    [cause] = s.validate_update({"spec": {"containers": [{"name": "d", "image": "a"}], "nodeName": ""}}, old)
    assert cause.field == "spec" and cause.message.startswith("Forbidden: pod updates may not change fields")


def test_events_v1_round_trips_through_the_core_stored_form():
    s = strategy_for("events", "events.k8s.io")
    ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
          "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reason": "Started",
          "reportingController": "me", "eventTime": "2026-01-01T00:00:00.000000Z"}
    stored = s.to_storage(ev)
    assert (stored["apiVersion"], stored["involvedObject"], stored["message"]) == ("v1", {"kind": "Pod", "name": "p"},
                                                                                  "hello")
    assert "regarding" not in stored and s.from_storage(stored) == ev
    assert strategy_for("events") is not s


@pytest.mark.parametrize("plural,obj,header,row", [
    ("statefulsets", {"spec": {"replicas": 3}, "status": {"readyReplicas": 2}}, ["Name", "Ready", "Age"],
     ["s", "2/3", "10s"]),
    ("jobs", {"spec": {"completions": 2}, "status": {"succeeded": 2, "startTime": rfc3339(0),
                                                     "completionTime": rfc3339(4),
                                                     "conditions": [{"type": "Complete", "status": "True"}]}},
     ["Name", "Status", "Completions", "Duration", "Age"], ["s", "Complete", "2/2", "4s", "10s"]),
    ("cronjobs", {"spec": {"schedule": "*/5 * * * *", "suspend": False}},
     ["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"],
     ["s", "*/5 * * * *", "<none>", False, 0, "<none>", "10s"]),
    ("persistentvolumeclaims", {"spec": {"volumeMode": "Filesystem"}, "status": {
        "phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}},
     ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age"],
     ["s", "Bound", "", "1Gi", "RWO", "", "<unset>", "10s"]),
    ("endpoints", {"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}]}]},
     ["Name", "Endpoints", "Age"], ["s", "10.0.0.1:80,10.0.0.2:80", "10s"]),
    ("rolebindings", {"roleRef": {"kind": "ClusterRole", "name": "view"}}, ["Name", "Role", "Age"],
     ["s", "ClusterRole/view", "10s"]),
])
def test_tables_have_the_real_columns(plural, obj, header, row):
    obj = {**obj, "metadata": {"name": "s", "creationTimestamp": rfc3339(0)}}
    t = tables.to_table(plural, [obj], {"resourceVersion": "1"}, now=10)
    cols = [c for c in t["columnDefinitions"] if c["priority"] == 0]
    assert [c["name"] for c in cols] == header
    cells = [cell for cell, c in zip(t["rows"][0]["cells"], t["columnDefinitions"], strict=True) if c["priority"] == 0]
    assert cells == row


def test_pod_subresources_are_discoverable_with_their_kinds():
    core = {r["name"]: r for r in discovery.api_resource_list("", "v1")["resources"]}
    assert (core["pods/eviction"]["group"], core["pods/eviction"]["kind"]) == ("policy", "Eviction")
    assert core["pods/binding"]["kind"] == "Binding" and core["pods/log"]["verbs"] == ["get"]
    assert core["replicationcontrollers"]["shortNames"] == ["rc"]


@pytest.mark.parametrize("plural,group", [("deployments", "apps"), ("replicasets", "apps"),
                                          ("statefulsets", "apps"), ("daemonsets", "apps")])
def test_selector_not_matching_template_labels_is_kube_apiservers_message(plural, group):
    s = strategy_for(plural, group)
    obj = {"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template({"tier": "b", "app": "y"})}}
    s.default(obj)
    [cause] = [c for c in s.validate(obj) if c.field == "spec.template.metadata.labels"]
    assert cause.message == ('Invalid value: map[string]string{"app":"y", "tier":"b"}: '
                             '`selector` does not match template `labels`')
    del obj["spec"]["template"]["metadata"]["labels"]
    [cause] = [c for c in s.validate(obj) if c.field == "spec.template.metadata.labels"]
    assert cause.message.startswith("Invalid value: map[string]string(nil): ")
