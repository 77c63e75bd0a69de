"""TokenReview, SelfSubjectReview, the issuer's discovery documents, and impersonation."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apiserver.authn.oidc import jwks, openid_configuration
from apiserver.authn.review import TokenReviewError, self_subject_review, token_review
from apiserver.authn.tokenfile import TokenFileAuthenticator
from apiserver.authn.types import UserInfo
from apiserver.authn.union import UnionAuthenticator
from apiserver.authz.impersonation import ImpersonationError, impersonate
from apiserver.authz.rbac import DictLister, RBACAuthorizer
from tests.apiserver_auth.fixtures import NOW, binding

pytestmark = pytest.mark.unit


def test_token_review() -> None:
    authn = UnionAuthenticator([TokenFileAuthenticator.from_csv('t0k,alice,42,"dev"\n')])
    ok = token_review({"spec": {"token": "t0k", "audiences": ["api"]}}, authn, NOW)
    assert ok["status"] == {"authenticated": True, "audiences": ["api"],
                            "user": {"username": "alice", "uid": "42", "groups": ["dev", "system:authenticated"]}}
    assert "token" not in ok["spec"]
    bad = token_review({"spec": {"token": "nope"}}, authn, NOW)
    assert bad["status"] == {"authenticated": False, "user": {}, "error": "invalid bearer token"}
    with pytest.raises(TokenReviewError):
        token_review({"spec": {}}, authn, NOW)


def test_self_subject_review_shape() -> None:
    out = self_subject_review(UserInfo("alice", "", ("system:authenticated",)))
    assert out["apiVersion"] == "authentication.k8s.io/v1" and out["kind"] == "SelfSubjectReview"
    assert out["status"]["userInfo"] == {"username": "alice", "groups": ["system:authenticated"]}


def test_discovery_documents() -> None:
    ec_key, rsa_key = ec.generate_private_key(ec.SECP256R1()).public_key(), \
        rsa.generate_private_key(65537, 2048).public_key()
    doc = jwks([ec_key, rsa_key])
    assert [k["kty"] for k in doc["keys"]] == ["EC", "RSA"]
    assert doc["keys"][1]["e"] == "AQAB" and len(doc["keys"][0]["kid"]) == 43
    cfg = openid_configuration("https://issuer.example/", keys=[ec_key, rsa_key])
    assert cfg["jwks_uri"] == "https://issuer.example/openid/v1/jwks"
    assert cfg["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]


def impersonation_authz() -> RBACAuthorizer:
    return RBACAuthorizer(DictLister([
        {"kind": "ClusterRole", "metadata": {"name": "imp"},
         "rules": [{"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users"], "resourceNames": ["bob"]},
                   {"verbs": ["impersonate"], "apiGroups": [""], "resources": ["serviceaccounts"]}]},
        binding("imp", "", "ClusterRole", "imp", [{"kind": "User", "name": "alice"}]),
    ]))


def test_impersonation() -> None:
    alice = UserInfo("alice", groups=("system:authenticated",))
    authz = impersonation_authz()
    assert impersonate(alice, {}, authz) is None
    bob = impersonate(alice, {"Impersonate-User": "bob"}, authz)
    assert bob == UserInfo("bob", "", ("system:authenticated",))
    sa = impersonate(alice, {"Impersonate-User": "system:serviceaccount:ns:robot"}, authz)
    assert sa is not None and sa.groups == ("system:serviceaccounts", "system:serviceaccounts:ns",
                                            "system:authenticated")
    with pytest.raises(ImpersonationError) as exc:
        impersonate(alice, {"Impersonate-User": "carol"}, authz)
    assert str(exc.value) == ('users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API '
                              'group "" at the cluster scope')
    with pytest.raises(ImpersonationError, match='groups "system:masters" is forbidden'):
        impersonate(alice, {"Impersonate-User": "bob", "Impersonate-Group": "system:masters"}, authz)
    with pytest.raises(ImpersonationError, match="without impersonating a user"):
        impersonate(alice, {"Impersonate-Group": "dev"}, authz)


def test_token_request_round_trip() -> None:
    from apiserver.authn.serviceaccount import ServiceAccountAuthenticator, TokenIssuer
    from apiserver.authn.tokenrequest import TokenRequestError, token_request
    from apiserver.authn.types import AuthRequest

    key = ec.generate_private_key(ec.SECP256R1())
    objects = {("serviceaccounts", "ns", "robot"): {"metadata": {"name": "robot", "namespace": "ns", "uid": "u1"}},
               ("pods", "ns", "web"): {"metadata": {"name": "web", "uid": "p1"}}}

    def lookup(r: str, n: str, name: str) -> dict | None:
        return objects.get((r, n, name))

    issuer = TokenIssuer(key, "https://k8s")
    sa = objects[("serviceaccounts", "ns", "robot")]
    out = token_request({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}},
                        sa, issuer, lookup, NOW, ["https://k8s"])
    assert out["spec"]["audiences"] == ["https://k8s"] and out["spec"]["boundObjectRef"]["uid"] == "p1"
    assert out["status"]["expirationTimestamp"] == "2027-01-15T09:00:00Z"  # NOW + 3600 s
    auth = ServiceAccountAuthenticator([key.public_key()], ["https://k8s"], ["https://k8s"], lookup)
    token = out["status"]["token"]
    user, ok, _ = auth.authenticate(AuthRequest({"Authorization": f"Bearer {token}"}), NOW + 60)
    assert ok and user is not None and user.name == "system:serviceaccount:ns:robot"
    with pytest.raises(TokenRequestError) as exc:
        token_request({"spec": {"expirationSeconds": 60}}, sa, issuer, lookup, NOW, ["https://k8s"])
    assert exc.value.http_code == 422 and "may not specify a duration less than 10 minutes" in str(exc.value)
    with pytest.raises(TokenRequestError) as exc:
        token_request({"spec": {"boundObjectRef": {"kind": "Pod", "name": "web", "uid": "old"}}}, sa, issuer,
                      lookup, NOW, ["https://k8s"])
    assert exc.value.http_code == 409
