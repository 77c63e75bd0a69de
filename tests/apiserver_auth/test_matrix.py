"""End to end through the pure cores: real credentials → union authenticator → Node,RBAC authorizer over the
bootstrap policy plus a few bindings, for six identities and ~50 requests, each ALLOW or DENY as on a real cluster
running ``--authorization-mode=Node,RBAC --anonymous-auth=true``."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from apiserver.authn.serviceaccount import ServiceAccountAuthenticator, TokenIssuer
from apiserver.authn.tokenfile import TokenFileAuthenticator
from apiserver.authn.types import AuthRequest, UserInfo
from apiserver.authn.union import UnionAuthenticator, build_authenticator
from apiserver.authn.x509 import X509Authenticator
from apiserver.authz import bootstrap
from apiserver.authz.modes import build_authorizer
from apiserver.authz.node import DictPodGraph
from apiserver.authz.rbac import DictLister
from apiserver.authz.types import Attributes, Decision
from tests.apiserver_auth.fixtures import NOW, binding, client_cert, pod

pytestmark = pytest.mark.unit
ISSUER = "https://kubernetes.default.svc"
SA_KEY = ec.generate_private_key(ec.SECP256R1())
SA_OBJECTS = {("serviceaccounts", "team", "builder"): {"metadata": {"name": "builder", "uid": "sa-1"}}}


def authenticator() -> UnionAuthenticator:
    sa = ServiceAccountAuthenticator([SA_KEY.public_key()], [ISSUER], [ISSUER],
                                     lambda r, ns, n: SA_OBJECTS.get((r, ns, n)))
    tokens = TokenFileAuthenticator.from_csv("editor-token,erin,2001,\nviewer-token,victor,2002,\"qa\"\n")
    return build_authenticator([X509Authenticator(), tokens, sa], anonymous=True)


def credentials() -> dict[str, AuthRequest]:
    sa_token = TokenIssuer(SA_KEY, ISSUER).bound_token("team", "builder", "sa-1", [ISSUER], NOW)
    return {
        "admin": AuthRequest(peer_certificate=client_cert("kubernetes-admin", ("system:masters",))),
        "editor": AuthRequest(headers={"Authorization": "Bearer editor-token"}),
        "viewer": AuthRequest(headers={"Authorization": "Bearer viewer-token"}),
        "kubelet": AuthRequest(peer_certificate=client_cert("system:node:n1", ("system:nodes",))),
        "sa": AuthRequest(headers={"Authorization": f"Bearer {sa_token}"}),
        "anonymous": AuthRequest(),
    }


def authorizer():  # type: ignore[no-untyped-def]
    objs = bootstrap.policy_objects() + [
        binding("erin-edit", "team", "ClusterRole", "edit", [{"kind": "User", "name": "erin"}]),
        binding("qa-view", "team", "ClusterRole", "view", [{"kind": "Group", "name": "qa"}]),
        binding("builder-pods", "team", "Role", "pod-creator",
                [{"kind": "ServiceAccount", "name": "builder", "namespace": "team"}]),
        {"kind": "Role", "metadata": {"name": "pod-creator", "namespace": "team"},
         "rules": [{"verbs": ["create", "get"], "apiGroups": [""], "resources": ["pods"]}]},
    ]
    graph = DictPodGraph([pod("web", "team", node="n1",
                              volumes=[{"name": "s", "secret": {"secretName": "web-tls"}}]),
                          pod("db", "team", node="n2")])
    return build_authorizer(["Node", "RBAC"], DictLister(objs), graph)


A, D = "ALLOW", "DENY"
R = tuple[str, str, str, str, str, str, str]  # verb, group, resource, sub, namespace, name, path
CASES: list[tuple[str, R, str]] = [
    ("admin", ("delete", "", "nodes", "", "", "n1", ""), A),
    ("admin", ("create", "rbac.authorization.k8s.io", "clusterroles", "", "", "", ""), A),
    ("admin", ("get", "", "secrets", "", "kube-system", "x", ""), A),
    ("admin", ("get", "", "", "", "", "", "/metrics"), A),
    ("admin", ("impersonate", "", "users", "", "", "bob", ""), A),
    ("editor", ("create", "apps", "deployments", "", "team", "", ""), A),
    ("editor", ("update", "apps", "deployments", "scale", "team", "web", ""), A),
    ("editor", ("get", "", "secrets", "", "team", "s", ""), A),
    ("editor", ("create", "", "pods", "exec", "team", "web", ""), A),
    ("editor", ("get", "", "pods", "log", "team", "web", ""), A),
    ("editor", ("delete", "batch", "jobs", "", "team", "j", ""), A),
    ("editor", ("create", "rbac.authorization.k8s.io", "rolebindings", "", "team", "", ""), D),
    ("editor", ("create", "apps", "deployments", "", "other", "", ""), D),
    ("editor", ("list", "", "nodes", "", "", "", ""), D),
    ("editor", ("delete", "", "namespaces", "", "", "team", ""), D),
    ("editor", ("get", "", "", "", "", "", "/api/v1"), A),
    ("editor", ("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "", ""), A),
    ("viewer", ("list", "", "pods", "", "team", "", ""), A),
    ("viewer", ("watch", "apps", "deployments", "", "team", "", ""), A),
    ("viewer", ("get", "", "pods", "log", "team", "web", ""), A),
    ("viewer", ("get", "", "secrets", "", "team", "s", ""), D),
    ("viewer", ("delete", "", "pods", "", "team", "web", ""), D),
    ("viewer", ("create", "", "pods", "exec", "team", "web", ""), D),
    ("viewer", ("list", "", "pods", "", "", "", ""), D),
    ("viewer", ("get", "", "", "", "", "", "/healthz"), A),
    ("kubelet", ("get", "", "secrets", "", "team", "web-tls", ""), A),
    ("kubelet", ("get", "", "secrets", "", "team", "db-password", ""), D),
    ("kubelet", ("list", "", "secrets", "", "team", "", ""), D),
    ("kubelet", ("update", "", "nodes", "status", "", "n1", ""), A),
    ("kubelet", ("update", "", "nodes", "status", "", "n2", ""), D),
    ("kubelet", ("patch", "", "pods", "status", "team", "web", ""), A),
    ("kubelet", ("patch", "", "pods", "status", "team", "db", ""), D),
    ("kubelet", ("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1", ""), A),
    ("kubelet", ("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n2", ""), D),
    ("kubelet", ("list", "", "pods", "", "", "", ""), A),
    ("kubelet", ("create", "", "events", "", "team", "", ""), A),
    ("kubelet", ("delete", "apps", "deployments", "", "team", "x", ""), D),
    ("sa", ("create", "", "pods", "", "team", "", ""), A),
    ("sa", ("get", "", "pods", "", "team", "p", ""), A),
    ("sa", ("delete", "", "pods", "", "team", "p", ""), D),
    ("sa", ("create", "", "pods", "", "default", "", ""), D),
    ("sa", ("get", "", "secrets", "", "team", "s", ""), D),
    ("sa", ("get", "", "", "", "", "", "/apis"), A),
    ("sa", ("create", "authorization.k8s.io", "selfsubjectrulesreviews", "", "", "", ""), A),
    ("anonymous", ("get", "", "", "", "", "", "/healthz"), A),
    ("anonymous", ("get", "", "", "", "", "", "/version"), A),
    ("anonymous", ("get", "", "", "", "", "", "/api"), D),
    ("anonymous", ("list", "", "pods", "", "default", "", ""), D),
    ("anonymous", ("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "", ""), D),
    ("anonymous", ("get", "", "namespaces", "", "", "default", ""), D),
]

_AUTHN = authenticator()
_CREDS = credentials()
_AUTHZ = authorizer()


def identity(name: str) -> UserInfo:
    user, ok, err = _AUTHN.authenticate(_CREDS[name], NOW)
    assert ok and user is not None, f"{name} failed to authenticate: {err}"
    return user


def test_identities() -> None:
    assert identity("admin").groups == ("system:masters", "system:authenticated")
    assert identity("kubelet").name == "system:node:n1"
    assert identity("sa").name == "system:serviceaccount:team:builder"
    assert identity("anonymous").groups == ("system:unauthenticated",)
    assert len(CASES) >= 50


@pytest.mark.parametrize("who,req,expected", CASES,
                         ids=[f"{w}-{r[0]}-{r[2] or r[6]}{'/' + r[3] if r[3] else ''}-{r[4] or 'cluster'}-{e}"
                              for w, r, e in CASES])
def test_matrix(who: str, req: R, expected: str) -> None:
    verb, group, resource, sub, namespace, name, path = req
    attrs = Attributes(identity(who), verb, group, resource, sub, namespace, name,
                       is_resource_request=not path, path=path)
    decision, reason = _AUTHZ.authorize(attrs)
    got = A if decision == Decision.ALLOW else D
    assert got == expected, f"{who} {verb} {resource or path}: {decision.name} ({reason})"
