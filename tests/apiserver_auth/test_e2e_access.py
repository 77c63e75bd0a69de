"""Who may do what, end to end: Debian's etcd + `python -m apiserver --authorization-mode Node,RBAC` and the
machine's real kubectl, with one kubeconfig per identity.

The matrix sends each request as raw HTTPS with the identity's credentials and checks the status code, then asks
`kubectl auth can-i` the same question with the same kubeconfig and checks the answer agrees. Then: `--list`,
`--as`, whoami, and the attacks (expired, tampered, wrong-audience and orphaned tokens; a client certificate
from another CA; RBAC escalation)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from apiserver.authn import jwt
from apiserver.authn.serviceaccount import TokenIssuer
from raftkv import pki
from tests.apiserver_auth.cluster import ISSUER, STATIC_TOKENS, AuthCluster, auth_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not (shutil.which("etcd") and shutil.which("kubectl")),
                                                  reason="needs etcd and kubectl")]
T = "/api/v1/namespaces/team"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
MERGE = {"Content-Type": "application/merge-patch+json"}


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


def pod(name: str, node: str = "", **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx:1.25"}], **spec}
    if node:
        s["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s}


def binding(name: str, role_kind: str, role: str, subject: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [subject]}


def user(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def setup(c: AuthCluster) -> None:
    for ns in ("team", "other"):
        c.kubectl_ok("admin", "create", "namespace", ns)  # protobuf body
    c.add_identity("erin", cn="erin", orgs=["devs"])
    c.add_identity("kubelet", cn="system:node:node1", orgs=["system:nodes"])
    for name, token in STATIC_TOKENS.items():
        c.add_identity(name, token=token)
    c.add_identity("badtoken", token="not-a-token-anyone-knows")
    c.kubectl_ok("admin", "create", "rolebinding", "erin-edit", "--clusterrole=edit", "--user=erin", "-n", "team")
    c.admin("POST", f"{RBAC}/namespaces/team/rolebindings", binding("vera-view", "ClusterRole", "view", user("vera")))
    c.admin("POST", f"{RBAC}/namespaces/team/rolebindings", binding("adam-admin", "ClusterRole", "admin",
                                                                  user("adam")))
    c.kubectl_ok("admin", "create", "serviceaccount", "builder", "-n", "team")
    c.kubectl_ok("admin", "create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps", "-n", "team")
    c.kubectl_ok("admin", "create", "rolebinding", "builder-cm", "--role=cm-reader",
                 "--serviceaccount=team:builder", "-n", "team")
    token = c.kubectl_ok("admin", "create", "token", "builder", "-n", "team").strip()
    c.add_identity("builder", token=token)
    c.admin("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node2"}})
    for name in ("web-secret", "other-secret"):
        c.admin("POST", f"{T}/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}})
    c.admin("POST", f"{T}/pods", pod("web", "node1", volumes=[{"name": "s", "secret": {"secretName": "web-secret"}}]))
    for name in ("cm1", "cm-del-admin", "cm-del-erin"):
        c.admin("POST", f"{T}/configmaps", cm(name))


@pytest.fixture(scope="module")
def c() -> Iterator[AuthCluster]:
    with auth_cluster(anonymous_auth=True) as cluster:
        setup(cluster)
        yield cluster


SSAR = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "team"}}}
SSR = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
LEASE = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node1"},
         "spec": {"holderIdentity": "node1"}}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
          "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
              "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}}
ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
AS_VERA = {"Impersonate-User": "vera"}
AS_ADMIN = {"Impersonate-User": "admin", "Impersonate-Group": "system:masters"}
AS_BUILDER = {"Impersonate-User": "system:serviceaccount:team:builder"}

# (who, method, path, body, extra headers, expected code, `kubectl auth can-i` arguments or None)
MATRIX: list[tuple[str, str, str, Any, dict[str, str], int, tuple[str, ...] | None]] = [
    ("admin", "GET", f"{T}/pods", None, {}, 200, ("list", "pods", "-n", "team")),
    ("admin", "POST", f"{T}/configmaps", cm("m-admin"), {}, 201, ("create", "configmaps", "-n", "team")),
    ("admin", "GET", "/api/v1/nodes", None, {}, 200, ("list", "nodes")),
    ("admin", "GET", f"{RBAC}/clusterroles", None, {}, 200, ("list", "clusterroles.rbac.authorization.k8s.io")),
    ("admin", "DELETE", f"{T}/configmaps/cm-del-admin", None, {}, 200, ("delete", "configmaps", "-n", "team")),
    ("erin", "GET", f"{T}/pods", None, {}, 200, ("list", "pods", "-n", "team")),
    ("erin", "POST", f"{T}/configmaps", cm("m-erin"), {}, 201, ("create", "configmaps", "-n", "team")),
    ("erin", "POST", f"{T}/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s-erin"}}, {},
     201, ("create", "secrets", "-n", "team")),
    ("erin", "GET", f"{T}/secrets", None, {}, 200, ("list", "secrets", "-n", "team")),
    ("erin", "DELETE", f"{T}/configmaps/cm-del-erin", None, {}, 200, ("delete", "configmaps", "-n", "team")),
    ("erin", "POST", "/apis/apps/v1/namespaces/team/deployments", DEPLOY, {}, 201,
     ("create", "deployments.apps", "-n", "team")),
    ("erin", "GET", "/api/v1/namespaces/other/pods", None, {}, 403, ("list", "pods", "-n", "other")),
    ("erin", "GET", "/api/v1/nodes", None, {}, 403, ("list", "nodes")),
    ("erin", "POST", f"{RBAC}/namespaces/team/roles", ROLE, {}, 403,
     ("create", "roles.rbac.authorization.k8s.io", "-n", "team")),
    ("erin", "DELETE", "/api/v1/namespaces/team", None, {}, 403, ("delete", "namespaces/team")),
    ("erin", "GET", "/api/v1/namespaces", None, {}, 403, ("list", "namespaces")),
    ("vera", "GET", f"{T}/pods", None, {}, 200, ("list", "pods", "-n", "team")),
    ("vera", "GET", f"{T}/configmaps/cm1", None, {}, 200, ("get", "configmaps/cm1", "-n", "team")),
    ("vera", "GET", f"{T}/secrets", None, {}, 403, ("list", "secrets", "-n", "team")),
    ("vera", "POST", f"{T}/configmaps", cm("m-vera"), {}, 403, ("create", "configmaps", "-n", "team")),
    ("vera", "DELETE", f"{T}/configmaps/cm1", None, {}, 403, ("delete", "configmaps", "-n", "team")),
    ("vera", "GET", "/api/v1/namespaces/other/configmaps", None, {}, 403, ("list", "configmaps", "-n", "other")),
    ("vera", "GET", "/api", None, {}, 200, None),
    ("vera", "GET", "/apis/apps/v1", None, {}, 200, None),
    ("vera", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", SSAR, {}, 201, None),
    ("kubelet", "GET", "/api/v1/nodes", None, {}, 200, ("list", "nodes")),
    ("kubelet", "POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}}, {},
     201, ("create", "nodes")),
    ("kubelet", "PATCH", "/api/v1/nodes/node1/status", {"status": {"phase": "Running"}}, MERGE, 200,
     ("patch", "nodes/node1", "--subresource=status")),
    ("kubelet", "PATCH", "/api/v1/nodes/node2", {"metadata": {"labels": {"x": "y"}}}, MERGE, 403,
     ("patch", "nodes/node2")),
    ("kubelet", "GET", f"{T}/pods/web", None, {}, 200, ("get", "pods/web", "-n", "team")),
    ("kubelet", "GET", f"{T}/secrets/web-secret", None, {}, 200, ("get", "secrets/web-secret", "-n", "team")),
    ("kubelet", "GET", f"{T}/secrets/other-secret", None, {}, 403, ("get", "secrets/other-secret", "-n", "team")),
    ("kubelet", "GET", f"{T}/secrets", None, {}, 403, ("list", "secrets", "-n", "team")),
    ("kubelet", "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", LEASE, {}, 201,
     ("create", "leases.coordination.k8s.io", "-n", "kube-node-lease")),
    # Authorized (a kubelet may create mirror pods) but refused by NodeRestriction admission: see below.
    ("kubelet", "POST", f"{T}/pods", pod("not-mirror", "node1"), {}, 403, None),
    ("kubelet", "PATCH", f"{T}/pods/web/status", {"status": {"phase": "Running"}}, MERGE, 200,
     ("patch", "pods/web", "--subresource=status", "-n", "team")),
    ("builder", "GET", f"{T}/configmaps", None, {}, 200, ("list", "configmaps", "-n", "team")),
    ("builder", "GET", f"{T}/pods", None, {}, 403, ("list", "pods", "-n", "team")),
    ("builder", "POST", f"{T}/configmaps", cm("m-builder"), {}, 403, ("create", "configmaps", "-n", "team")),
    ("builder", "GET", "/api/v1/namespaces/other/configmaps", None, {}, 403, ("list", "configmaps", "-n", "other")),
    ("builder", "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", SSR, {}, 201, None),
    ("nobody", "GET", "/healthz", None, {}, 200, None),
    ("nobody", "GET", "/livez", None, {}, 200, None),
    ("nobody", "GET", "/readyz", None, {}, 200, None),
    ("nobody", "GET", "/version", None, {}, 200, None),
    ("nobody", "GET", "/api", None, {}, 403, None),
    ("nobody", "GET", "/openapi/v3", None, {}, 403, None),
    ("nobody", "GET", f"{T}/pods", None, {}, 403, None),
    ("nobody", "POST", f"{T}/configmaps", cm("m-nobody"), {}, 403, None),
    ("badtoken", "GET", f"{T}/pods", None, {}, 401, None),
    ("badtoken", "GET", "/healthz", None, {}, 401, None),
    ("admin", "GET", f"{T}/secrets", None, AS_VERA, 403, ("list", "secrets", "-n", "team", "--as", "vera")),
    ("admin", "GET", f"{T}/pods", None, AS_VERA, 200, ("list", "pods", "-n", "team", "--as", "vera")),
    ("vera", "GET", f"{T}/secrets", None, AS_ADMIN, 403, None),
    ("erin", "GET", f"{T}/configmaps", None, AS_BUILDER, 200,
     ("list", "configmaps", "-n", "team", "--as", "system:serviceaccount:team:builder")),
]


def _row_id(row: tuple[Any, ...]) -> str:
    who, method, path, _, headers, code, _ = row
    as_user = headers.get("Impersonate-User")
    return f"{who}{'-as-' + as_user if as_user else ''}-{method}-{path}-{code}"


@pytest.mark.parametrize("row", MATRIX, ids=[_row_id(r) for r in MATRIX])
def test_access_matrix(c: AuthCluster, row: tuple[Any, ...]) -> None:
    who, method, path, body, headers, code, can_i = row
    r = c.request(who, method, path, body, headers)
    assert r.code == code, f"{who} {method} {path}: {r.code} {r.body}"
    if code in (401, 403):
        assert r.body["kind"] == "Status" and r.body["code"] == code
        assert r.body["reason"] == ("Unauthorized" if code == 401 else "Forbidden")
    if can_i is not None:
        answer = c.kubectl(who, "auth", "can-i", *can_i)
        assert answer.stdout.split()[0] == ("yes" if code in (200, 201) else "no"), answer.stderr


def test_authorization_is_not_admission(c: AuthCluster) -> None:
    """A kubelet is authorized to create pods (mirror pods), so can-i says yes; NodeRestriction admission then
    refuses a pod that is not a mirror pod of its own node, with its own message."""
    assert c.kubectl("kubelet", "auth", "can-i", "create", "pods", "-n", "team").stdout.strip() == "yes"
    r = c.request("kubelet", "POST", f"{T}/pods", pod("not-mirror-2", "node1"))
    assert r.code == 403
    assert 'node "node1" can only create mirror pods' in r.body["message"]


def test_forbidden_message_is_kube_apiservers(c: AuthCluster) -> None:
    r = c.kubectl("vera", "get", "secrets", "-n", "team")
    assert r.returncode != 0
    assert ('Error from server (Forbidden): secrets is forbidden: User "vera" cannot list resource "secrets" '
            'in API group "" in the namespace "team"') in r.stderr
    r = c.kubectl("badtoken", "get", "pods", "-n", "team")
    assert "Unauthorized" in r.stderr


def test_can_i_list_shows_the_bound_rules(c: AuthCluster) -> None:
    out = c.kubectl_ok("vera", "auth", "can-i", "--list", "-n", "team")
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "[get list watch]" in rows["pods"]
    assert "secrets" not in rows
    assert "selfsubjectaccessreviews.authorization.k8s.io" in rows
    admin = c.kubectl_ok("admin", "auth", "can-i", "--list", "-n", "team")
    assert any(line.split()[0] == "*.*" and "[*]" in line for line in admin.splitlines())


def test_whoami_for_each_kind_of_credential(c: AuthCluster) -> None:
    assert "system:masters" in c.kubectl_ok("admin", "auth", "whoami")
    kubelet = c.kubectl_ok("kubelet", "auth", "whoami", "-o", "json")
    info = json.loads(kubelet)["status"]["userInfo"]
    assert info["username"] == "system:node:node1"
    assert info["groups"] == ["system:nodes", "system:authenticated"]
    sa = json.loads(c.kubectl_ok("builder", "auth", "whoami", "-o", "json"))["status"]["userInfo"]
    assert sa["username"] == "system:serviceaccount:team:builder"
    assert set(sa["groups"]) == {"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"}
    vera = json.loads(c.kubectl_ok("vera", "auth", "whoami", "-o", "json"))["status"]["userInfo"]
    assert vera["username"] == "vera" and vera["uid"] == "uid-vera"


def test_token_review_and_subject_access_review(c: AuthCluster) -> None:
    review = c.admin("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": c.ids["builder"].token}})
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == "system:serviceaccount:team:builder"
    assert "token" not in review["spec"]
    bad = c.admin("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "nope"}})
    assert bad["status"]["authenticated"] is False
    sar = c.admin("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "erin", "groups": ["devs"], "resourceAttributes": {
            "verb": "create", "resource": "secrets", "namespace": "team"}}})
    assert sar["status"]["allowed"] is True and "erin-edit" in sar["status"]["reason"]
    # Reviewing somebody else needs a grant (vera has none); reviewing yourself does not.
    r = c.request("vera", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "erin", "resourceAttributes": {"verb": "get", "resource": "pods"}}})
    assert r.code == 403


# --------------------------------------------------------------------------------------------- attacks

def _sa_uid(c: AuthCluster, name: str) -> str:
    return str(c.admin("GET", f"{T}/serviceaccounts/{name}")["metadata"]["uid"])


def test_expired_token_is_refused(c: AuthCluster) -> None:
    with open(c.signing_key, "rb") as f:
        issuer = TokenIssuer(jwt.load_private_key(f.read()), ISSUER)
    now = time.time()
    fresh = issuer.bound_token("team", "builder", _sa_uid(c, "builder"), [ISSUER], now, 600)
    assert c.request(None, "GET", f"{T}/configmaps", token=fresh).code == 200, "the minted token itself is good"
    expired = issuer.bound_token("team", "builder", _sa_uid(c, "builder"), [ISSUER], now - 7200, 600)
    r = c.request(None, "GET", f"{T}/configmaps", token=expired)
    assert r.code == 401 and r.body["reason"] == "Unauthorized"


def test_tampered_token_is_refused(c: AuthCluster) -> None:
    header, payload, sig = c.ids["builder"].token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "system:serviceaccount:kube-system:generic-garbage-collector"
    claims["kubernetes.io"]["namespace"] = "kube-system"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), sig])
    assert c.request(None, "GET", "/api/v1/secrets", token=forged).code == 401


def test_wrong_audience_token_is_refused(c: AuthCluster) -> None:
    token = c.kubectl_ok("admin", "create", "token", "builder", "-n", "team", "--audience=vault").strip()
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["aud"] == ["vault"]
    assert c.request(None, "GET", f"{T}/configmaps", token=token).code == 401


def test_token_dies_with_its_service_account(c: AuthCluster) -> None:
    c.kubectl_ok("admin", "create", "serviceaccount", "temp", "-n", "team")
    token = c.kubectl_ok("admin", "create", "token", "temp", "-n", "team").strip()
    assert c.request(None, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", SSR, token=token).code == 201
    c.kubectl_ok("admin", "delete", "serviceaccount", "temp", "-n", "team")
    assert c.request(None, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", SSR, token=token).code == 401


def test_client_cert_from_another_ca_is_refused_at_the_handshake(c: AuthCluster) -> None:
    rogue = os.path.join(c.tmp, "rogue-ca")
    pki.init_ca(rogue)
    cert = pki.issue(rogue, "client", "mallory", cn="mallory", orgs=["system:masters"])
    ctx = ssl.create_default_context(cafile=c.srv.ca)
    ctx.load_cert_chain(cert.cert, cert.key)
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionResetError)):
        with urllib.request.urlopen(f"{c.srv.url}/api/v1/namespaces/team/secrets", context=ctx, timeout=10) as r:
            r.read()
    ident = c.add_identity("mallory-kubeconfig")
    from apiserver.kubeconfig import write_kubeconfig
    write_kubeconfig(ident.kubeconfig, c.srv.url, ca_file=c.srv.ca, cert_file=cert.cert, key_file=cert.key)
    r2 = c.kubectl("mallory-kubeconfig", "get", "secrets", "-n", "team")
    # kubectl (TLS 1.3) sees the server drop the connection during the handshake (reported as an EOF or a
    # reset, depending on timing): no request was ever served.
    assert r2.returncode != 0 and ("EOF" in r2.stderr or "connection reset by peer" in r2.stderr), r2.stderr
    assert "Error from server" not in r2.stderr


def test_rbac_escalation_is_refused(c: AuthCluster) -> None:
    # adam administers namespace team (ClusterRole admin): he may write roles and bindings there, but only with
    # permissions he holds himself.
    grab = {**ROLE, "metadata": {"name": "grab-nodes"},
            "rules": [{"apiGroups": [""], "resources": ["nodes", "secrets"], "verbs": ["get", "delete"]}]}
    r = c.request("adam", "POST", f"{RBAC}/namespaces/team/roles", grab)
    assert r.code == 403, r.body
    assert 'is attempting to grant RBAC permissions not currently held' in r.body["message"]
    assert '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "delete"]}' in r.body["message"]
    r = c.request("adam", "POST", f"{RBAC}/namespaces/team/rolebindings",
                  binding("adam-root", "ClusterRole", "cluster-admin", user("adam")))
    assert r.code == 403, r.body
    assert c.request("adam", "POST", f"{RBAC}/namespaces/team/roles", {**ROLE, "metadata": {"name": "ok"}}).code == 201
    assert c.request("adam", "POST", f"{RBAC}/namespaces/team/rolebindings",
                     binding("adam-view", "ClusterRole", "view", user("someone"))).code == 201
    # kubectl shows the same refusal.
    out = c.kubectl("adam", "create", "rolebinding", "root2", "--clusterrole=cluster-admin", "--user=adam",
                    "-n", "team")
    assert out.returncode != 0 and "attempting to grant RBAC permissions not currently held" in out.stderr


def test_a_new_binding_takes_effect_on_the_next_request(c: AuthCluster) -> None:
    assert c.kubectl("builder", "auth", "can-i", "list", "pods", "-n", "team").stdout.strip() == "no"
    c.kubectl_ok("admin", "create", "rolebinding", "builder-view", "--clusterrole=view",
                 "--serviceaccount=team:builder", "-n", "team")
    assert c.kubectl("builder", "auth", "can-i", "list", "pods", "-n", "team").stdout.strip() == "yes"
    assert c.request("builder", "GET", f"{T}/pods").code == 200
    c.kubectl_ok("admin", "delete", "rolebinding", "builder-view", "-n", "team")
    assert c.request("builder", "GET", f"{T}/pods").code == 403


def test_without_anonymous_auth_nothing_is_reachable_without_credentials() -> None:
    with auth_cluster(anonymous_auth=False) as c:
        for path in ("/healthz", "/version", "/api", f"{T}/pods"):
            r = c.request("nobody", "GET", path)
            assert r.code == 401 and r.body["reason"] == "Unauthorized", path
        out = c.kubectl("nobody", "get", "pods", stdin="")
        # kubectl answers a 401 by asking for a username (then fails on the closed stdin).
        assert out.returncode != 0 and "Please enter Username" in out.stdout, (out.stdout, out.stderr)
