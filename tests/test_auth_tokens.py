"""etcd's token providers (simple, jwt) and the auth-revision rule, on a deterministic clock."""

from __future__ import annotations

import base64
import json
import pathlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from raftkv import errors
from raftkv.auth import AuthStore
from raftkv.auth.jwt import METHODS
from raftkv.auth.tokens import (
    AuthOldRevision,
    Identity,
    JwtTokens,
    SimpleTokens,
    TokenConfigError,
    VerifyOnly,
    build_provider,
    check_revision,
    parse_duration,
)
from raftkv.server.config import ConfigError, parse_args
from raftkv.server.errors import to_status

pytestmark = pytest.mark.unit
T0 = 1_000_000.0


def enabled_store() -> AuthStore:
    a = AuthStore()
    for op in ({"op": "user_add", "name": "root", "password": "h"},
               {"op": "user_grant_role", "user": "root", "role": "root"},
               {"op": "user_add", "name": "alice", "password": "h"},
               {"op": "role_add", "name": "r"},
               {"op": "auth_enable", "token_key": "ab" * 32}):
        a.apply(op)
    return a


def pem_private(key: object) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                             serialization.NoEncryption())


def pem_public(key: object) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_KEYS = {"RS": _RSA, "PS": _RSA, "ES256": ec.generate_private_key(ec.SECP256R1()),
         "ES384": ec.generate_private_key(ec.SECP384R1()), "ES512": ec.generate_private_key(ec.SECP521R1()),
         "EdDSA": ed25519.Ed25519PrivateKey.generate()}


def key_for(method: str) -> object:
    return _KEYS.get(method) or _KEYS[method[:2]]


def files(tmp_path: pathlib.Path, method: str) -> dict[str, str]:
    if method.startswith("HS"):
        (tmp_path / "secret").write_bytes(b"a shared secret")
        return {"priv-key": str(tmp_path / "secret")}
    key = key_for(method)
    (tmp_path / "priv.pem").write_bytes(pem_private(key))
    (tmp_path / "pub.pem").write_bytes(pem_public(key))
    return {"priv-key": str(tmp_path / "priv.pem"), "pub-key": str(tmp_path / "pub.pem")}


def jwt_provider(tmp_path: pathlib.Path, method: str, extra: str = "", keys: tuple[str, ...] = ("priv-key", "pub-key")
                 ) -> JwtTokens:
    opts = ",".join(f"{k}={v}" for k, v in files(tmp_path, method).items() if k in keys)
    provider, _ = build_provider(f"jwt,{opts},sign-method={method}{extra}", 300, read)
    assert isinstance(provider, JwtTokens)
    return provider


def sub(tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def read(path: str) -> bytes:
    return pathlib.Path(path).read_bytes()


# ---- simple
def test_simple_token_lives_ttl_after_its_last_use() -> None:
    a, p = enabled_store(), SimpleTokens(ttl_s=300)
    token = p.assign(a, "alice", T0)
    assert p.identify(a, token, T0 + 299) == Identity("alice", a.revision)
    assert p.identify(a, token, T0 + 598) == Identity("alice", a.revision)  # the use at +299 slid the expiry
    with pytest.raises(errors.InvalidAuthToken):
        p.identify(a, token, T0 + 898 + 1)
    # a member that never saw it used holds the token to its issue expiry (etcd's keeper is per member too)
    other = SimpleTokens(ttl_s=300)
    with pytest.raises(errors.InvalidAuthToken):
        other.identify(a, token, T0 + 301)


def test_simple_token_is_judged_at_the_current_revision_and_dies_with_a_password_change_or_the_user() -> None:
    a, p = enabled_store(), SimpleTokens()
    token = p.assign(a, "alice", T0)
    a.apply({"op": "user_grant_role", "user": "alice", "role": "r"})  # a role change: token still good, as etcd
    who = p.identify(a, token, T0 + 1)
    assert who == Identity("alice", a.revision)
    check_revision(a, who)
    a.apply({"op": "user_change_password", "name": "alice", "password": "new"})
    with pytest.raises(errors.InvalidAuthToken):
        p.identify(a, token, T0 + 2)
    fresh = p.assign(a, "alice", T0 + 3)
    a.apply({"op": "user_delete", "name": "alice"})
    a.apply({"op": "user_add", "name": "alice", "password": "h"})
    with pytest.raises(errors.InvalidAuthToken):
        p.identify(a, fresh, T0 + 4)


@pytest.mark.parametrize("tamper", ["forged", "other-key", "garbage", "disabled-and-reenabled"])
def test_simple_token_refuses_forgeries(tamper: str) -> None:
    a, p = enabled_store(), SimpleTokens()
    token = p.assign(a, "alice", T0)
    if tamper == "forged":
        user_b64, rev, exp, mac = token.split(".")
        token = ".".join([base64.urlsafe_b64encode(b"root").decode(), rev, exp, mac])
    elif tamper == "other-key":
        a.token_key = "cd" * 32
    elif tamper == "garbage":
        token = "abc.def"
    else:
        a.apply({"op": "auth_disable"})
        a.apply({"op": "auth_enable", "token_key": "ef" * 32})
    with pytest.raises(errors.InvalidAuthToken):
        p.identify(a, token, T0)


# ---- jwt
@pytest.mark.parametrize("method", METHODS)
def test_jwt_round_trip_and_claims(tmp_path: pathlib.Path, method: str) -> None:
    a, p = enabled_store(), jwt_provider(tmp_path, method, ",ttl=1m")
    token = p.assign(a, "alice", T0)
    header, claims = (json.loads(base64.urlsafe_b64decode(part + "==")) for part in token.split(".")[:2])
    assert header == {"alg": method, "typ": "JWT"}
    assert claims == {"username": "alice", "revision": a.revision, "exp": int(T0) + 60}
    assert p.identify(a, token, T0 + 60) == Identity("alice", a.revision)
    with pytest.raises(errors.InvalidAuthToken):
        p.identify(a, token, T0 + 61)
    head, body, sig = token.split(".")
    evil = base64.urlsafe_b64encode(json.dumps({**claims, "username": "root"}).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{evil}.{sig}", f"{head}.{body}.{sig[:-4]}AAAA", "x.y", f"{head}.{body}."):
        with pytest.raises(errors.InvalidAuthToken):
            p.identify(a, bad, T0)


def test_jwt_with_another_algorithm_or_key_is_refused(tmp_path: pathlib.Path) -> None:
    a = enabled_store()
    rs256 = jwt_provider(sub(tmp_path, "a"), "RS256")
    token = rs256.assign(a, "alice", T0)
    ps256 = jwt_provider(sub(tmp_path, "b"), "PS256")  # same RSA key, other algorithm
    other = SimpleTokens()
    for p in (ps256, other):
        with pytest.raises(errors.InvalidAuthToken):
            p.identify(a, token, T0)
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    with pytest.raises(errors.InvalidAuthToken):
        rs256.identify(a, f"{head}.{token.split('.')[1]}.", T0)


def test_jwt_revision_rule_old_tokens_fail_with_etcds_error(tmp_path: pathlib.Path) -> None:
    a, p = enabled_store(), jwt_provider(tmp_path, "ES256")
    token = p.assign(a, "alice", T0)
    check_revision(a, p.identify(a, token, T0))
    a.apply({"op": "user_grant_role", "user": "alice", "role": "r"})
    who = p.identify(a, token, T0)
    with pytest.raises(AuthOldRevision) as old:
        check_revision(a, who)
    assert to_status(old.value)[1] == "etcdserver: revision of auth store is old"
    assert to_status(old.value)[0].name == "INVALID_ARGUMENT"  # etcd's rpctypes.ErrGRPCAuthOldRevision
    check_revision(a, p.identify(a, p.assign(a, "alice", T0), T0))  # a fresh token is fine


def test_jwt_verify_only_member_accepts_but_cannot_issue(tmp_path: pathlib.Path) -> None:
    a = enabled_store()
    full = jwt_provider(tmp_path, "EdDSA")
    public_only = jwt_provider(tmp_path, "EdDSA", keys=("pub-key",))
    assert public_only.identify(a, full.assign(a, "alice", T0), T0).user == "alice"
    with pytest.raises(VerifyOnly):
        public_only.assign(a, "alice", T0)


# ---- --auth-token
def test_defaults_and_durations() -> None:
    p, unknown = build_provider("simple", 300, read)
    assert isinstance(p, SimpleTokens) and p.ttl_s == 300 and unknown == []
    assert parse_duration("5m") == 300 and parse_duration("1h30m") == 5400 and parse_duration("1.5s") == 1.5
    with pytest.raises(TokenConfigError):
        parse_duration("5 minutes")


def test_bad_auth_token_values_are_refused_at_start(tmp_path: pathlib.Path) -> None:
    keys, ec_keys = files(sub(tmp_path, "rs"), "RS256"), files(sub(tmp_path, "ec"), "ES256")
    priv, pub = f"priv-key={keys['priv-key']}", f"pub-key={keys['pub-key']}"
    cases = {
        "bogus": "unknown token type",
        "simple,ttl=5m": "simple takes no options",
        f"jwt,{priv},{pub}": "invalid auth signature method",
        f"jwt,{priv},sign-method=XY256": "invalid auth signature method",
        "jwt,sign-method=RS256": "missing key",
        f"jwt,priv-key={tmp_path / 'nope.pem'},sign-method=RS256": "cannot read",
        f"jwt,{priv},pub-key={ec_keys['pub-key']},sign-method=RS256": "not a key for RS256",
        f"jwt,priv-key={ec_keys['priv-key']},sign-method=ES384": "needs a secp384r1 key",
        f"jwt,priv-key={ec_keys['priv-key']},sign-method=RS256": "not a key for RS256",
        f"jwt,{priv},{pub},sign-method=RS256,ttl=forever": "invalid duration",
        f"jwt,{priv},sign-method": "not key=value",
        f"jwt,{priv},{priv},sign-method=RS256": "given twice",
    }
    for spec, reason in cases.items():
        with pytest.raises(ConfigError, match="--auth-token") as err:
            parse_args(["--auth-token", spec])
        assert reason in str(err.value), (spec, str(err.value))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "other.pem").write_bytes(pem_public(other))
    with pytest.raises(ConfigError, match="does not match"):
        parse_args(["--auth-token", f"jwt,{priv},pub-key={tmp_path / 'other.pem'},sign-method=RS256"])
    with pytest.raises(ConfigError, match="auth-token-ttl"):
        parse_args(["--auth-token-ttl", "0"])


def test_config_file_keys(tmp_path: pathlib.Path) -> None:
    keys = files(tmp_path, "ES256")
    spec = f"jwt,priv-key={keys['priv-key']},sign-method=ES256,ttl=10m,future-option=1"
    (tmp_path / "c.yaml").write_text(f"auth-token: {spec}\nauth-token-ttl: 60\n")
    cfg = parse_args(["--config-file", str(tmp_path / "c.yaml")])
    assert (cfg.auth_token, cfg.auth_token_ttl) == (spec, 60)
    provider, unknown = build_provider(cfg.auth_token, cfg.auth_token_ttl, read)
    assert isinstance(provider, JwtTokens) and provider.ttl_s == 600 and unknown == ["future-option"]
