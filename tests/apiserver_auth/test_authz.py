"""Authorization: RBAC rule matching, bindings, aggregation, escalation, reviews, the Node authorizer, modes."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.authn.types import UserInfo
from apiserver.authz import bootstrap
from apiserver.authz.modes import build_authorizer
from apiserver.authz.node import DictPodGraph, NodeAuthorizer
from apiserver.authz.rbac import (
    DictLister,
    EscalationError,
    RBACAuthorizer,
    aggregate_all,
    check_binding_write,
    check_role_write,
    rule_allows,
)
from apiserver.authz.review import (
    ReviewError,
    self_subject_access_review,
    self_subject_rules_review,
    subject_access_review,
)
from apiserver.authz.types import Attributes, Decision, forbidden_message
from tests.apiserver_auth.fixtures import binding, meta, pod, role

pytestmark = pytest.mark.unit
ALICE = UserInfo("alice", groups=("dev", "system:authenticated"))


def res(verb: str, resource: str, ns: str = "", name: str = "", group: str = "", sub: str = "",
        user: UserInfo = ALICE) -> Attributes:
    return Attributes(user, verb, group, resource, sub, ns, name)


def url(verb: str, path: str, user: UserInfo = ALICE) -> Attributes:
    return Attributes(user, verb, is_resource_request=False, path=path)


RULE_CASES: list[tuple[dict[str, Any], Attributes, bool]] = [
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("get", "pods", "ns"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("list", "pods", "ns"), False),
    ({"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]}, res("deletecollection", "pods", "ns"), True),
    ({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]}, res("get", "pods", "ns"), False),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["deployments"]},
     res("get", "deployments", "ns", group="apps"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("get", "pods", "ns", sub="log"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, res("get", "pods", "ns", sub="log"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, res("get", "pods", "ns"), False),
    ({"verbs": ["update"], "apiGroups": ["apps"], "resources": ["*/scale"]},
     res("update", "deployments", "ns", group="apps", sub="scale"), True),
    ({"verbs": ["update"], "apiGroups": ["apps"], "resources": ["*/scale"]},
     res("update", "deployments", "ns", group="apps"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["*"]}, res("get", "pods", "ns", sub="exec"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"]},
     res("get", "configmaps", "ns", "cfg"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"]},
     res("get", "configmaps", "ns", "other"), False),
    ({"verbs": ["list"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"]},
     res("list", "configmaps", "ns"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("get", "/healthz"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("get", "/healthz/etcd"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}, url("get", "/apis/apps/v1"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}, url("get", "/api"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, url("post", "/x"), False),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*"]}, url("get", "/healthz"), False),
]


@pytest.mark.parametrize("rule,attrs,allowed", RULE_CASES)
def test_rule_matching(rule: dict[str, Any], attrs: Attributes, allowed: bool) -> None:
    assert rule_allows(attrs, rule) is allowed


def rbac_world() -> DictLister:
    return DictLister([
        role("pod-reader", "team", [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]),
        {"kind": "ClusterRole", "metadata": meta("secret-reader"),
         "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]},
        binding("alice-pods", "team", "Role", "pod-reader", [{"kind": "User", "name": "alice"}]),
        binding("dev-secrets", "team", "ClusterRole", "secret-reader", [{"kind": "Group", "name": "dev"}]),
        binding("sa-secrets", "other", "ClusterRole", "secret-reader",
                [{"kind": "ServiceAccount", "name": "robot"}]),  # namespace defaults to the binding's
        binding("dangling", "team", "Role", "missing", [{"kind": "User", "name": "alice"}]),
    ])


@pytest.mark.parametrize("attrs,decision", [
    (res("get", "pods", "team"), Decision.ALLOW),
    (res("get", "pods", "elsewhere"), Decision.NO_OPINION),
    (res("get", "pods"), Decision.NO_OPINION),  # a RoleBinding never grants cluster-wide
    (res("get", "secrets", "team", "s"), Decision.ALLOW),  # via group dev
    (res("delete", "pods", "team"), Decision.NO_OPINION),
    (res("get", "secrets", "other", user=UserInfo("system:serviceaccount:other:robot")), Decision.ALLOW),
    (res("get", "secrets", "other", user=UserInfo("system:serviceaccount:team:robot")), Decision.NO_OPINION),
])
def test_rbac_bindings(attrs: Attributes, decision: Decision) -> None:
    assert RBACAuthorizer(rbac_world()).authorize(attrs)[0] == decision


def test_rbac_allow_reason_names_the_binding() -> None:
    assert RBACAuthorizer(rbac_world()).authorize(res("list", "pods", "team")) == (
        Decision.ALLOW, 'RBAC: allowed by RoleBinding "alice-pods" of namespace "team"')


@pytest.mark.parametrize("attrs,msg", [
    (res("list", "pods", "default"),
     'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"'),
    (res("get", "deployments", "ns", "web", group="apps", sub="scale"),
     'deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments/scale" in API group '
     '"apps" in the namespace "ns"'),
    (res("list", "nodes"), 'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the '
                           'cluster scope'),
    (url("get", "/metrics"), 'forbidden: User "alice" cannot get path "/metrics"'),
])
def test_forbidden_messages(attrs: Attributes, msg: str) -> None:
    assert forbidden_message(attrs) == msg


def test_aggregation_fills_admin_edit_view() -> None:
    roles = {r["metadata"]["name"]: r for r in aggregate_all(bootstrap.cluster_roles())}
    view, edit, admin = (roles[n]["rules"] for n in ("view", "edit", "admin"))
    assert view and all(r in edit for r in view) and all(r in admin for r in edit)
    a = RBACAuthorizer(DictLister([roles["view"], roles["edit"]]))
    assert a.resolver.lister.get_cluster_role("view")  # sanity: the lister holds them
    pods_get = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
    secrets_get = {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}
    probe = Attributes(ALICE, "get", "", "pods", "", "ns", "p")
    assert any(rule_allows(probe, r) for r in view) and rule_allows(probe, pods_get)
    secret_probe = Attributes(ALICE, "get", "", "secrets", "", "ns", "s")
    assert not any(rule_allows(secret_probe, r) for r in view), "view must not read secrets"
    assert any(rule_allows(secret_probe, r) for r in edit) and rule_allows(secret_probe, secrets_get)


def test_aggregation_with_match_expressions_and_new_role() -> None:
    target = {"kind": "ClusterRole", "metadata": meta("monitoring"), "rules": [],
              "aggregationRule": {"clusterRoleSelectors": [
                  {"matchExpressions": [{"key": "team", "operator": "In", "values": ["obs", "sre"]}]}]}}
    feeder = {"kind": "ClusterRole", "metadata": meta("prom", labels={"team": "obs"}),
              "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["endpoints"]}]}
    other = {"kind": "ClusterRole", "metadata": meta("x", labels={"team": "web"}),
             "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}
    out = {r["metadata"]["name"]: r for r in aggregate_all([target, feeder, other])}
    assert out["monitoring"]["rules"] == feeder["rules"]


def escalation_world() -> RBACAuthorizer:
    return RBACAuthorizer(DictLister([
        role("pod-admin", "team", [{"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]},
                                   {"verbs": ["create", "update"], "apiGroups": ["rbac.authorization.k8s.io"],
                                    "resources": ["roles", "rolebindings"]}]),
        binding("alice", "team", "Role", "pod-admin", [{"kind": "User", "name": "alice"}]),
        role("secrets", "team", [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]}]),
        role("binder", "team", [{"verbs": ["bind"], "apiGroups": ["rbac.authorization.k8s.io"],
                                 "resources": ["roles"], "resourceNames": ["secrets"]}]),
        binding("carol-binder", "team", "Role", "binder", [{"kind": "User", "name": "carol"}]),
        role("escalator", "team", [{"verbs": ["escalate"], "apiGroups": ["rbac.authorization.k8s.io"],
                                    "resources": ["roles"]}]),
        binding("dave-esc", "team", "Role", "escalator", [{"kind": "User", "name": "dave"}]),
    ]))


def test_escalation_allowed_when_rules_are_held() -> None:
    check_role_write(ALICE, role("sub", "team", [{"verbs": ["get", "delete"], "apiGroups": [""],
                                                   "resources": ["pods"]}]), escalation_world())


def test_escalation_refused_with_kube_message() -> None:
    new = role("more", "team", [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets", "pods"]}])
    with pytest.raises(EscalationError) as exc:
        check_role_write(ALICE, new, escalation_world())
    assert str(exc.value) == ('user "alice" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC '
                              'permissions not currently held:\n'
                              '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}')
    assert exc.value.http_code == 403


def test_escalate_and_bind_verbs_and_masters() -> None:
    authz = escalation_world()
    secrets_role = role("x", "team", [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}])
    check_role_write(UserInfo("dave"), secrets_role, authz)
    check_role_write(UserInfo("root", groups=("system:masters",)), secrets_role, authz)
    bind_secrets = binding("b", "team", "Role", "secrets", [{"kind": "User", "name": "eve"}])
    check_binding_write(UserInfo("carol"), bind_secrets, authz)
    with pytest.raises(EscalationError):
        check_binding_write(ALICE, bind_secrets, authz)
    check_binding_write(ALICE, binding("c", "team", "Role", "pod-admin", [{"kind": "User", "name": "eve"}]), authz)


def test_subject_access_reviews() -> None:
    authz = RBACAuthorizer(rbac_world())
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "alice", "resourceAttributes": {"namespace": "team", "verb": "get", "resource": "pods"}}}
    out = subject_access_review(body, authz)
    assert out["kind"] == "SubjectAccessReview" and out["status"]["allowed"] is True
    body["spec"]["resourceAttributes"]["verb"] = "delete"
    assert subject_access_review(body, authz)["status"] == {"allowed": False}
    with pytest.raises(ReviewError):
        subject_access_review({"spec": {"resourceAttributes": {"verb": "get"}}}, authz)
    with pytest.raises(ReviewError):
        subject_access_review(body, authz, namespace="other")
    assert subject_access_review(body, authz, namespace="team")["kind"] == "LocalSubjectAccessReview"
    ssar = self_subject_access_review({"spec": {"resourceAttributes": {"namespace": "team", "verb": "list",
                                                                       "resource": "pods"}}}, ALICE, authz)
    assert ssar["status"]["allowed"] is True and ssar["apiVersion"] == "authorization.k8s.io/v1"
    rules = self_subject_rules_review({"spec": {"namespace": "team"}}, ALICE, authz.resolver)
    assert {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]} in rules["status"]["resourceRules"]
    assert rules["status"]["incomplete"] is False


# --- Node authorizer ---------------------------------------------------------------------------------------------

KUBELET = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))


def node_graph() -> DictPodGraph:
    p = pod("web", "ns", node="n1", volumes=[{"name": "v", "secret": {"secretName": "tls"}},
                                             {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
            containers=[{"name": "c", "image": "x", "envFrom": [{"configMapRef": {"name": "cfg"}}]}])
    return DictPodGraph([p, pod("other", "ns", node="n2", volumes=[{"name": "v", "secret": {"secretName": "db"}}])],
                        {("ns", "data"): "pv-1"})


@pytest.mark.parametrize("attrs,decision", [
    (res("get", "secrets", "ns", "tls", user=KUBELET), Decision.ALLOW),
    (res("get", "secrets", "ns", "db", user=KUBELET), Decision.NO_OPINION),
    (res("list", "secrets", "ns", user=KUBELET), Decision.NO_OPINION),
    (res("get", "configmaps", "ns", "cfg", user=KUBELET), Decision.ALLOW),
    (res("get", "persistentvolumeclaims", "ns", "data", user=KUBELET), Decision.ALLOW),
    (res("get", "persistentvolumes", "", "pv-1", user=KUBELET), Decision.ALLOW),
    (res("get", "persistentvolumes", "", "pv-2", user=KUBELET), Decision.NO_OPINION),
    (res("create", "serviceaccounts", "ns", "default", sub="token", user=KUBELET), Decision.ALLOW),
    (res("update", "nodes", "", "n1", sub="status", user=KUBELET), Decision.ALLOW),
    (res("patch", "nodes", "", "n2", user=KUBELET), Decision.NO_OPINION),
    (res("list", "nodes", user=KUBELET), Decision.ALLOW),
    (res("update", "pods", "ns", "web", sub="status", user=KUBELET), Decision.ALLOW),
    (res("update", "pods", "ns", "other", sub="status", user=KUBELET), Decision.NO_OPINION),
    (res("update", "leases", "kube-node-lease", "n1", group="coordination.k8s.io", user=KUBELET), Decision.ALLOW),
    (res("update", "leases", "kube-node-lease", "n2", group="coordination.k8s.io", user=KUBELET),
     Decision.NO_OPINION),
    (res("get", "secrets", "ns", "tls"), Decision.NO_OPINION),  # not a node
])
def test_node_authorizer(attrs: Attributes, decision: Decision) -> None:
    assert NodeAuthorizer(node_graph()).authorize(attrs)[0] == decision


def test_node_reason_for_unrelated_secret() -> None:
    assert NodeAuthorizer(node_graph()).authorize(res("get", "secrets", "ns", "db", user=KUBELET)) == (
        Decision.NO_OPINION, "no relationship found between node 'n1' and this object (secret ns/db)")


def test_modes_and_always() -> None:
    masters = UserInfo("root", groups=("system:masters",))
    deny = build_authorizer(["AlwaysDeny"])
    assert deny.authorize(res("get", "pods", "x"))[0] == Decision.NO_OPINION
    assert deny.authorize(res("get", "pods", "x", user=masters))[0] == Decision.ALLOW
    assert build_authorizer(["AlwaysAllow"]).authorize(res("delete", "nodes"))[0] == Decision.ALLOW
    with pytest.raises(ValueError, match="unknown authorization mode 'ABAC'"):
        build_authorizer(["ABAC"])
    with pytest.raises(ValueError, match="needs a pod graph"):
        build_authorizer(["Node"])


def test_bootstrap_objects_are_storable() -> None:
    objs = bootstrap.policy_objects()
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for n in ("cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user",
              "system:public-info-viewer", "system:node", "system:kube-scheduler", "system:kube-controller-manager"):
        assert ("ClusterRole", n) in names
    crb = next(o for o in objs if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "cluster-admin")
    assert crb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]
    assert all(o["apiVersion"] == "rbac.authorization.k8s.io/v1" for o in objs)


@pytest.mark.parametrize("controller,attrs,allowed", [
    ("replicaset-controller", ("create", "", "pods", "", "any-ns"), True),
    ("replicaset-controller", ("update", "apps", "replicasets", "status", "any-ns"), True),
    ("replicaset-controller", ("get", "", "secrets", "", "any-ns"), False),
    ("deployment-controller", ("create", "apps", "replicasets", "", "ns"), True),
    ("job-controller", ("update", "batch", "jobs", "status", "ns"), True),
    ("node-controller", ("patch", "", "nodes", "status", ""), True),
    ("node-controller", ("create", "", "pods", "", "ns"), False),
    ("generic-garbage-collector", ("delete", "apps", "deployments", "", "ns"), True),
])
def test_bootstrap_controller_roles(controller: str, attrs: tuple[str, str, str, str, str], allowed: bool) -> None:
    objs = bootstrap.policy_objects()
    keys = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(keys) == len(set(keys)), "bootstrap objects must have unique names"
    user = UserInfo(f"system:serviceaccount:kube-system:{controller}",
                    groups=("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"))
    verb, group, resource, sub, namespace = attrs
    decision, _ = RBACAuthorizer(DictLister(objs)).authorize(Attributes(user, verb, group, resource, sub, namespace))
    assert (decision == Decision.ALLOW) is allowed


PROXY_GRID = [("", r) for r in ("services", "endpoints", "nodes", "events", "pods", "secrets", "configmaps")] + [
    ("discovery.k8s.io", "endpointslices"), ("events.k8s.io", "events"), ("apps", "deployments")]
PROXY_ALLOWED = {("", "services"): {"list", "watch"}, ("", "endpoints"): {"list", "watch"},
                 ("discovery.k8s.io", "endpointslices"): {"list", "watch"}, ("", "nodes"): {"get", "list", "watch"},
                 ("", "events"): {"create", "update", "patch"}, ("events.k8s.io", "events"): {"create", "update", "patch"}}


def test_kube_proxy_identity_gets_the_node_proxier_role_and_nothing_more() -> None:
    objs = bootstrap.policy_objects()
    role = next(o for o in objs if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "system:node-proxier")
    assert role["rules"] == [
        {"verbs": ["list", "watch"], "apiGroups": [""], "resources": ["services", "endpoints"]},
        {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["nodes"]},
        {"verbs": ["create", "patch", "update"], "apiGroups": ["", "events.k8s.io"], "resources": ["events"]},
        {"verbs": ["list", "watch"], "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"]}]
    crb = next(o for o in objs if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "system:node-proxier")
    assert crb["roleRef"]["name"] == "system:node-proxier"
    assert crb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:kube-proxy"}]
    authz = RBACAuthorizer(DictLister(objs))
    proxy = UserInfo("system:kube-proxy", groups=("system:authenticated",))
    for group, resource in PROXY_GRID:
        for verb in ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"):
            for ns in ("", "kube-system"):
                got = authz.authorize(Attributes(proxy, verb, group, resource, "", ns))[0] == Decision.ALLOW
                assert got is (verb in PROXY_ALLOWED.get((group, resource), set())), (verb, group, resource, ns)
    assert authz.authorize(res("update", "services", "ns", sub="status", user=proxy))[0] != Decision.ALLOW


def test_authorize_request_glue() -> None:
    from dataclasses import dataclass

    from apiserver.authz.request import authorize_request

    @dataclass(frozen=True)
    class Info:
        is_resource_request: bool
        path: str
        verb: str
        group: str = ""
        version: str = ""
        namespace: str = ""
        resource: str = ""
        subresource: str = ""
        name: str = ""

    authz = RBACAuthorizer(rbac_world())
    assert authorize_request(authz, ALICE, Info(True, "/api/v1/namespaces/team/pods", "list", version="v1",
                                                namespace="team", resource="pods")) == (True, "")
    assert authorize_request(authz, ALICE, Info(True, "/api/v1/namespaces/team/pods/p", "delete", version="v1",
                                                namespace="team", resource="pods", name="p")) == (
        False, 'pods "p" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace '
               '"team"')
    assert authorize_request(authz, ALICE, Info(False, "/metrics", "get")) == (
        False, 'forbidden: User "alice" cannot get path "/metrics"')
