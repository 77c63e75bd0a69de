"""One write through every stage the HTTP layer will chain: authenticate → authorize → mutating admission →
validating admission, on a namespace with PodSecurity restricted, a LimitRange and a quota."""

from __future__ import annotations

import pytest

from apiserver.admission import Attributes, DictState, Forbidden, Operation, build_chain
from apiserver.authn import AuthRequest, build_authenticator
from apiserver.authn.tokenfile import TokenFileAuthenticator
from apiserver.authz import bootstrap
from apiserver.authz.modes import build_authorizer
from apiserver.authz.node import DictPodGraph
from apiserver.authz.rbac import DictLister
from apiserver.authz.request import authorize_request
from tests.apiserver_auth.fixtures import NOW, binding, meta, pod

pytestmark = pytest.mark.unit


class Info:
    def __init__(self, verb: str, namespace: str, resource: str, name: str = "") -> None:
        self.is_resource_request, self.path, self.verb = True, f"/api/v1/namespaces/{namespace}/{resource}", verb
        self.group, self.version, self.namespace = "", "v1", namespace
        self.resource, self.subresource, self.name = resource, "", name


def world() -> tuple:  # type: ignore[type-arg]
    authn = build_authenticator([TokenFileAuthenticator.from_csv("t-erin,erin,1\n")], anonymous=False)
    authz = build_authorizer(["Node", "RBAC"], DictLister(bootstrap.policy_objects() + [
        binding("erin", "prod", "ClusterRole", "edit", [{"kind": "User", "name": "erin"}])]), DictPodGraph([]))
    state = DictState({
        "namespaces": [{"metadata": meta("prod", labels={"pod-security.kubernetes.io/enforce": "restricted"}),
                        "status": {"phase": "Active"}}],
        "serviceaccounts": [{"metadata": meta("default", "prod")}],
        "limitranges": [{"metadata": meta("lr", "prod"), "spec": {"limits": [
            {"type": "Container", "default": {"cpu": "200m", "memory": "128Mi"}}]}}],
        "resourcequotas": [{"metadata": meta("q", "prod"), "spec": {"hard": {"pods": "5", "limits.cpu": "1"}},
                            "status": {"hard": {"pods": "5", "limits.cpu": "1"},
                                       "used": {"pods": "1", "limits.cpu": "700m"}}}],
    })
    return authn, authz, build_chain([], state, disabled=["MutatingAdmissionWebhook", "ValidatingAdmissionWebhook"])


SAFE = {"securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}


def create(obj: dict) -> Attributes:  # type: ignore[type-arg]
    authn, authz, chain = world()
    user, ok, _ = authn.authenticate(AuthRequest({"Authorization": "Bearer t-erin"}), NOW)
    assert ok and user is not None
    allowed, msg = authorize_request(authz, user, Info("create", "prod", "pods"))
    assert allowed, msg
    attrs = Attributes(Operation.CREATE, "pods", obj["metadata"]["name"], "prod", kind="Pod", object=obj, user=user)
    chain.admit(attrs)
    chain.validate(attrs)
    return attrs


def test_compliant_pod_is_defaulted_and_admitted() -> None:
    attrs = create(pod("web", "prod", containers=[{"name": "c", "image": "nginx", **SAFE}]))
    spec = attrs.object["spec"]  # type: ignore[index]
    assert spec["serviceAccountName"] == "default"
    assert spec["containers"][0]["resources"]["limits"] == {"cpu": "200m", "memory": "128Mi"}
    assert {t["key"] for t in spec["tolerations"]} == {"node.kubernetes.io/not-ready",
                                                        "node.kubernetes.io/unreachable"}


def test_root_pod_is_refused_by_pod_security() -> None:
    with pytest.raises(Forbidden, match='violates PodSecurity "restricted:latest": allowPrivilegeEscalation'):
        create(pod("root", "prod"))


def test_quota_sees_the_limit_ranger_default() -> None:
    two = [{"name": f"c{i}", "image": "nginx", **SAFE} for i in range(2)]
    with pytest.raises(Forbidden) as exc:
        create(pod("big", "prod", containers=two))
    assert exc.value.message == ('pods "big" is forbidden: exceeded quota: q, requested: limits.cpu=400m, '
                                 'used: limits.cpu=700m, limited: limits.cpu=1')
