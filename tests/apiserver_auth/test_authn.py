"""Authentication: each authenticator alone, then the union, with the identities kube-apiserver would produce."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apiserver.authn import jwt
from apiserver.authn.anonymous import AnonymousAuthenticator
from apiserver.authn.serviceaccount import BoundObject, ServiceAccountAuthenticator, TokenIssuer
from apiserver.authn.tokenfile import TokenFileAuthenticator, TokenFileError, parse_token_file
from apiserver.authn.types import AuthRequest
from apiserver.authn.union import UnionAuthenticator
from apiserver.authn.x509 import X509Authenticator
from tests.apiserver_auth.fixtures import NOW, client_cert

pytestmark = pytest.mark.unit
ISSUER = "https://kubernetes.default.svc.cluster.local"


def bearer(token: str) -> AuthRequest:
    return AuthRequest(headers={"Authorization": f"Bearer {token}"})


# --- x509 -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("as_der", [True, False])
def test_x509_user_is_cn_groups_are_every_o(as_der: bool) -> None:
    cert = client_cert("alice", ("dev", "system:masters"))
    peer = cert.public_bytes(serialization.Encoding.DER) if as_der else cert
    user, ok, err = X509Authenticator().authenticate(AuthRequest(peer_certificate=peer), NOW)
    assert ok and err is None and user is not None
    assert (user.name, user.groups) == ("alice", ("dev", "system:masters"))


def test_x509_without_certificate_is_not_mine() -> None:
    assert X509Authenticator().authenticate(AuthRequest(), NOW) == (None, False, None)


@pytest.mark.parametrize("cert,msg", [
    (client_cert(None, ("o",)), "x509: subject with cn= is required"),
    (client_cert("bob", days=1, start_offset=-3 * 86400), "x509: certificate has expired or is not yet valid"),
    (client_cert("bob", start_offset=3600), "x509: certificate has expired or is not yet valid"),
])
def test_x509_rejections(cert: object, msg: str) -> None:
    user, ok, err = X509Authenticator().authenticate(AuthRequest(peer_certificate=cert), NOW)
    assert (user, ok, str(err)) == (None, False, msg)


def test_x509_garbage_der() -> None:
    _, ok, err = X509Authenticator().authenticate(AuthRequest(peer_certificate=b"\x30\x03abc"), NOW)
    assert not ok and str(err) == "x509: malformed client certificate"


# --- static token file -------------------------------------------------------------------------------------------

TOKENS = 'secret1,alice,1001,"dev,ops"\n# comment\n\nsecret2,bob,1002\n'


def test_token_file_parsing() -> None:
    users = parse_token_file(TOKENS)
    assert users["secret1"].name == "alice" and users["secret1"].uid == "1001"
    assert users["secret1"].groups == ("dev", "ops")
    assert users["secret2"].groups == ()


@pytest.mark.parametrize("text,msg", [
    ("tok,user\n", "token file is invalid on line 1: need at least 3 columns, got 2"),
    ("a,b,c\n,user,1\n", "token file is invalid on line 2: empty token"),
])
def test_token_file_errors_name_the_line_not_the_token(text: str, msg: str) -> None:
    with pytest.raises(TokenFileError) as exc:
        parse_token_file(text)
    assert str(exc.value) == msg


@pytest.mark.parametrize("headers,expected", [
    ({"Authorization": "Bearer secret1"}, "alice"),
    ({"authorization": "bearer secret2"}, "bob"),
    ({"Authorization": "Bearer nope"}, None),
    ({"Authorization": "Basic c2VjcmV0MQ=="}, None),
    ({}, None),
])
def test_token_file_authenticator(headers: dict[str, str], expected: str | None) -> None:
    user, ok, err = TokenFileAuthenticator.from_csv(TOKENS).authenticate(AuthRequest(headers=headers), NOW)
    assert (user.name if user else None) == expected and ok == (expected is not None)
    presented_bearer = headers.get("Authorization", headers.get("authorization", "")).lower().startswith("bearer")
    assert str(err) == ("invalid bearer token" if presented_bearer and expected is None else "None")


# --- service account tokens --------------------------------------------------------------------------------------

def make_keys(kind: str) -> jwt.PrivateKey:
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ES256" else rsa.generate_private_key(65537, 2048)


class Store:
    def __init__(self) -> None:
        self.objects = {
            ("serviceaccounts", "ns1", "builder"): {"metadata": {"name": "builder", "uid": "sa-uid"}},
            ("pods", "ns1", "web"): {"metadata": {"name": "web", "uid": "pod-uid"}},
            ("secrets", "ns1", "builder-token"): {"metadata": {
                "name": "builder-token", "uid": "sec-uid",
                "annotations": {"kubernetes.io/service-account.name": "builder",
                                "kubernetes.io/service-account.uid": "sa-uid"}}},
        }

    def lookup(self, resource: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((resource, namespace, name))


@pytest.fixture(params=["ES256", "RS256"])
def sa_setup(request: pytest.FixtureRequest) -> tuple[TokenIssuer, ServiceAccountAuthenticator, Store]:
    key = make_keys(request.param)
    store = Store()
    issuer = TokenIssuer(key, ISSUER)
    auth = ServiceAccountAuthenticator([key.public_key()], [ISSUER], [ISSUER], store.lookup)
    return issuer, auth, store


def test_bound_token_identity(sa_setup: tuple) -> None:
    issuer, auth, _ = sa_setup
    token = issuer.bound_token("ns1", "builder", "sa-uid", [ISSUER], NOW, bound=BoundObject("Pod", "web", "pod-uid"))
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] in ("ES256", "RS256")
    user, ok, err = auth.authenticate(bearer(token), NOW + 10)
    assert ok and err is None and user is not None
    assert user.name == "system:serviceaccount:ns1:builder" and user.uid == "sa-uid"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:ns1")
    assert user.extra["authentication.kubernetes.io/pod-name"] == ("web",)


def test_bound_token_failures(sa_setup: tuple) -> None:
    issuer, auth, store = sa_setup
    tok = issuer.bound_token("ns1", "builder", "sa-uid", [ISSUER], NOW, expiration_seconds=600,
                             bound=BoundObject("Pod", "web", "pod-uid"))

    def err_of(token: str, now: float) -> str:
        user, ok, err = auth.authenticate(bearer(token), now)
        assert user is None and not ok and err is not None
        return str(err)

    assert err_of(tok, NOW + 600 + 61) == "invalid bearer token, service account token has expired"
    other_aud = issuer.bound_token("ns1", "builder", "sa-uid", ["vault"], NOW)
    assert "token audiences ['vault'] is invalid" in err_of(other_aud, NOW)
    tampered = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    assert err_of(tampered, NOW) == "invalid bearer token, invalid signature"
    # The pod is recreated under the same name: the old token dies.
    store.objects[("pods", "ns1", "web")] = {"metadata": {"name": "web", "uid": "new-uid"}}
    assert "does not match the UID in record" in err_of(tok, NOW)
    del store.objects[("pods", "ns1", "web")]
    assert err_of(tok, NOW) == "invalid bearer token, pod: ns1/web not found"
    unbound = issuer.bound_token("ns1", "builder", "sa-uid", [ISSUER], NOW)
    del store.objects[("serviceaccounts", "ns1", "builder")]
    assert err_of(unbound, NOW) == "invalid bearer token, service account ns1/builder has been deleted"


def test_foreign_issuer_and_non_jwt_are_not_mine(sa_setup: tuple) -> None:
    _, auth, _ = sa_setup
    foreign = TokenIssuer(make_keys("ES256"), "https://elsewhere").bound_token("ns1", "builder", "sa-uid", ["x"], NOW)
    assert auth.authenticate_token(foreign, NOW) == (None, False, None)
    assert auth.authenticate_token("secret1", NOW) == (None, False, None)


def test_alg_none_is_rejected(sa_setup: tuple) -> None:
    _, auth, _ = sa_setup
    claims = {"iss": ISSUER, "sub": "system:serviceaccount:ns1:builder", "aud": [ISSUER], "exp": NOW + 100}
    token = jwt.b64url(b'{"alg":"none"}') + "." + jwt.b64url(json.dumps(claims).encode()) + "."
    _, ok, err = auth.authenticate(bearer(token), NOW)
    assert not ok and str(err) == "invalid bearer token, unsupported signing algorithm 'none'"


def test_legacy_secret_token(sa_setup: tuple) -> None:
    issuer, auth, store = sa_setup
    token = issuer.legacy_token("ns1", "builder", "sa-uid", "builder-token")
    user, ok, _ = auth.authenticate(bearer(token), NOW)
    assert ok and user is not None and user.name == "system:serviceaccount:ns1:builder"
    del store.objects[("secrets", "ns1", "builder-token")]
    _, ok, err = auth.authenticate(bearer(token), NOW)
    assert not ok and str(err) == "invalid bearer token, secret ns1/builder-token has been deleted"


def test_key_file_loading_accepts_public_private_and_multiple() -> None:
    a, b = make_keys("ES256"), make_keys("RS256")
    pem = a.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) + \
        b.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    keys = jwt.load_public_keys(pem)
    assert [jwt.algorithm_for(k) for k in keys] == ["ES256", "RS256"]
    with pytest.raises(jwt.JWTError):
        jwt.load_public_keys(b"not a pem")


# --- union and anonymous -----------------------------------------------------------------------------------------

def test_union_order_groups_and_anonymous() -> None:
    tokens = TokenFileAuthenticator.from_csv(TOKENS)
    with_anon = UnionAuthenticator([X509Authenticator(), tokens, AnonymousAuthenticator()])
    without = UnionAuthenticator([X509Authenticator(), tokens])
    cert = client_cert("admin", ("system:masters",))
    # A client cert wins over a token presented at the same time.
    user, ok, _ = with_anon.authenticate(AuthRequest({"Authorization": "Bearer secret1"}, cert), NOW)
    assert ok and user is not None and (user.name, user.groups) == ("admin", ("system:masters",
                                                                                "system:authenticated"))
    user, ok, _ = with_anon.authenticate(bearer("secret1"), NOW)
    assert user is not None and user.groups == ("dev", "ops", "system:authenticated")
    user, ok, _ = with_anon.authenticate(AuthRequest(), NOW)
    assert user is not None and (user.name, user.groups) == ("system:anonymous", ("system:unauthenticated",))
    assert without.authenticate(AuthRequest(), NOW) == (None, False, None)
    expired = client_cert("old", days=1, start_offset=-5 * 86400)
    user, ok, err = without.authenticate(AuthRequest(peer_certificate=expired), NOW)
    assert (user, ok, str(err)) == (None, False, "x509: certificate has expired or is not yet valid")


def test_errors_never_contain_the_token() -> None:
    key = make_keys("ES256")
    issuer = TokenIssuer(key, ISSUER)
    auth = ServiceAccountAuthenticator([key.public_key()], [ISSUER], [ISSUER], lambda *a: None)
    token = issuer.bound_token("ns1", "gone", "u", [ISSUER], NOW)
    _, ok, err = UnionAuthenticator([auth]).authenticate(bearer(token), NOW)
    assert not ok and err is not None and token not in str(err) and token.split(".")[2] not in str(err)


def test_bad_credentials_are_401_even_with_anonymous_enabled() -> None:
    from apiserver.authn.union import build_authenticator

    tokens = TokenFileAuthenticator.from_csv(TOKENS)
    key = make_keys("ES256")
    sa = ServiceAccountAuthenticator([key.public_key()], [ISSUER], [ISSUER], lambda *a: None)
    authn = build_authenticator([X509Authenticator(), tokens, sa], anonymous=True)
    dead = TokenIssuer(key, ISSUER).bound_token("ns1", "gone", "u", [ISSUER], NOW)
    user, ok, err = authn.authenticate(bearer(dead), NOW)
    assert (user, ok) == (None, False) and "has been deleted" in str(err)
    assert authn.authenticate(bearer("unknown-token"), NOW)[:2] == (None, False)
    assert str(authn.authenticate(bearer("unknown-token"), NOW)[2]) == "invalid bearer token"
    user, ok, _ = authn.authenticate(AuthRequest(), NOW)
    assert ok and user is not None and user.name == "system:anonymous"
    user, ok, _ = authn.authenticate(bearer("secret2"), NOW)
    assert ok and user is not None and user.groups == ("system:authenticated",)
