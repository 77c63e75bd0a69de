"""End to end: `python -m apiserver` on Debian's etcd 3.4 and on a 3-member raftkv cluster over mTLS (the same
suite on each: proof the server needs only the etcd API), driven by the machine's real kubectl and by raw HTTPS
requests (for the semantics kubectl does not show: 409s, pages, watches, 410, keys)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.apiserver.fixtures import APIServer, Store, apiserver, store

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not (shutil.which("etcd") and shutil.which("kubectl")),
                                                  reason="needs etcd and kubectl")]
Cluster = tuple[APIServer, Store, str]

MANIFEST = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web, tier: front}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: c
            image: nginx:1.25
            ports: [{containerPort: 80}]
            env: [{name: A, value: "1"}]
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: cfg
      labels: {app: db}
    data:
      k: v
    """)


@pytest.fixture(scope="module", params=["etcd", "raftkv"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    tmp = tempfile.mkdtemp(prefix="apiserver-e2e-")
    try:
        with store(request.param, tmp) as st, apiserver(tmp, st.url, etcd_client=st.tls,
                                                        bookmark_interval=0.5) as srv:
            yield srv, st, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kubectl(cluster: Cluster, *args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    srv, _, tmp = cluster
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig, "HOME": tmp}
    proc = subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


def api(srv: APIServer, method: str, path: str, body: object = None, ctype: str = "application/json",
        accept: str = "application/json") -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(srv.url + path, data=data, method=method,
                                 headers={"Content-Type": ctype, "Accept": accept})
    try:
        with urllib.request.urlopen(req, context=srv.ssl_context(), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_get_namespaces(cluster):
    out = kubectl(cluster, "get", "ns").stdout.split("\n")
    assert out[0].split() == ["NAME", "STATUS", "AGE"]
    rows = {line.split()[0]: line.split()[1] for line in out[1:] if line}
    assert rows == {n: "Active" for n in ("default", "kube-node-lease", "kube-public", "kube-system")}


def test_api_resources_and_version(cluster):
    out = kubectl(cluster, "api-resources").stdout
    line = next(x for x in out.splitlines() if x.startswith("deployments"))
    assert line.split() == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert "Server Version: v1.32" in kubectl(cluster, "version").stdout


def test_create_get_label_patch_delete(cluster):
    out = kubectl(cluster, "create", "-f", "-", stdin=MANIFEST).stdout
    assert out.split("\n")[:2] == ["deployment.apps/web created", "configmap/cfg created"]
    dup = kubectl(cluster, "create", "-f", "-", stdin=MANIFEST, check=False)
    assert dup.returncode != 0 and 'Error from server (AlreadyExists)' in dup.stderr

    deploy = json.loads(kubectl(cluster, "get", "deploy", "web", "-o", "json").stdout)
    assert deploy["metadata"]["generation"] == 1 and deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "resourceVersion: " in kubectl(cluster, "get", "cm", "cfg", "-o", "yaml").stdout
    wide = kubectl(cluster, "get", "deploy", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[:4] == ["web", "0/2", "0", "0"] and wide[1].split()[-3:] == ["c", "nginx:1.25", "app=web"]
    assert kubectl(cluster, "get", "deploy,cm", "-o", "name").stdout.split() == ["deployment.apps/web",
                                                                                    "configmap/cfg"]
    assert kubectl(cluster, "get", "cm", "-l", "app in (db,x),!gone", "-o", "name").stdout.split() == ["configmap/cfg"]
    assert kubectl(cluster, "get", "cm", "-l", "app=web", "-o", "name").stdout.split() == []
    assert kubectl(cluster, "get", "deploy", "--field-selector", "metadata.name=web", "-o", "name").stdout.split() == [
        "deployment.apps/web"]

    kubectl(cluster, "label", "cm", "cfg", "extra=yes")
    assert kubectl(cluster, "get", "cm", "-l", "extra=yes", "-o", "name").stdout.split() == ["configmap/cfg"]
    kubectl(cluster, "patch", "deploy", "web", "--type", "merge", "-p", '{"spec":{"replicas":3}}')
    kubectl(cluster, "patch", "deploy", "web", "--type", "json", "-p",
            '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.26"}]')
    kubectl(cluster, "patch", "deploy", "web", "--type", "strategic", "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}]}]}}}}')
    deploy = json.loads(kubectl(cluster, "get", "deploy", "web", "-o", "json").stdout)
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    assert (deploy["spec"]["replicas"], c["image"], [e["name"] for e in c["env"]]) == (3, "nginx:1.26", ["A", "B"])
    assert deploy["metadata"]["generation"] == 4
    kubectl(cluster, "label", "deploy", "web", "extra=1")
    assert json.loads(kubectl(cluster, "get", "deploy", "web", "-o", "json").stdout)["metadata"]["generation"] == 4

    bad = kubectl(cluster, "patch", "deploy", "web", "--type", "merge", "-p", '{"spec":{"replicas":-1}}', check=False)
    assert bad.stderr.strip() == ('The Deployment "web" is invalid: spec.replicas: Invalid value: -1: '
                                  'must be greater than or equal to 0')

    assert kubectl(cluster, "delete", "cm", "cfg").stdout.strip() == 'configmap "cfg" deleted'
    missing = kubectl(cluster, "get", "cm", "cfg", check=False)
    assert 'Error from server (NotFound): configmaps "cfg" not found' in missing.stderr
    kubectl(cluster, "delete", "-f", "-", stdin=MANIFEST, check=False)


def test_watch_bounded_by_request_timeout(cluster):
    srv, _, tmp = cluster
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig, "HOME": tmp}
    kubectl(cluster, "create", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w0}\n")
    watcher = subprocess.Popen(["kubectl", "get", "cm", "-w", "--request-timeout=4s", "--output-watch-events"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The first row (w0, from the initial list) proves the list ran; the watch starts at the list's
        # resourceVersion, so the changes below cannot be missed however soon they happen.
        header, first = watcher.stdout.readline(), watcher.stdout.readline()
        assert header.split()[:2] == ["EVENT", "NAME"] and first.split()[:2] == ["ADDED", "w0"], (header, first)
        kubectl(cluster, "create", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w1}\n")
        kubectl(cluster, "patch", "cm", "w1", "-p", '{"data":{"a":"b"}}')
        kubectl(cluster, "delete", "cm", "w1")
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    events = [line.split()[:2] for line in out.splitlines()]
    assert events == [["ADDED", "w1"], ["MODIFIED", "w1"], ["DELETED", "w1"]], (out, err)
    assert watcher.returncode == 0, err
    kubectl(cluster, "delete", "cm", "w0")


def test_apply_client_and_server_side(cluster):
    m = MANIFEST.split("---")[1]
    assert kubectl(cluster, "apply", "-f", "-", stdin=m).stdout.strip() == "configmap/cfg created"
    again = kubectl(cluster, "apply", "-f", "-", stdin=m.replace("k: v", "k: w")).stdout.strip()
    assert again == "configmap/cfg configured"
    cm = json.loads(kubectl(cluster, "get", "cm", "cfg", "-o", "json").stdout)
    assert cm["data"] == {"k": "w"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in cm["metadata"]["annotations"]
    ssa = kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=m.replace("k: v", "k: x")).stdout.strip()
    assert ssa == "configmap/cfg serverside-applied"
    assert json.loads(kubectl(cluster, "get", "cm", "cfg", "-o", "json").stdout)["data"] == {"k": "x"}
    kubectl(cluster, "delete", "cm", "cfg")


def test_http_semantics(cluster):
    srv, st, _ = cluster
    base = "/api/v1/namespaces/default/configmaps"
    code, created = api(srv, "POST", base, {"metadata": {"generateName": "p-"}, "data": {"a": "1"}})
    assert code == 201 and created["metadata"]["name"].startswith("p-")
    name, rv = created["metadata"]["name"], created["metadata"]["resourceVersion"]

    keys = st.etcdctl("get", "--prefix", "--keys-only", "/registry/configmaps/").stdout
    assert f"/registry/configmaps/default/{name}" in keys.split()

    code, updated = api(srv, "PUT", f"{base}/{name}", {**created, "data": {"a": "2"}})
    assert code == 200 and int(updated["metadata"]["resourceVersion"]) > int(rv)
    code, status = api(srv, "PUT", f"{base}/{name}", {**created, "data": {"a": "3"}})
    assert (code, status["reason"]) == (409, "Conflict")
    assert status["message"].startswith(f'Operation cannot be fulfilled on configmaps "{name}"')
    code, same = api(srv, "PUT", f"{base}/{name}", {**updated})
    assert same["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"], "no-op update keeps the RV"

    for i in range(5):
        api(srv, "POST", base, {"metadata": {"name": f"page-{i}", "labels": {"page": "yes"}}})
    names, token, rvs = [], "", set()
    while True:
        code, lst = api(srv, "GET", f"{base}?labelSelector=page%3Dyes&limit=2" + (f"&continue={token}" if token else ""))
        assert code == 200
        names += [i["metadata"]["name"] for i in lst["items"]]
        rvs.add(lst["metadata"]["resourceVersion"])
        token = lst["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"page-{i}" for i in range(5)] and len(rvs) == 1, "every page is read at one revision"

    code, status = api(srv, "GET", f"{base}?fieldSelector=spec.bogus%3D1")
    assert (code, status["reason"]) == (400, "BadRequest")
    code, status = api(srv, "POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "x"}})
    assert (code, status["reason"]) == (404, "NotFound")
    code, status = api(srv, "PATCH", f"{base}/{name}", {"data": {}}, ctype="application/x-bogus")
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")
    code, status = api(srv, "POST", base, {"metadata": {"name": "Bad_Name"}})
    assert (code, status["reason"]) == (422, "Invalid") and status["details"]["causes"][0]["field"] == "metadata.name"
    code, table = api(srv, "GET", base, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]


def watch_lines(srv: APIServer, path: str, count: int) -> list[dict]:
    conn = http.client.HTTPSConnection(srv.url.split("//")[1], context=srv.ssl_context(), timeout=30)
    conn.request("GET", path, headers={"Accept": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    events = []
    while len(events) < count:
        line = resp.readline()
        if not line:
            break
        events.append(json.loads(line))
    conn.close()
    return events


def test_watch_from_resource_version_and_gone_after_compaction(cluster):
    srv, st, _ = cluster
    base = "/api/v1/namespaces/default/configmaps"
    _, a = api(srv, "POST", base, {"metadata": {"name": "wa", "labels": {"w": "1"}}})
    start = a["metadata"]["resourceVersion"]
    api(srv, "PATCH", f"{base}/wa", {"metadata": {"labels": {"w": "2"}}}, ctype="application/merge-patch+json")
    api(srv, "DELETE", f"{base}/wa")
    events = watch_lines(srv, f"{base}?watch=true&resourceVersion={start}&timeoutSeconds=5", 2)
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    sel = watch_lines(srv, f"{base}?watch=true&resourceVersion={start}&labelSelector=w%3D1&timeoutSeconds=5", 1)
    assert [e["type"] for e in sel] == ["DELETED"], "leaving the selector is a DELETED event"

    _, rev_list = api(srv, "GET", base)
    st.etcdctl("compact", rev_list["metadata"]["resourceVersion"])
    # As with kube-apiserver's watch cache, history the cache still holds outlives the store's compaction ...
    cached = watch_lines(srv, f"{base}?watch=true&resourceVersion={start}&timeoutSeconds=5", 2)
    assert [e["type"] for e in cached] == ["MODIFIED", "DELETED"]
    # ... and a resourceVersion older than the cache's window, and compacted in the store, is 410 Expired.
    gone = watch_lines(srv, f"{base}?watch=true&resourceVersion=2&timeoutSeconds=5", 1)
    assert gone[0]["type"] == "ERROR" and gone[0]["object"]["code"] == 410
    assert gone[0]["object"]["reason"] == "Expired" and gone[0]["object"]["message"].startswith(
        "too old resource version: 2 (")


def test_field_validation_and_immortal_namespaces(cluster):
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fv}\ndata: {a: b}\nspec: {z: 1}\n"
    strict = kubectl(cluster, "create", "-f", "-", stdin=bad, check=False)
    assert 'strict decoding error: unknown field "spec"' in strict.stderr and strict.returncode != 0
    warn = kubectl(cluster, "create", "-f", "-", "--validate=warn", stdin=bad)
    assert 'Warning: unknown field "spec"' in warn.stderr
    assert "spec" not in json.loads(kubectl(cluster, "get", "cm", "fv", "-o", "json").stdout), "unknown fields dropped"
    kubectl(cluster, "delete", "cm", "fv")
    refused = kubectl(cluster, "delete", "ns", "default", check=False)
    assert 'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted' \
        in refused.stderr
    kubectl(cluster, "create", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\nmetadata: {name: scratch}\n")
    # No namespace controller runs here: the API server records the deletion (Terminating, the `kubernetes`
    # finalizer kept) and serves the namespace until the controller finalizes it (tests/controllers/
    # test_namespace_e2e.py), so kubectl is not asked to wait.
    out = kubectl(cluster, "delete", "ns", "scratch", "--wait=false").stdout.strip()
    assert out == 'namespace "scratch" deleted'
    ns = json.loads(kubectl(cluster, "get", "ns", "scratch", "-o", "json").stdout)
    assert (ns["status"]["phase"], ns["spec"]["finalizers"]) == ("Terminating", ["kubernetes"])
    assert ns["metadata"]["deletionTimestamp"]
    late = kubectl(cluster, "create", "cm", "late", "-n", "scratch", check=False)
    assert "because it is being terminated" in late.stderr


def test_status_and_scale_subresources(cluster):
    srv, _, _ = cluster
    m = MANIFEST.split("---")[0]
    kubectl(cluster, "create", "-f", "-", stdin=m)
    base = "/apis/apps/v1/namespaces/default/deployments/web"
    code, d = api(srv, "PATCH", f"{base}/status", {"status": {"replicas": 2, "readyReplicas": 1},
                                                    "spec": {"replicas": 9}}, ctype="application/merge-patch+json")
    assert code == 200 and d["status"]["readyReplicas"] == 1 and d["spec"]["replicas"] == 2
    assert d["metadata"]["generation"] == 1, "status writes do not bump generation"
    code, d = api(srv, "PATCH", base, {"status": {"readyReplicas": 0}}, ctype="application/merge-patch+json")
    assert d["status"]["readyReplicas"] == 1, "the main endpoint ignores status"
    wide = kubectl(cluster, "get", "deploy", "web").stdout.splitlines()[1].split()
    assert wide[:2] == ["web", "1/2"]

    assert kubectl(cluster, "scale", "deploy", "web", "--replicas=4").stdout.strip() == "deployment.apps/web scaled"
    code, scale = api(srv, "GET", f"{base}/scale")
    assert (scale["kind"], scale["spec"]["replicas"], scale["status"]["selector"]) == ("Scale", 4, "app=web")
    stale = {**scale, "metadata": {**scale["metadata"], "resourceVersion": "1"}, "spec": {"replicas": 5}}
    code, status = api(srv, "PUT", f"{base}/scale", stale)
    assert (code, status["reason"]) == (409, "Conflict")
    cur = kubectl(cluster, "scale", "deploy", "web", "--current-replicas=4", "--replicas=6")
    assert cur.stdout.strip() == "deployment.apps/web scaled"
    kubectl(cluster, "delete", "deploy", "web")


def test_create_generators_send_protobuf(cluster):
    assert kubectl(cluster, "create", "ns", "gen").stdout.strip() == "namespace/gen created"
    kubectl(cluster, "create", "cm", "c1", "--from-literal=a=b", "-n", "gen")
    kubectl(cluster, "create", "secret", "generic", "s1", "--from-literal=pw=hunter2", "-n", "gen")
    assert kubectl(cluster, "create", "sa", "robot", "-n", "gen").stdout.strip() == "serviceaccount/robot created"
    cm = json.loads(kubectl(cluster, "get", "cm", "c1", "-n", "gen", "-o", "json").stdout)
    assert cm["data"] == {"a": "b"} and "generateName" not in cm["metadata"]
    secret = json.loads(kubectl(cluster, "get", "secret", "s1", "-n", "gen", "-o", "json").stdout)
    assert secret["data"] == {"pw": "aHVudGVyMg=="} and secret["type"] == "Opaque"
    kubectl(cluster, "create", "deployment", "d1", "--image=nginx:1.25", "--replicas=3", "--port=80", "-n", "gen")
    kubectl(cluster, "create", "deployment", "d0", "--image=busybox", "--replicas=0", "-n", "gen", "--", "sleep", "9")
    d1 = json.loads(kubectl(cluster, "get", "deploy", "d1", "-n", "gen", "-o", "json").stdout)["spec"]
    c = d1["template"]["spec"]["containers"][0]
    assert (d1["replicas"], d1["selector"], d1["strategy"]["type"]) == (3, {"matchLabels": {"app": "d1"}}, "RollingUpdate")
    assert (c["name"], c["image"], c["ports"]) == ("nginx", "nginx:1.25", [{"containerPort": 80, "protocol": "TCP"}])
    d0 = json.loads(kubectl(cluster, "get", "deploy", "d0", "-n", "gen", "-o", "json").stdout)["spec"]
    assert d0["replicas"] == 0, "an explicit replicas=0 survives (a Go *int32)"
    assert d0["template"]["spec"]["containers"][0]["command"] == ["sleep", "9"]
    table = kubectl(cluster, "get", "secret", "-n", "gen").stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "DATA", "AGE"] and table[1].split()[:3] == ["s1", "Opaque", "1"]
    # Emptying a deleted namespace is the namespace controller's job (tests/controllers/test_namespace_e2e.py).
    assert kubectl(cluster, "delete", "ns", "gen", "--wait=false").stdout.strip() == 'namespace "gen" deleted'


def test_watch_bookmarks_when_allowed(cluster):
    srv, _, _ = cluster
    base = "/api/v1/namespaces/default/configmaps"
    _, lst = api(srv, "GET", base)
    rv = int(lst["metadata"]["resourceVersion"])
    events = watch_lines(srv, f"{base}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=10", 1)
    assert events[0]["type"] == "BOOKMARK" and events[0]["object"]["kind"] == "ConfigMap"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= rv


def test_finalizers_hold_deletion_until_removed(cluster):
    srv, _, _ = cluster
    base = "/api/v1/namespaces/default/configmaps"
    code, _ = api(srv, "POST", base, {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}})
    assert code == 201
    code, obj = api(srv, "DELETE", f"{base}/fin")
    assert code == 200 and obj["metadata"]["deletionTimestamp"] and obj["metadata"]["finalizers"] == [
        "example.com/hold"]
    code, still = api(srv, "GET", f"{base}/fin")
    assert code == 200 and still["metadata"]["deletionTimestamp"] == obj["metadata"]["deletionTimestamp"]
    code, status = api(srv, "PATCH", f"{base}/fin", {"metadata": {"finalizers": ["example.com/hold", "late"]}},
                       ctype="application/merge-patch+json")
    assert (code, status["reason"]) == (422, "Invalid"), "no new finalizers once deletion has begun"
    code, _ = api(srv, "PATCH", f"{base}/fin", {"metadata": {"finalizers": None}}, ctype="application/merge-patch+json")
    assert code == 200
    code, status = api(srv, "GET", f"{base}/fin")
    assert (code, status["reason"]) == (404, "NotFound"), "removing the last finalizer completes the deletion"

    code, _ = api(srv, "POST", base, {"metadata": {"name": "fg"}})
    code, obj = api(srv, "DELETE", f"{base}/fg", {"propagationPolicy": "Foreground"})
    assert obj["metadata"]["finalizers"] == ["foregroundDeletion"], "no garbage collector here: it stays until removed"
    api(srv, "PATCH", f"{base}/fg", [{"op": "remove", "path": "/metadata/finalizers"}],
        ctype="application/json-patch+json")
    assert api(srv, "GET", f"{base}/fg")[0] == 404


WORKLOADS = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db}
    spec:
      serviceName: db
      replicas: 2
      selector: {matchLabels: {app: db}}
      template:
        metadata: {labels: {app: db}}
        spec: {containers: [{name: c, image: postgres:16}]}
    ---
    apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: agent}
    spec:
      selector: {matchLabels: {app: agent}}
      template:
        metadata: {labels: {app: agent}}
        spec: {nodeSelector: {disk: ssd}, containers: [{name: c, image: busybox:1.36}]}
    ---
    apiVersion: batch/v1
    kind: CronJob
    metadata: {name: tick}
    spec:
      schedule: "*/5 * * * *"
      jobTemplate:
        spec:
          template:
            spec: {restartPolicy: OnFailure, containers: [{name: c, image: busybox:1.36}]}
    ---
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
    ---
    apiVersion: v1
    kind: ReplicationController
    metadata: {name: old}
    spec:
      replicas: 1
      template:
        metadata: {labels: {app: old}}
        spec: {containers: [{name: c, image: nginx:1.25}]}
    ---
    apiVersion: v1
    kind: Endpoints
    metadata: {name: db}
    subsets: [{addresses: [{ip: 10.0.0.7}], ports: [{port: 5432}]}]
    """)


def table(cluster: Cluster, *args: str) -> list[list[str]]:
    return [line.split() for line in kubectl(cluster, "get", *args).stdout.splitlines()]


def test_workload_resources_tables_and_subresources(cluster):
    out = kubectl(cluster, "apply", "-f", "-", stdin=WORKLOADS).stdout.splitlines()
    assert out == ["statefulset.apps/db created", "daemonset.apps/agent created", "cronjob.batch/tick created",
                   "persistentvolumeclaim/data created", "replicationcontroller/old created", "endpoints/db created"]
    assert table(cluster, "sts")[0] == ["NAME", "READY", "AGE"] and table(cluster, "sts")[1][:2] == ["db", "0/2"]
    ds = table(cluster, "ds")
    assert ds[0] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR", "AGE"]
    assert ds[1][:7] == ["agent", "0", "0", "0", "0", "0", "disk=ssd"]
    assert table(cluster, "cj")[1][:6] == ["tick", "*/5", "*", "*", "*", "*"]
    assert table(cluster, "pvc")[1][:2] == ["data", "Pending"]
    assert table(cluster, "rc", "-o", "wide")[1] [-1] == "app=old", "the RC selector defaults to the template labels"
    assert table(cluster, "ep")[1][:2] == ["db", "10.0.0.7:5432"]
    kinds = {row[0].split("/")[0] for row in table(cluster, "all", "-o", "name")}
    assert {"statefulset.apps", "daemonset.apps", "cronjob.batch", "replicationcontroller"} <= kinds

    kubectl(cluster, "create", "job", "once", "--image=busybox:1.36", "--", "true")  # protobuf bodies, all three
    kubectl(cluster, "create", "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 3 * * *")
    kubectl(cluster, "create", "service", "clusterip", "db", "--tcp=5432:5433")
    svc = json.loads(kubectl(cluster, "get", "svc", "db", "-o", "json").stdout)
    assert svc["spec"]["ports"] == [{"name": "5432-5433", "port": 5432, "targetPort": 5433, "protocol": "TCP"}]
    assert svc["spec"]["selector"] == {"app": "db"} and svc["spec"]["type"] == "ClusterIP"
    cj = json.loads(kubectl(cluster, "get", "cj", "nightly", "-o", "json").stdout)["spec"]
    assert (cj["schedule"], cj["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"]) == ("0 3 * * *",
                                                                                                "OnFailure")
    job = json.loads(kubectl(cluster, "get", "job", "once", "-o", "json").stdout)
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert table(cluster, "job", "once")[1][:3] == ["once", "Running", "0/1"]
    bad = kubectl(cluster, "patch", "job", "once", "--type=merge", "-p", '{"spec":{"completions":3}}', check=False)
    assert "spec.completions: Invalid value: 3: field is immutable" in bad.stderr
    assert kubectl(cluster, "scale", "sts", "db", "--replicas=3").stdout.strip() == "statefulset.apps/db scaled"
    assert kubectl(cluster, "scale", "rc", "old", "--replicas=2").stdout.strip() == "replicationcontroller/old scaled"
    assert table(cluster, "sts", "db")[1][1] == "0/3"
    kubectl(cluster, "delete", "-f", "-", stdin=WORKLOADS)
    kubectl(cluster, "delete", "job/once", "cj/nightly", "svc/db")


POD = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: p1, labels: {app: p}}
    spec: {containers: [{name: c, image: nginx:1.25}]}
    """)


def test_pod_binding_logs_graceful_delete_and_eviction(cluster):
    srv = cluster[0]
    kubectl(cluster, "create", "-f", "-", stdin=POD)
    assert kubectl(cluster, "logs", "p1").stdout == "", "no node yet: an empty log, as kube-apiserver answers"
    base = "/api/v1/namespaces/default/pods/p1"
    code, status = api(srv, "POST", f"{base}/binding", {"apiVersion": "v1", "kind": "Binding",
                                                        "metadata": {"name": "p1"}, "target": {"name": "n1"}})
    assert (code, status["status"]) == (201, "Success")
    code, status = api(srv, "POST", f"{base}/binding", {"target": {"name": "n2"}})
    assert (code, status["message"]) == (409, 'Operation cannot be fulfilled on pods/binding "p1": pod p1 is '
                                               'already assigned to node "n1"')
    assert table(cluster, "pods", "-o", "wide")[1][6] == "n1"
    logs = kubectl(cluster, "logs", "p1", check=False)
    assert logs.returncode != 0 and 'Error from server (NotFound): nodes "n1" not found' in logs.stderr
    bad = kubectl(cluster, "patch", "pod", "p1", "-p", '{"spec":{"restartPolicy":"Never"}}', check=False)
    assert 'The Pod "p1" is invalid: spec: Forbidden: pod updates may not change fields' in bad.stderr
    kubectl(cluster, "patch", "pod", "p1", "-p", '{"spec":{"containers":[{"name":"c","image":"nginx:1.26"}]}}')

    # A bound pod is deleted gracefully: it stays Terminating until its kubelet (here: a forced delete) ends it.
    kubectl(cluster, "delete", "pod", "p1", "--wait=false")
    pod = json.loads(kubectl(cluster, "get", "pod", "p1", "-o", "json").stdout)
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30 and pod["metadata"]["deletionTimestamp"]
    assert table(cluster, "pod", "p1")[1][2] == "Terminating"
    forced = kubectl(cluster, "delete", "pod", "p1", "--grace-period=0", "--force")
    assert 'pod "p1" force deleted' in forced.stdout
    assert kubectl(cluster, "get", "pod", "p1", "--ignore-not-found").stdout == ""

    kubectl(cluster, "create", "-f", "-", stdin=POD)
    code, status = api(srv, "POST", f"{base}/eviction", {"apiVersion": "policy/v1", "kind": "Eviction",
                                                         "metadata": {"name": "p1", "namespace": "default"}})
    assert (code, status["status"]) == (201, "Success") and api(srv, "GET", base)[0] == 404


def test_everyday_kubectl_commands(cluster):
    srv, _, tmp = cluster
    m = MANIFEST.split("---")[0].replace("name: web", "name: daily")
    kubectl(cluster, "apply", "-f", "-", stdin=m)

    kubectl(cluster, "annotate", "deploy", "daily", "team=blue")
    clash = kubectl(cluster, "annotate", "deploy", "daily", "team=red", check=False)
    assert "--overwrite is false but found the following declared annotation(s): 'team' already has a value (blue)" \
        in clash.stderr
    kubectl(cluster, "annotate", "deploy", "daily", "team=red", "--overwrite")
    kubectl(cluster, "label", "deploy", "daily", "tier=back", "--overwrite")
    kubectl(cluster, "label", "deploy", "daily", "app-")
    md = json.loads(kubectl(cluster, "get", "deploy", "daily", "-o", "json").stdout)["metadata"]
    assert md["annotations"]["team"] == "red" and md["labels"] == {"tier": "back"}
    shown = kubectl(cluster, "get", "deploy", "daily", "--show-labels").stdout.splitlines()
    assert shown[0].split()[-1] == "LABELS" and shown[1].split()[-1] == "tier=back"
    assert kubectl(cluster, "get", "deploy", "daily", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
                   ).stdout == "nginx:1.25"
    assert "daily" in kubectl(cluster, "get", "deploy", "-A").stdout

    described = kubectl(cluster, "describe", "deploy", "daily").stdout
    fields = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in described.splitlines()
              if ":" in line}
    assert (fields["Name"], fields["Image"], fields["Replicas"]) == (
        "daily", "nginx:1.25", "2 desired | 0 updated | 0 total | 0 available | 0 unavailable")

    explained = kubectl(cluster, "explain", "deployment.spec.replicas").stdout
    assert "KIND:       Deployment" in explained and "FIELD: replicas <integer>" in explained

    # diff: a dry-run patch; exit code 1 means "differences found".
    diff = kubectl(cluster, "diff", "-f", "-", stdin=m.replace("replicas: 2", "replicas: 5"), check=False)
    assert diff.returncode == 1 and "-  replicas: 2" in diff.stdout and "+  replicas: 5" in diff.stdout
    assert json.loads(kubectl(cluster, "get", "deploy", "daily", "-o", "json").stdout)["spec"]["replicas"] == 2

    editor = os.path.join(tmp, "editor.sh")
    with open(editor, "w") as f:
        f.write("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 7/' \"$1\"\n")
    os.chmod(editor, 0o755)
    env = {**os.environ, "KUBECONFIG": srv.kubeconfig, "HOME": tmp, "KUBE_EDITOR": editor}
    edited = subprocess.run(["kubectl", "edit", "deploy", "daily"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert edited.returncode == 0 and edited.stdout.strip() == "deployment.apps/daily edited", edited.stderr
    current = kubectl(cluster, "get", "deploy", "daily", "-o", "yaml").stdout
    assert "replicas: 7" in current
    replaced = kubectl(cluster, "replace", "-f", "-", stdin=current.replace("replicas: 7", "replicas: 1"))
    assert replaced.stdout.strip() == "deployment.apps/daily replaced"

    # rollout status and wait read status; no controller runs yet, so write what the Deployment controller would.
    base = "/apis/apps/v1/namespaces/default/deployments/daily"
    gen = json.loads(kubectl(cluster, "get", "deploy", "daily", "-o", "json").stdout)["metadata"]["generation"]
    status = {"observedGeneration": gen, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
              "availableReplicas": 1, "conditions": [
                  {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    waiter = subprocess.Popen(["kubectl", "rollout", "status", "deploy/daily", "--timeout=30s"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert api(srv, "PATCH", f"{base}/status", {"status": status}, ctype="application/merge-patch+json")[0] == 200
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 0 and 'deployment "daily" successfully rolled out' in out, (out, err)
    waited = kubectl(cluster, "wait", "--for=condition=Available", "deploy/daily", "--timeout=20s")
    assert waited.stdout.strip() == "deployment.apps/daily condition met"
    assert kubectl(cluster, "get", "deploy", "daily").stdout.splitlines()[1].split()[:4] == ["daily", "1/1", "1", "1"]
    kubectl(cluster, "delete", "deploy", "daily")


def test_server_side_apply_field_managers_and_conflicts(cluster):
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, labels: {tmp: x}}\ndata: {k: v, keep: '1'}\n"
    assert kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=cm).stdout.strip() == \
        "configmap/ssa serverside-applied"
    obj = json.loads(kubectl(cluster, "get", "cm", "ssa", "-o", "json", "--show-managed-fields").stdout)
    [entry] = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsV1"]) == (
        "kubectl", "Apply", {"f:data": {"f:k": {}, "f:keep": {}}, "f:metadata": {"f:labels": {"f:tmp": {}}}})
    rv = obj["metadata"]["resourceVersion"]
    kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=cm)
    assert kubectl(cluster, "get", "cm", "ssa", "-o", "jsonpath={.metadata.resourceVersion}").stdout == rv, \
        "re-applying the same configuration writes nothing"

    other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {k: other, keep: '1'}\n"
    clash = kubectl(cluster, "apply", "--server-side", "--field-manager=ci", "-f", "-", stdin=other, check=False)
    assert clash.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.k' in clash.stderr
    kubectl(cluster, "apply", "--server-side", "--field-manager=ci", "--force-conflicts", "-f", "-", stdin=other)
    managers = {e["manager"]: e["fieldsV1"] for e in json.loads(kubectl(
        cluster, "get", "cm", "ssa", "-o", "json", "--show-managed-fields").stdout)["metadata"]["managedFields"]}
    assert managers == {"kubectl": {"f:data": {"f:keep": {}}, "f:metadata": {"f:labels": {"f:tmp": {}}}},
                        "ci": {"f:data": {"f:k": {}, "f:keep": {}}}}

    kubectl(cluster, "patch", "cm", "ssa", "--type=merge", "-p", '{"data":{"k":"patched"}}')
    clash = kubectl(cluster, "apply", "--server-side", "--field-manager=ci", "-f", "-", stdin=other, check=False)
    assert 'Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: .data.k' in clash.stderr

    # Fields the applier stops applying are removed, unless another manager still owns them.
    kubectl(cluster, "apply", "--server-side", "-f", "-",
            stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {k: patched}\n")
    obj = json.loads(kubectl(cluster, "get", "cm", "ssa", "-o", "json").stdout)
    assert obj["data"] == {"k": "patched", "keep": "1"}, "keep is still owned by ci"
    assert "labels" not in obj["metadata"], "the label only kubectl applied is gone"
    kubectl(cluster, "delete", "cm", "ssa")


def test_list_resource_version_semantics(cluster):
    srv, st, _ = cluster
    base = "/api/v1/namespaces/default/configmaps"
    _, first = api(srv, "POST", base, {"metadata": {"name": "rv1"}})
    old_rv = first["metadata"]["resourceVersion"]
    api(srv, "POST", base, {"metadata": {"name": "rv2"}})
    names = lambda lst: [i["metadata"]["name"] for i in lst["items"] if i["metadata"]["name"].startswith("rv")]  # noqa: E731
    code, exact = api(srv, "GET", f"{base}?resourceVersion={old_rv}&resourceVersionMatch=Exact")
    assert (code, names(exact), exact["metadata"]["resourceVersion"]) == (200, ["rv1"], old_rv)
    code, newer = api(srv, "GET", f"{base}?resourceVersion={old_rv}&resourceVersionMatch=NotOlderThan")
    assert code == 200 and names(newer) == ["rv1", "rv2"] and int(newer["metadata"]["resourceVersion"]) > int(old_rv)
    code, plain = api(srv, "GET", f"{base}?resourceVersion={old_rv}")
    assert names(plain) == ["rv1", "rv2"], "a resourceVersion alone means 'not older than'"
    # resourceVersion=0 ("any") is served from the watch cache, which follows the store within moments.
    deadline = time.monotonic() + 30
    while True:
        code, cached = api(srv, "GET", f"{base}?resourceVersion=0&limit=1")
        if names(cached) == ["rv1", "rv2"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert code == 200 and names(cached) == ["rv1", "rv2"] and "continue" not in cached["metadata"]
    code, status = api(srv, "GET", f"{base}?resourceVersion=999999999")
    assert (code, status["reason"]) == (504, "Timeout") and status["message"].startswith(
        "Too large resource version: 999999999, current: ")
    code, status = api(srv, "GET", f"{base}?resourceVersionMatch=Exact")
    assert (code, status["message"]) == (422, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                                              "Forbidden: resourceVersionMatch is forbidden unless resourceVersion "
                                              "is provided")
    st.etcdctl("compact", newer["metadata"]["resourceVersion"])
    code, status = api(srv, "GET", f"{base}?resourceVersion={old_rv}&resourceVersionMatch=Exact")
    assert (code, status["reason"], status["message"]) == (410, "Expired",
                                                           "The resourceVersion for the provided list is too old.")
    for n in ("rv1", "rv2"):
        api(srv, "DELETE", f"{base}/{n}")
