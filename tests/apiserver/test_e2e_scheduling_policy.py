"""End to end with the real kubectl: PriorityClass (system classes, reserved names, one globalDefault, the Priority
plugin resolving served classes) and PodDisruptionBudget (tables, status subresource, eviction), on Debian's etcd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator

import pytest

from tests.apiserver.fixtures import APIServer, apiserver, etcd

pytestmark = pytest.mark.e2e
Server = tuple[APIServer, str]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    if not (shutil.which("etcd") and shutil.which("kubectl")):
        pytest.skip("needs etcd and kubectl")
    tmp = tempfile.mkdtemp(prefix="sched-policy-e2e-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as srv:
            yield srv, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kubectl(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    srv, tmp = server
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig, "HOME": tmp}
    return subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def ok(server: Server, *args: str, stdin: str | None = None) -> str:
    proc = kubectl(server, *args, stdin=textwrap.dedent(stdin) if stdin else None)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fails(server: Server, *args: str, stdin: str | None = None) -> str:
    proc = kubectl(server, *args, stdin=textwrap.dedent(stdin) if stdin else None)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr.strip()


def pod_manifest(name: str, ns: str = "default", class_name: str = "") -> str:
    spec = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
    if class_name:
        spec["priorityClassName"] = class_name
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec})


def test_priority_classes(server: Server) -> None:
    out = ok(server, "get", "priorityclass")
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    assert [r.split()[:3] for r in rows] == [["system-cluster-critical", "2000000000", "false"],
                                            ["system-node-critical", "2000001000", "false"]]
    assert "priorityclasses" in ok(server, "api-resources", "--api-group=scheduling.k8s.io")
    assert fails(server, "delete", "priorityclass", "system-node-critical") == (
        'Error from server (Forbidden): priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: '
        "this is a system priority class and cannot be deleted")
    assert 'Forbidden: may not be changed in an update.' in fails(
        server, "patch", "priorityclass", "system-cluster-critical", "--type=merge", "-p", '{"value": 5}')
    assert "priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not " \
           "a known system priority class" in fails(server, "create", "priorityclass", "system-mine", "--value=5")
    ok(server, "create", "priorityclass", "low", "--value=10", "--global-default")
    assert fails(server, "create", "priorityclass", "other", "--value=20", "--global-default") == (
        'error: failed to create priorityclass: priorityclasses.scheduling.k8s.io "other" is forbidden: '
        'PriorityClass low '
        "is already marked as default. Only one default can exist")
    ok(server, "create", "priorityclass", "gold", "--value=1000", "--preemption-policy=Never",
       "--description=important")
    assert "PreemptLowerPriority" in ok(server, "explain", "priorityclass.preemptionPolicy")
    # the Priority plugin resolves what is served
    ok(server, "apply", "-f", "-", stdin=pod_manifest("plain"))
    ok(server, "apply", "-f", "-", stdin=pod_manifest("gold", class_name="gold"))
    plain = json.loads(ok(server, "get", "pod", "plain", "-o", "json"))["spec"]
    assert (plain["priorityClassName"], plain["priority"], plain["preemptionPolicy"]) == (
        "low", 10, "PreemptLowerPriority")
    gold = json.loads(ok(server, "get", "pod", "gold", "-o", "json"))["spec"]
    assert (gold["priority"], gold["preemptionPolicy"]) == (1000, "Never")
    assert fails(server, "apply", "-f", "-", stdin=pod_manifest("x", class_name="foo")) == (
        'Error from server (Forbidden): error when creating "STDIN": pods "x" is forbidden: no PriorityClass with '
        "name foo was found")
    ok(server, "delete", "pod", "plain", "gold", "--grace-period=0", "--force")
    ok(server, "delete", "priorityclass", "low", "gold")


def test_qos_class_and_scheduling_gates(server: Server) -> None:
    full = {"cpu": "100m", "memory": "64Mi"}
    guaranteed = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "qos-g"},
                  "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "resources": {"limits": full}}],
                           "schedulingGates": [{"name": "example.com/wait"}]}}
    ok(server, "apply", "-f", "-", stdin=json.dumps(guaranteed))
    status = json.loads(ok(server, "get", "pod", "qos-g", "-o", "json"))["status"]
    assert status["qosClass"] == "Guaranteed"
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("PodScheduled", "False", "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates")]
    assert "SchedulingGated" in ok(server, "get", "pod", "qos-g")
    assert fails(server, "patch", "pod", "qos-g", "--type=json", "-p",
                 '[{"op": "add", "path": "/spec/schedulingGates/-", "value": {"name": "more"}}]') == (
        'The Pod "qos-g" is invalid: spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new '
        "scheduling gate 'more'")
    ok(server, "patch", "pod", "qos-g", "--type=json", "-p", '[{"op": "remove", "path": "/spec/schedulingGates"}]')
    burstable = {**guaranteed, "metadata": {"name": "qos-b"},
                 "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                          "resources": {"requests": {"cpu": "10m"}}}]}}
    ok(server, "apply", "-f", "-", stdin=json.dumps(burstable))
    assert json.loads(ok(server, "get", "pod", "qos-b", "-o", "json"))["status"]["qosClass"] == "Burstable"
    ok(server, "delete", "pod", "qos-g", "qos-b", "--grace-period=0", "--force")
