"""Each admission plugin's effect seen through the API, with the real kubectl where it shows the effect:
ResourceQuota (the real message; never exceeded by concurrent creates), LimitRanger defaults and limits,
AlwaysPullImages, ServiceAccount, DefaultTolerationSeconds, NamespaceLifecycle, PodSecurity, and a tiny HTTPS
webhook server run by the test that patches one object and rejects another."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from raftkv import pki
from tests.apiserver_auth.cluster import AuthCluster, auth_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not (shutil.which("etcd") and shutil.which("kubectl")),
                                                  reason="needs etcd and kubectl")]
CONCURRENT_CREATES = 12
QUOTA_LIMIT = 5


@pytest.fixture(scope="module")
def c() -> Iterator[AuthCluster]:
    with auth_cluster(anonymous_auth=False) as cluster:
        yield cluster


def ns(c: AuthCluster, name: str, **labels: str) -> str:
    c.admin("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": name, "labels": labels}})
    return f"/api/v1/namespaces/{name}"


def pod(name: str, **container: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25", **container}]}}


def quota(name: str, **hard: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name}, "spec": {"hard": hard}}


def test_resource_quota_refuses_with_the_real_message_and_the_controller_releases_on_delete(c: AuthCluster) -> None:
    base = ns(c, "quota")
    c.create_quota("quota", "q", {"pods": "2"})
    c.kubectl_ok("admin", "run", "p1", "--image=nginx:1.25", "-n", "quota")
    c.kubectl_ok("admin", "run", "p2", "--image=nginx:1.25", "-n", "quota")
    r = c.kubectl("admin", "run", "p3", "--image=nginx:1.25", "-n", "quota")
    assert r.returncode != 0
    assert ('Error from server (Forbidden): pods "p3" is forbidden: exceeded quota: q, requested: pods=1, '
            'used: pods=2, limited: pods=2') in r.stderr
    used = c.admin("GET", f"{base}/resourcequotas/q")["status"]
    assert used == {"hard": {"pods": "2"}, "used": {"pods": "2"}}
    c.kubectl_ok("admin", "delete", "pod", "p1", "-n", "quota", "--wait=false")
    c.wait_quota("quota", "q", lambda st: st.get("used") == {"pods": "1"}, "p1's pod given back")
    c.kubectl_ok("admin", "run", "p3", "--image=nginx:1.25", "-n", "quota")
    out = c.kubectl_ok("admin", "describe", "quota", "q", "-n", "quota")
    assert "pods" in out and "2     2" in out


def test_quota_counts_what_existed_before_it(c: AuthCluster) -> None:
    base = ns(c, "quota-late")
    for i in range(3):
        c.admin("POST", f"{base}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"m{i}"}})
    created = c.admin("POST", f"{base}/resourcequotas", {**quota("q", configmaps="3"),
                                                          "status": {"hard": {"configmaps": "99"}, "used": {}}})
    assert created["status"] == {}, "status on create is emptied: only the quota controller writes it"
    status = c.wait_quota("quota-late", "q", lambda st: bool(st.get("used")), "its first status")
    assert status == {"hard": {"configmaps": "3"}, "used": {"configmaps": "3"}}
    r = c.request("admin", "POST", f"{base}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                          "metadata": {"name": "m3"}})
    assert r.code == 403 and "exceeded quota: q" in r.body["message"]


def test_quota_is_never_exceeded_under_concurrent_creates(c: AuthCluster) -> None:
    base = ns(c, "race")
    c.create_quota("race", "q", {"configmaps": str(QUOTA_LIMIT)})

    def create(i: int) -> int:
        return c.request("admin", "POST", f"{base}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"m{i}"}}).code

    with ThreadPoolExecutor(CONCURRENT_CREATES) as pool:
        codes = list(pool.map(create, range(CONCURRENT_CREATES)))
    assert sorted(codes) == [201] * QUOTA_LIMIT + [403] * (CONCURRENT_CREATES - QUOTA_LIMIT), codes
    assert len(c.admin("GET", f"{base}/configmaps")["items"]) == QUOTA_LIMIT
    assert c.admin("GET", f"{base}/resourcequotas/q")["status"]["used"] == {"configmaps": str(QUOTA_LIMIT)}


def test_limit_range_defaults_and_maximum(c: AuthCluster) -> None:
    base = ns(c, "limits")
    c.admin("POST", f"{base}/limitranges", {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
                                            "spec": {"limits": [{"type": "Container",
                                                                 "default": {"cpu": "500m", "memory": "256Mi"},
                                                                 "defaultRequest": {"cpu": "100m"},
                                                                 "max": {"cpu": "1"}}]}})
    c.kubectl_ok("admin", "run", "d", "--image=nginx:1.25", "-n", "limits")
    got = c.admin("GET", f"{base}/pods/d")
    res = got["spec"]["containers"][0]["resources"]
    assert res == {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}}
    assert got["metadata"]["annotations"]["kubernetes.io/limit-ranger"].startswith("LimitRanger plugin set: ")
    r = c.request("admin", "POST", f"{base}/pods", pod("big", resources={"limits": {"cpu": "2"}}))
    assert r.code == 403
    assert r.body["message"] == 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'


def test_always_pull_images_service_account_and_default_tolerations(c: AuthCluster) -> None:
    base = ns(c, "pull")
    created = c.admin("POST", f"{base}/pods", pod("never", imagePullPolicy="Never"))
    spec = created["spec"]
    assert spec["containers"][0]["imagePullPolicy"] == "Always"
    assert spec["serviceAccountName"] == "default"
    assert any(v["name"].startswith("kube-api-access-") for v in spec["volumes"])
    assert {t["key"] for t in spec["tolerations"]} == {"node.kubernetes.io/not-ready",
                                                        "node.kubernetes.io/unreachable"}
    out = c.kubectl_ok("admin", "get", "pod", "never", "-n", "pull", "-o",
                       "jsonpath={.spec.containers[0].imagePullPolicy}")
    assert out == "Always"
    r = c.request("admin", "POST", f"{base}/pods", {**pod("ghost"), "spec": {
        **pod("ghost")["spec"], "serviceAccountName": "missing"}})
    assert r.code == 403 and 'serviceaccount "missing" not found' in r.body["message"]


def test_namespace_lifecycle(c: AuthCluster) -> None:
    r = c.kubectl("admin", "delete", "namespace", "kube-system")
    assert r.returncode != 0 and "Forbidden" in r.stderr
    r2 = c.request("admin", "POST", "/api/v1/namespaces/nowhere/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert r2.code == 404 and r2.body["message"] == 'namespaces "nowhere" not found'


def test_pod_security_by_namespace_label(c: AuthCluster) -> None:
    base = ns(c, "baseline", **{"pod-security.kubernetes.io/enforce": "baseline"})
    r = c.request("admin", "POST", f"{base}/pods", {**pod("hostnet"), "spec": {
        **pod("hostnet")["spec"], "hostNetwork": True}})
    assert r.code == 403
    assert 'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)' in r.body["message"]
    assert c.request("admin", "POST", f"{base}/pods", pod("fine")).code == 201


# --------------------------------------------------------------------------------------------- webhooks

class _Hook(BaseHTTPRequestHandler):
    """/mutate labels every object patched=yes; /validate refuses objects labelled reject=yes."""

    def do_POST(self) -> None:  # noqa: N802 — http.server's naming
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        req = review["request"]
        labels = ((req["object"] or {}).get("metadata") or {}).get("labels") or {}
        resp: dict[str, Any] = {"uid": req["uid"], "allowed": True}
        if self.path == "/mutate":
            ops = [{"op": "add", "path": "/metadata/labels", "value": {**labels, "patched": "yes"}}]
            resp.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(ops).encode()).decode())
        elif labels.get("reject") == "yes":
            resp = {"uid": req["uid"], "allowed": False,
                    "status": {"code": 403, "message": "configmaps labelled reject=yes are refused"}}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — quiet test output
        pass


@pytest.fixture
def webhook_server(c: AuthCluster) -> Iterator[tuple[str, str]]:
    """(base URL, base64 CA bundle) of an HTTPS webhook on a free loopback port, with its own CA."""
    certs = os.path.join(c.tmp, "webhook-pki")
    pki.init_ca(certs)
    issued = pki.issue(certs, "server", "webhook", hosts=["127.0.0.1"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(issued.cert, issued.key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with open(os.path.join(certs, "ca.crt"), "rb") as f:
        bundle = base64.b64encode(f.read()).decode()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", bundle
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _hook_config(kind: str, name: str, url: str, bundle: str, failure: str = "Fail") -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name},
            "webhooks": [{"name": f"{name}.raftkv.test", "clientConfig": {"url": url, "caBundle": bundle},
                          "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                     "resources": ["configmaps"]}],
                          "namespaceSelector": {"matchLabels": {"webhooks": "on"}},
                          "sideEffects": "None", "admissionReviewVersions": ["v1"], "failurePolicy": failure,
                          "timeoutSeconds": 5}]}


def test_webhooks_patch_and_reject(c: AuthCluster, webhook_server: tuple[str, str]) -> None:
    url, bundle = webhook_server
    base = ns(c, "hooks", webhooks="on")
    reg = "/apis/admissionregistration.k8s.io/v1"
    c.admin("POST", f"{reg}/mutatingwebhookconfigurations",
            _hook_config("MutatingWebhookConfiguration", "label", f"{url}/mutate", bundle))
    c.admin("POST", f"{reg}/validatingwebhookconfigurations",
            _hook_config("ValidatingWebhookConfiguration", "deny", f"{url}/validate", bundle))
    try:
        c.kubectl_ok("admin", "create", "-f", "-", "-n", "hooks", stdin=json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok", "labels": {"team": "a"}}}))
        labels = c.admin("GET", f"{base}/configmaps/ok")["metadata"]["labels"]
        assert labels == {"team": "a", "patched": "yes"}
        r = c.kubectl("admin", "create", "-f", "-", "-n", "hooks", stdin=json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad", "labels": {"reject": "yes"}}}))
        assert r.returncode != 0
        assert ('admission webhook "deny.raftkv.test" denied the request: configmaps labelled reject=yes are '
                'refused') in r.stderr
        assert c.request("admin", "GET", f"{base}/configmaps/bad").code == 404
        # Namespaces without the label are not sent to the hooks.
        plain = ns(c, "nohooks")
        made = c.admin("POST", f"{plain}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                       "metadata": {"name": "x", "labels": {"reject": "yes"}}})
        assert made["metadata"]["labels"] == {"reject": "yes"}
    finally:
        c.admin("DELETE", f"{reg}/mutatingwebhookconfigurations/label")
        c.admin("DELETE", f"{reg}/validatingwebhookconfigurations/deny")


def test_unreachable_webhook_honours_failure_policy(c: AuthCluster) -> None:
    base = ns(c, "deadhooks", webhooks="on")
    reg = "/apis/admissionregistration.k8s.io/v1"
    dead = "https://127.0.0.1:9/validate"  # the discard port: nothing listens
    c.admin("POST", f"{reg}/validatingwebhookconfigurations",
            _hook_config("ValidatingWebhookConfiguration", "dead", dead, ""))
    try:
        r = c.request("admin", "POST", f"{base}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                              "metadata": {"name": "x"}})
        assert r.code == 500 and 'failed calling webhook "dead.raftkv.test"' in r.body["message"]
    finally:
        c.admin("DELETE", f"{reg}/validatingwebhookconfigurations/dead")
    c.admin("POST", f"{reg}/validatingwebhookconfigurations",
            _hook_config("ValidatingWebhookConfiguration", "dead-ignored", dead, "", failure="Ignore"))
    try:
        assert c.request("admin", "POST", f"{base}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                                 "metadata": {"name": "y"}}).code == 201
    finally:
        c.admin("DELETE", f"{reg}/validatingwebhookconfigurations/dead-ignored")
