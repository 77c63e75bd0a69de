"""Field ownership through the status subresource: entries with `subresource: status`, kept apart from the main
resource's (pure), and what `kubectl --show-managed-fields` shows after real status writes (e2e)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
import yaml

from apiserver import managedfields
from apiserver.errors import APIError
from tests.apiserver.fixtures import APIServer, apiserver, etcd

NOW = "2026-11-29T10:00:00Z"


def _pod() -> dict:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "a"}},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    managedfields.record_update(None, pod, "kubectl-create", "v1", NOW)
    pod["status"] = {"phase": "Pending"}  # set by the server (PrepareForCreate), owned by nobody
    return pod


def _by(obj: dict, manager: str, subresource: str = "") -> list[dict]:
    return [e for e in obj["metadata"]["managedFields"]
            if e["manager"] == manager and e.get("subresource", "") == subresource]


@pytest.mark.unit
def test_status_writes_are_recorded_under_subresource_status_and_own_only_status():
    old = _pod()
    new = json.loads(json.dumps(old))
    new["status"] = {"phase": "Running", "podIP": "10.0.0.5", "conditions": [{"type": "Ready", "status": "True"}]}
    managedfields.record_update(old, new, "kubelet", "v1", NOW, "status")
    [entry] = _by(new, "kubelet", "status")
    assert entry["operation"] == "Update" and entry["apiVersion"] == "v1"
    assert entry["fieldsV1"] == {"f:status": {"f:phase": {}, "f:podIP": {}, "f:conditions": {
        'k:{"type":"Ready"}': {".": {}, "f:type": {}, "f:status": {}}}}}  # conditions merge on their type
    [create] = _by(new, "kubectl-create")
    assert "f:spec" in create["fieldsV1"] and "f:status" not in create["fieldsV1"]


@pytest.mark.unit
def test_main_and_status_writers_keep_each_others_entries():
    pod = _pod()
    after_status = json.loads(json.dumps(pod))
    after_status["status"]["phase"] = "Running"
    managedfields.record_update(pod, after_status, "kubelet", "v1", NOW, "status")
    after_edit = json.loads(json.dumps(after_status))
    after_edit["spec"]["containers"][0]["image"] = "nginx:1.27"
    managedfields.record_update(after_status, after_edit, "kubectl-edit", "v1", NOW)
    assert _by(after_edit, "kubelet", "status")[0]["fieldsV1"] == {"f:status": {"f:phase": {}}}
    assert _by(after_edit, "kubectl-edit")[0]["fieldsV1"] == {
        "f:spec": {"f:containers": {'k:{"name":"c"}': {"f:image": {}}}}}
    # the same manager writing through both endpoints has two entries
    again = json.loads(json.dumps(after_edit))
    again["status"]["phase"] = "Succeeded"
    managedfields.record_update(after_edit, again, "kubectl-edit", "v1", NOW, "status")
    assert len(_by(again, "kubectl-edit")) == 1 and len(_by(again, "kubectl-edit", "status")) == 1


@pytest.mark.unit
def test_server_side_apply_through_status_owns_status_and_does_not_conflict_with_spec_owners():
    live = _pod()
    out = managedfields.apply(live, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                     "spec": {"containers": [{"name": "c", "image": "ignored"}]},
                                     "status": {"phase": "Running"}},
                              "controller", force=False, api_version="v1", now=NOW, kind="Pod", group="", name="p",
                              subresource="status")
    assert out["status"] == {"phase": "Running"} and out["spec"]["containers"][0]["image"] == "nginx"
    [entry] = _by(out, "controller", "status")
    assert entry["operation"] == "Apply" and entry["fieldsV1"] == {"f:status": {"f:phase": {}}}
    # a second status applier changing that field conflicts with the first, naming it
    with pytest.raises(APIError) as e:
        managedfields.apply(out, {"status": {"phase": "Failed"}}, "other", force=False, api_version="v1",
                            now=NOW, kind="Pod", group="", name="p", subresource="status")
    assert e.value.code == 409 and 'conflict with "controller": .status.phase' in e.value.message


# ---------------------------------------------------------------------------------------------- real processes

@pytest.fixture(scope="module")
def server() -> Iterator[tuple[APIServer, str]]:
    if not (shutil.which("etcd") and shutil.which("kubectl")):
        pytest.skip("needs etcd and kubectl")
    tmp = tempfile.mkdtemp(prefix="mf-status-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as srv:
            yield srv, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kubectl(server: tuple[APIServer, str], *args: str, stdin: str | None = None) -> str:
    srv, tmp = server
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig, "HOME": tmp}
    proc = subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@pytest.mark.e2e
def test_kubectl_shows_status_managers_with_subresource_status(server):
    kubectl(server, "create", "deployment", "web", "--image=nginx:1.25")
    kubectl(server, "patch", "deployment", "web", "--subresource=status", "--type=merge",
            "-p", '{"status":{"replicas":1,"observedGeneration":1}}')
    kubectl(server, "apply", "--server-side", "--subresource=status", "--field-manager=rollout-ctl", "-f", "-",
            stdin="apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nstatus: {readyReplicas: 1}\n")
    kubectl(server, "scale", "deployment", "web", "--replicas=2")
    obj = yaml.safe_load(kubectl(server, "get", "deployment", "web", "-o", "yaml", "--show-managed-fields"))
    entries = {(e["manager"], e["operation"], e.get("subresource", "")): e for e in obj["metadata"]["managedFields"]}
    assert entries[("kubectl-patch", "Update", "status")]["fieldsV1"] == {
        "f:status": {"f:observedGeneration": {}, "f:replicas": {}}}
    assert entries[("rollout-ctl", "Apply", "status")]["fieldsV1"] == {"f:status": {"f:readyReplicas": {}}}
    assert "f:spec" in entries[("kubectl-create", "Update", "")]["fieldsV1"]
    assert obj["status"] == {"replicas": 1, "observedGeneration": 1, "readyReplicas": 1}
    assert obj["spec"]["replicas"] == 2
