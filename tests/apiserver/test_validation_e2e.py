"""End to end: what the real kubectl prints for objects the server refuses, compared with kube-apiserver's text
(`The Pod "x" is invalid: <field>: <message>`), on Debian's etcd 3.4; and that nothing refused was stored."""

from __future__ import annotations

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
    tmp = tempfile.mkdtemp(prefix="validation-e2e-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as srv:
            yield srv, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kubectl(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    srv, tmp = server
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig, "HOME": tmp}
    return subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def refused(server: Server, manifest: str, *args: str) -> str:
    proc = kubectl(server, *(args or ("apply", "-f", "-")), stdin=textwrap.dedent(manifest))
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def ok(server: Server, *args: str, stdin: str | None = None) -> str:
    proc = kubectl(server, *args, stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_pod_field_errors_read_as_on_a_real_cluster(server):
    err = refused(server, """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          restartPolicy: Sometimes
          containers: [{name: c, image: nginx}]
        """)
    assert err.strip() == ('The Pod "p" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": supported '
                           'values: "Always", "Never", "OnFailure"')
    err = refused(server, """\
        apiVersion: v1
        kind: Pod
        metadata: {name: r}
        spec:
          volumes: [{name: v}]
          containers:
          - name: c
            image: nginx
            volumeMounts: [{name: data, mountPath: /d}]
            ports: [{containerPort: 70000}]
        """)
    # `volumes: [{name: v}]` is no error: SetDefaults_Volume makes a volume without a source an emptyDir.
    assert err.splitlines() == [
        'The Pod "r" is invalid: ',
        "* spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        '* spec.containers[0].volumeMounts[0].name: Not found: "data"']
    err = refused(server, """\
        apiVersion: v1
        kind: Pod
        metadata: {name: q}
        spec:
          containers: [{name: c, image: nginx, resources: {limits: {cpu: lots}}}]
        """)
    assert err.strip() == ('Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be '
                           "handled as a Pod: quantities must match the regular expression "
                           "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    assert "NotFound" in kubectl(server, "get", "pods", "p", "q", "r").stderr  # nothing half-written


def test_pod_spec_is_immutable_except_the_allowed_fields(server):
    ok(server, "run", "web", "--image=nginx:1.25")
    ok(server, "set", "image", "pod/web", "web=nginx:1.27")
    err = refused(server, "", "patch", "pod", "web", "-p", '{"spec":{"restartPolicy":"Never"}}')
    assert err.strip() == (
        'The Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
        "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
        "was previously negative)")
    assert ok(server, "get", "pod", "web", "-o", "jsonpath={.spec.containers[0].image}") == "nginx:1.27"


def test_workload_service_and_rbac_errors(server):
    err = refused(server, """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          selector: {matchLabels: {app: d}}
          strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 0}}
          template:
            metadata: {labels: {app: d}}
            spec: {containers: [{name: c, image: nginx}]}
        """)
    assert err.strip() == ('The Deployment "d" is invalid: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: '
                           "may not be 0 when `maxSurge` is 0")
    err = refused(server, """\
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: cj}
        spec:
          schedule: "61 * * * *"
          jobTemplate:
            spec:
              template:
                spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
        """)
    assert err.strip() == ('The CronJob "cj" is invalid: spec.schedule: Invalid value: "61 * * * *": end of range (61) '
                           "above maximum (59): 61")
    err = refused(server, """\
        apiVersion: v1
        kind: Service
        metadata: {name: s}
        spec:
          ports: [{port: 80, nodePort: 30080}]
        """)
    assert err.strip() == ("The Service \"s\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when "
                           "`type` is 'ClusterIP'")
    ok(server, "create", "rolebinding", "rb", "--clusterrole=view", "--user=alice")
    err = refused(server, "", "patch", "rolebinding", "rb", "--type=merge", "-p", '{"roleRef":{"name":"edit"}}')
    assert err.strip() == ('The RoleBinding "rb" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:'
                           '"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef')


def test_immutable_config_map_refuses_data_changes(server):
    ok(server, "apply", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\n"
                                        "immutable: true\ndata: {k: v}\n")
    err = refused(server, "", "patch", "configmap", "frozen", "--type=merge", "-p", '{"data":{"k":"v2"}}')
    assert err.strip() == 'The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    assert ok(server, "get", "configmap", "frozen", "-o", "jsonpath={.data.k}") == "v"
