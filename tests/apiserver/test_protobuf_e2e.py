"""Protobuf request bodies end to end: a real API server on Debian's etcd, HTTPS, create (POST) and update (PUT)
of non-generator kinds in protobuf, read back as JSON; protobuf DeleteOptions, Scale and Eviction bodies;
malformed bodies get a 400 Status and the server keeps serving. The bodies are the goldens of
test_protobuf_golden.py (built field by field from the upstream numbers).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.apiserver import test_protobuf_golden as golden
from tests.apiserver.fixtures import APIServer, apiserver, etcd
from tests.apiserver.test_protobuf import envelope, ln, meta, vi

pytestmark = pytest.mark.e2e
PROTOBUF = "application/vnd.kubernetes.protobuf"


@pytest.fixture(scope="module")
def server() -> Iterator[APIServer]:
    # The golden Pod names PriorityClass "high", which no store here holds: the Priority plugin would refuse it.
    with tempfile.TemporaryDirectory() as tmp, etcd(tmp) as etcd_url, apiserver(
            tmp, etcd_url, extra_args=["--disable-admission-plugins", "Priority"]) as srv:
        yield srv


def call(srv: APIServer, method: str, path: str, body: bytes | dict | None = None,
         ctype: str = PROTOBUF) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Accept": "application/json", "Content-Type": ctype if data is not None else "application/json"}
    if isinstance(body, dict):
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(srv.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=srv.ssl_context(), timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def ok(result: tuple[int, dict[str, Any]], *codes: int) -> dict[str, Any]:
    status, obj = result
    assert status in (codes or (200, 201)), (status, obj)
    return obj


def within(want: Any, got: Any) -> bool:
    """`want` is in `got`, allowing what defaulting and admission add (a container's `resources: {}`, the
    DefaultTolerationSeconds tolerations appended to a pod's list)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and within(v, got[k]) for k, v in want.items())
    if isinstance(want, (list, tuple)):
        return isinstance(got, type(want)) and len(want) <= len(got) and all(map(within, want, got))
    return bool(want == got)


def pb(api_version: str, kind: str, built: golden.Golden) -> bytes:
    return envelope(api_version, kind, built[0])


def test_pod_with_volumes_probes_and_security_context_created_updated_and_deleted_in_protobuf(server):
    ok(call(server, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": "prod"}}))
    ok(call(server, "POST", "/api/v1/namespaces/prod/serviceaccounts",
            pb("v1", "ServiceAccount", golden.service_account("web", "prod"))))
    _, want = golden.pod("web-0", "prod")
    created = ok(call(server, "POST", "/api/v1/namespaces/prod/pods", pb("v1", "Pod", golden.pod("web-0", "prod"))))
    got = ok(call(server, "GET", "/api/v1/namespaces/prod/pods/web-0"))
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert got["metadata"]["labels"] == {"app": "web"} and got["metadata"]["ownerReferences"][0]["controller"] is True
    spec = got["spec"]
    for field in ("volumes", "initContainers", "ephemeralContainers", "affinity", "tolerations",
                  "topologySpreadConstraints", "resourceClaims", "dnsConfig", "hostAliases", "readinessGates"):
        assert within(want["spec"][field], spec[field]), (field, spec[field])
    web = spec["containers"][0]
    for field in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "securityContext", "env",
                  "envFrom", "resources", "volumeMounts"):
        assert within(want["spec"]["containers"][0][field], web[field]), (field, web[field])
    assert web["securityContext"]["runAsUser"] == 0 and spec["terminationGracePeriodSeconds"] == 0
    assert spec["automountServiceAccountToken"] is False and spec["securityContext"]["runAsGroup"] == 0

    # PUT: the same pod with a new label and resourceVersion, in protobuf
    rv = got["metadata"]["resourceVersion"]
    raw, _ = golden.pod("web-0", "prod", rv=rv, labels={"app": "web", "tier": "front"})
    updated = ok(call(server, "PUT", "/api/v1/namespaces/prod/pods/web-0", envelope("v1", "Pod", raw)))
    assert updated["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert int(updated["metadata"]["resourceVersion"]) > int(rv)
    # a stale resourceVersion in the protobuf body is a 409 Conflict, as in JSON
    status, conflict = call(server, "PUT", "/api/v1/namespaces/prod/pods/web-0", envelope("v1", "Pod", raw))
    assert status == 409 and conflict["reason"] == "Conflict"

    # DELETE with a protobuf DeleteOptions (gracePeriodSeconds 1 = 0*, preconditions 2 {uid 1*}) as drain sends it
    opts = vi(1, 0) + ln(2, ln(1, "not-the-uid"))
    status, refused = call(server, "DELETE", "/api/v1/namespaces/prod/pods/web-0",
                           envelope("v1", "DeleteOptions", opts))
    assert status == 409, refused
    opts = vi(1, 0) + ln(2, ln(1, created["metadata"]["uid"])) + ln(4, "Background")
    ok(call(server, "DELETE", "/api/v1/namespaces/prod/pods/web-0", envelope("v1", "DeleteOptions", opts)))
    held = ok(call(server, "GET", "/api/v1/namespaces/prod/pods/web-0"))  # the golden pod carries a finalizer
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["deletionGracePeriodSeconds"] == 0
    req = urllib.request.Request(server.url + "/api/v1/namespaces/prod/pods/web-0", method="PATCH",
                                 data=b'{"metadata":{"finalizers":null}}',
                                 headers={"Content-Type": "application/merge-patch+json"})
    with urllib.request.urlopen(req, context=server.ssl_context(), timeout=30) as r:
        assert r.status == 200
    status, gone = call(server, "GET", "/api/v1/namespaces/prod/pods/web-0")
    assert status == 404, gone


def test_statefulset_daemonset_lease_endpointslice_node_create_and_update_in_protobuf(server):
    call(server, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
    cases = [
        ("/apis/apps/v1/namespaces/prod/statefulsets", "apps/v1", "StatefulSet", golden.stateful_set,
         {"name": "db", "ns": "prod"}, {"replicas": 0},
         lambda o: (o["spec"]["replicas"], o["spec"]["updateStrategy"], o["spec"]["volumeClaimTemplates"][0]["spec"]),
         lambda o: o["spec"]["replicas"] == 0),
        ("/apis/apps/v1/namespaces/kube-system/daemonsets", "apps/v1", "DaemonSet", golden.daemon_set,
         {"name": "agent", "ns": "kube-system"}, {"max_unavailable": "50%"},
         lambda o: (o["spec"]["updateStrategy"], o["spec"]["template"]["spec"]["tolerations"]),
         lambda o: o["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == "50%"),
        ("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", "coordination.k8s.io/v1", "Lease",
         golden.lease, {"name": "node-1", "ns": "kube-node-lease"}, {"holder": "node-2"},
         lambda o: o["spec"],
         lambda o: o["spec"]["holderIdentity"] == "node-2" and o["spec"]["leaseTransitions"] == 0),
        ("/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices", "discovery.k8s.io/v1", "EndpointSlice",
         golden.endpoint_slice, {"name": "web-abc", "ns": "prod"}, {"ready": False},
         lambda o: (o["addressType"], o["endpoints"], o["ports"]),
         lambda o: o["endpoints"][0]["conditions"] == {"ready": False, "serving": False, "terminating": False}),
        ("/api/v1/nodes", "v1", "Node", golden.node, {"name": "node-1"},
         {"labels": {"kubernetes.io/hostname": "node-1", "pool": "a"}},
         lambda o: o["spec"], lambda o: True),
    ]
    for path, api_version, kind, build, ident, change, view, changed in cases:
        _, want = build(**ident)
        ok(call(server, "POST", path, pb(api_version, kind, build(**ident))))
        got = ok(call(server, "GET", f"{path}/{ident['name']}"))
        assert within(view(want), view(got)), (kind, view(got))
        raw, _ = build(**ident, rv=got["metadata"]["resourceVersion"], **change)
        updated = ok(call(server, "PUT", f"{path}/{ident['name']}", envelope(api_version, kind, raw)))
        assert changed(updated), (kind, updated)
        again = ok(call(server, "GET", f"{path}/{ident['name']}"))
        assert changed(again), kind
        if kind == "Node":
            assert again["metadata"]["labels"]["pool"] == "a" and again["spec"]["unschedulable"] is True


def test_scale_and_eviction_subresource_bodies_in_protobuf(server):
    call(server, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
    ok(call(server, "POST", "/apis/apps/v1/namespaces/prod/statefulsets",
            pb("apps/v1", "StatefulSet", golden.stateful_set("cache", "prod"))))
    current = ok(call(server, "GET", "/apis/apps/v1/namespaces/prod/statefulsets/cache/scale"))
    # autoscaling/v1 Scale: metadata 1 (with resourceVersion 6), spec 2 {replicas 1}
    scale = ln(1, meta("cache", "prod", rv=current["metadata"]["resourceVersion"])) + ln(2, vi(1, 5))
    ok(call(server, "PUT", "/apis/apps/v1/namespaces/prod/statefulsets/cache/scale",
            envelope("autoscaling/v1", "Scale", scale)))
    assert ok(call(server, "GET", "/apis/apps/v1/namespaces/prod/statefulsets/cache"))["spec"]["replicas"] == 5

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "evictee"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    ok(call(server, "POST", "/api/v1/namespaces/prod/pods", pod))
    # policy/v1 Eviction: metadata 1, deleteOptions 2 {gracePeriodSeconds 1*}
    eviction = ln(1, meta("evictee", "prod")) + ln(2, vi(1, 0))
    ok(call(server, "POST", "/api/v1/namespaces/prod/pods/evictee/eviction",
            envelope("policy/v1", "Eviction", eviction)))
    assert call(server, "GET", "/api/v1/namespaces/prod/pods/evictee")[0] == 404


@pytest.mark.parametrize("body,needle", [
    (b"k8s\x00\x0a\x05", "claims 5 bytes"),                                                  # bad envelope
    (envelope("v1", "ConfigMap", ln(1, meta("x")) + b"\x10\xff\xff"), "truncated varint"),   # truncated varint
    (envelope("v1", "ConfigMap", b"\x0a\xff\xff\xff\xff\x0f"), "claims 4294967295 bytes"),   # huge length prefix
    (envelope("v1", "ConfigMap", ln(1, meta("x")) + b"\x0b" * 150), "nest deeper"),  # 150 nested groups
    (envelope("v1", "ConfigMap", ln(1, ln(1, "x") + vi(1, 5))), "wire type 0"),              # wrong wire type
    (envelope("v1", "ConfigMap", ln(1, meta("x")) + ln(77, "new")), "field 77"),             # unknown field
])
def test_malformed_protobuf_is_400_and_the_server_keeps_serving(server, body, needle):
    status, err = call(server, "POST", "/api/v1/namespaces/default/configmaps", body)
    assert status == 400 and err["kind"] == "Status" and err["reason"] == "BadRequest", err
    assert needle in err["message"], err["message"]
    assert call(server, "GET", "/api/v1/namespaces/default/configmaps/x")[0] == 404  # nothing half-written
    ok(call(server, "POST", "/api/v1/namespaces/default/configmaps",
            pb("v1", "ConfigMap", golden.configmap("after-" + hashlib.sha256(body).hexdigest()[:10], "default"))))


@pytest.mark.skipif(not shutil.which("kubectl"), reason="needs kubectl")
def test_real_kubectl_protobuf_requests_drain_can_i_and_generators(server, tmp_path):
    """kubectl's own protobuf bodies: drain's DeleteOptions (kubectl 1.32 sends its Eviction in JSON, and protobuf
    DeleteOptions when eviction is disabled), auth can-i's SelfSubjectAccessReview, create generators."""
    def kubectl(*args: str) -> str:
        env = {**os.environ, "KUBECONFIG": server.kubeconfig, "HOME": str(tmp_path)}
        proc = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    ok(call(server, "POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "drainee"}}))
    for name in ("a", "b"):
        ok(call(server, "POST", "/api/v1/namespaces/default/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"drain-{name}"},
            "spec": {"nodeName": "drainee", "containers": [{"name": "c", "image": "busybox"}]}}))
    out = kubectl("drain", "drainee", "--force", "--grace-period=0", "--disable-eviction", "--timeout=60s")
    assert "pod/drain-a deleted" in out and "node/drainee drained" in out, out
    assert ok(call(server, "GET", "/api/v1/nodes/drainee"))["spec"]["unschedulable"] is True
    assert all(call(server, "GET", f"/api/v1/namespaces/default/pods/drain-{n}")[0] == 404 for n in ("a", "b"))

    assert kubectl("auth", "can-i", "create", "statefulsets", "-n", "default").strip() == "yes"
    kubectl("create", "job", "gen-job", "--image=busybox", "--", "true")
    kubectl("create", "cronjob", "gen-cron", "--image=busybox", "--schedule=*/5 * * * *", "--", "true")
    kubectl("create", "service", "nodeport", "gen-svc", "--tcp=80:8080")
    svc = ok(call(server, "GET", "/api/v1/namespaces/default/services/gen-svc"))
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["ports"][0]["targetPort"] == 8080
    job = ok(call(server, "GET", "/apis/batch/v1/namespaces/default/jobs/gen-job"))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["true"]
    cron = ok(call(server, "GET", "/apis/batch/v1/namespaces/default/cronjobs/gen-cron"))
    assert cron["spec"]["schedule"] == "*/5 * * * *"
