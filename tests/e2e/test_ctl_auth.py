"""etcd's authentication with Debian's etcdctl (v3.4): users, roles, key-range permissions, `auth enable`.

The same assertions run on etcd 3.4 and on raftkv. Auth lives in its own module, so its own clusters: once
it is on, every request needs a user. The client certificate's CN is `root`, which etcd takes as the user
when a request carries no token, so plain `ctl` acts as root and `--user` speaks for somebody else.
Token providers: `simple` (the default) on the shared cluster, `--auth-token jwt,...` (RS256) on its own.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterator

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from raftkv._pb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from raftkv.auth.jwt import load_signer
from tests.conftest import wait_for
from tests.e2e.cluster import KINDS, Member, ProcessCluster, new_cluster, start_with_retries
from tests.e2e.test_ctl_suite import Ctl

pytestmark = pytest.mark.e2e
DENIED = "etcdserver: permission denied"
BAD_LOGIN = "etcdserver: authentication failed, invalid user ID or password"
OLD_REVISION = "etcdserver: revision of auth store is old"


@pytest.fixture(scope="module")
def ctl(cluster: ProcessCluster) -> Ctl:
    return Ctl(cluster)


def test_users_roles_and_key_range_permissions(ctl: Ctl) -> None:
    assert ctl.out("user", "add", "root", "--new-user-password=rootpw") == "User root created\n"
    assert ctl.out("role", "add", "reader") == "Role reader created\n"
    assert ctl.out("role", "grant-permission", "reader", "read", "au/", "--prefix") == "Role reader updated\n"
    assert ctl.out("role", "grant-permission", "reader", "readwrite", "au/own") == "Role reader updated\n"
    assert ctl.out("user", "add", "alice", "--new-user-password=alicepw") == "User alice created\n"
    assert ctl.out("user", "grant-role", "alice", "reader") == "Role reader is granted to user alice\n"
    assert "role name not found" in ctl.fails("user", "grant-role", "alice", "nosuch")
    assert "user name already exists" in ctl.fails("user", "add", "alice", "--new-user-password=x")
    assert ctl.out("user", "list") == "alice\nroot\n"
    assert ctl.out("role", "list") == "reader\n"
    assert ctl.out("user", "get", "alice") == "User: alice\nRoles: reader\n"
    assert ctl.out("role", "get", "reader") == ("Role reader\nKV Read:\n\t[au/, au0) (prefix au/)\n\tau/own\n"
                                                "KV Write:\n\tau/own\n")
    ctl.out("put", "au/k", "v1")
    assert ctl.out("auth", "enable") == "Authentication Enabled\n"
    alice = Ctl(ctl.c)
    alice_flags = ["--user", "alice:alicepw"]
    try:
        assert ctl.out("put", "au/k", "v2") == "OK\n"  # the certificate's CN: root
        assert alice.out(*alice_flags, "get", "au/k") == "au/k\nv2\n"
        assert alice.out(*alice_flags, "put", "au/own", "mine") == "OK\n"
        assert DENIED in alice.fails(*alice_flags, "put", "au/k", "v3")
        assert DENIED in alice.fails(*alice_flags, "get", "other")
        assert DENIED in alice.fails(*alice_flags, "user", "list")
        assert BAD_LOGIN in alice.fails("--user", "alice:wrong", "get", "au/k")
        assert BAD_LOGIN in alice.fails("--user", "bob:pw", "get", "au/k")
        assert ctl.out("user", "revoke-role", "alice", "reader") == "Role reader is revoked from user alice\n"
        assert DENIED in alice.fails(*alice_flags, "get", "au/k")
        assert "invalid auth management" in ctl.fails("user", "delete", "root")
    finally:
        assert ctl.out("auth", "disable") == "Authentication Disabled\n"
    assert ctl.out("get", "au/", "--prefix", "--print-value-only") == "v2\nmine\n"
    assert ctl.out("user", "delete", "alice") == "User alice deleted\n"
    assert ctl.out("role", "delete", "reader") == "Role reader deleted\n"
    # with auth off, etcdctl's login is refused ("authentication is not enabled") and the request still runs
    late = ctl.run("--user", "root:rootpw", "get", "au/k")
    assert (late.returncode, late.stdout) == (0, "au/k\nv2\n")
    assert "authentication is not enabled" in late.stderr


def test_tokens_over_grpc_and_a_watch_outside_the_users_permissions(ctl: Ctl, cluster: ProcessCluster) -> None:
    ctl.run("user", "add", "root", "--new-user-password=rootpw")  # may exist already (one cluster per module)
    ctl.out("role", "add", "w")
    ctl.out("role", "grant-permission", "w", "read", "wt/", "--prefix")
    ctl.out("user", "add", "carol", "--new-user-password=carolpw")
    ctl.out("user", "grant-role", "carol", "w")
    ctl.out("auth", "enable")
    try:
        creds = grpc.ssl_channel_credentials(*((cluster.pki / f).read_bytes() for f in ("ca.crt", "client.key",
                                                                                         "client.crt")))
        with grpc.secure_channel(cluster.endpoints[0].removeprefix("https://"), creds) as ch:
            auth = rpc_pb2_grpc.AuthStub(ch)
            token = auth.Authenticate(rpc_pb2.AuthenticateRequest(name="carol", password="carolpw"), timeout=10).token
            md = (("token", token),)
            kv = rpc_pb2_grpc.KVStub(ch)
            assert kv.Range(rpc_pb2.RangeRequest(key=b"wt/x"), metadata=md, timeout=10).count == 0
            with pytest.raises(grpc.RpcError) as denied:
                kv.Put(rpc_pb2.PutRequest(key=b"wt/x", value=b"v"), metadata=md, timeout=10)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.RpcError) as bad:
                kv.Range(rpc_pb2.RangeRequest(key=b"wt/x"), metadata=(("token", token + "x"),), timeout=10)
            assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert bad.value.details() == "etcdserver: invalid auth token"
            watch = rpc_pb2_grpc.WatchStub(ch).Watch(
                iter([rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"other"))]),
                metadata=md, timeout=10)
            first = next(watch)
            assert first.created and first.canceled
            assert first.cancel_reason == "rpc error: code = PermissionDenied desc = etcdserver: permission denied"
            watch.cancel()
    finally:
        ctl.out("auth", "disable")


def test_simple_tokens_work_on_every_member_and_die_with_a_password_change(ctl: Ctl, cluster: ProcessCluster) -> None:
    """etcd assigns a simple token on every member (Authenticate goes through the log), judges it at the
    store's current revision (a role change does not void it) and drops it when the password changes."""
    ctl.run("user", "add", "root", "--new-user-password=rootpw")  # may exist already (one cluster per module)
    ctl.out("role", "add", "st")
    ctl.out("role", "grant-permission", "st", "read", "st/", "--prefix")
    ctl.out("user", "add", "erin", "--new-user-password=erinpw")
    ctl.out("user", "grant-role", "erin", "st")
    ctl.out("auth", "enable")
    creds = grpc.ssl_channel_credentials(*((cluster.pki / f).read_bytes() for f in ("ca.crt", "client.key",
                                                                                     "client.crt")))
    channels = [grpc.secure_channel(e.removeprefix("https://"), creds) for e in cluster.endpoints]
    try:
        token = rpc_pb2_grpc.AuthStub(channels[0]).Authenticate(
            rpc_pb2.AuthenticateRequest(name="erin", password="erinpw"), timeout=10).token
        md = (("token", token),)

        def range_on(ch: grpc.Channel) -> int:
            return rpc_pb2_grpc.KVStub(ch).Range(rpc_pb2.RangeRequest(key=b"st/k"), metadata=md, timeout=10).count

        for ch in channels:  # the log may still be carrying the token to a follower: wait for it
            wait_for(lambda ch=ch: range_on(ch) == 0, timeout=20, what="the token accepted on every member")
        ctl.out("role", "grant-permission", "st", "read", "st2/", "--prefix")
        wait_for(lambda: all(range_on(ch) == 0 for ch in channels), timeout=20, what="token kept after a role change")
        ctl.out("user", "passwd", "erin", "--interactive=false", stdin="newpw\n")

        def refused_everywhere() -> bool:
            for ch in channels:
                try:
                    range_on(ch)
                    return False
                except grpc.RpcError as err:
                    assert (err.code(), err.details()) == (grpc.StatusCode.UNAUTHENTICATED,
                                                           "etcdserver: invalid auth token")
            return True

        wait_for(refused_everywhere, timeout=20, what="the token refused on every member after a password change")
    finally:
        for ch in channels:
            ch.close()
        ctl.out("auth", "disable")


# ---- etcd's JWT token provider (`--auth-token jwt,...`): the same scenario on etcd 3.4 and raftkv
@dataclasses.dataclass
class _JwtCluster(ProcessCluster):
    auth_token: str = ""

    def command(self, m: Member) -> list[str]:
        return [*super().command(m), "--auth-token", self.auth_token]


@pytest.fixture(scope="module", params=KINDS)
def jwt_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_JwtCluster]:
    base = tmp_path_factory.mktemp(f"jwt-{request.param}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (base / "jwt.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.TraditionalOpenSSL,
                                                     serialization.NoEncryption()))
    (base / "jwt.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    plain = new_cluster(request.param, base)
    c = _JwtCluster(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(plain)},
                    auth_token=f"jwt,pub-key={base / 'jwt.pub'},priv-key={base / 'jwt.key'},sign-method=RS256,ttl=5m")
    try:
        start_with_retries(c)
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def _claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def test_jwt_tokens_work_on_every_member_and_die_with_an_auth_change(jwt_cluster: _JwtCluster) -> None:
    c, ctl = jwt_cluster, Ctl(jwt_cluster)
    ctl.out("user", "add", "root", "--new-user-password=rootpw")
    ctl.out("role", "add", "jr")
    ctl.out("role", "grant-permission", "jr", "read", "jt/", "--prefix")
    ctl.out("user", "add", "dave", "--new-user-password=davepw")
    ctl.out("user", "grant-role", "dave", "jr")
    ctl.out("put", "jt/k", "v1")
    ctl.out("auth", "enable")
    creds = grpc.ssl_channel_credentials(*((c.pki / f).read_bytes() for f in ("ca.crt", "client.key", "client.crt")))
    channels = [grpc.secure_channel(e.removeprefix("https://"), creds) for e in c.endpoints]
    try:
        for endpoint in c.endpoints:  # etcdctl --user (it authenticates per command) against each member alone
            assert Ctl(c, endpoints=[endpoint]).out("--user", "dave:davepw", "get", "jt/k") == "jt/k\nv1\n"
        issued = rpc_pb2_grpc.AuthStub(channels[0]).Authenticate(
            rpc_pb2.AuthenticateRequest(name="dave", password="davepw"), timeout=10).token
        claims = _claims(issued)
        assert claims["username"] == "dave" and isinstance(claims["revision"], int) and claims["exp"] > time.time()
        # raftkv's verifier accepts the token whoever issued it (on etcd: etcd's own JWT)
        signer = load_signer("RS256", (c.base / "jwt.key").read_bytes(), (c.base / "jwt.pub").read_bytes())
        assert signer.verify(issued) == claims
        md = (("token", issued),)
        for ch in channels[1:]:  # a token one member signed, accepted by the others
            assert rpc_pb2_grpc.KVStub(ch).Range(rpc_pb2.RangeRequest(key=b"jt/k"), metadata=md,
                                                 timeout=10).kvs[0].value == b"v1"
        ctl.out("role", "grant-permission", "jr", "read", "jt2/", "--prefix")  # bumps the auth revision

        def refused_everywhere() -> bool:
            for ch in channels:
                try:
                    rpc_pb2_grpc.KVStub(ch).Range(rpc_pb2.RangeRequest(key=b"jt/k"), metadata=md, timeout=10)
                    return False  # this member has not applied the change yet
                except grpc.RpcError as err:
                    assert (err.code(), err.details()) == (grpc.StatusCode.INVALID_ARGUMENT, OLD_REVISION)
            return True

        wait_for(refused_everywhere, timeout=20, what="the old token refused on every member")
        for endpoint in c.endpoints:  # a fresh login per command keeps etcdctl working
            assert Ctl(c, endpoints=[endpoint]).out("--user", "dave:davepw", "get", "jt/k") == "jt/k\nv1\n"
        fresh = rpc_pb2_grpc.AuthStub(channels[2]).Authenticate(
            rpc_pb2.AuthenticateRequest(name="dave", password="davepw"), timeout=10).token
        assert _claims(fresh)["revision"] > claims["revision"]
        assert rpc_pb2_grpc.KVStub(channels[0]).Range(rpc_pb2.RangeRequest(key=b"jt/k"), metadata=(("token", fresh),),
                                                      timeout=10).count == 1
        with pytest.raises(grpc.RpcError) as forged:
            rpc_pb2_grpc.KVStub(channels[1]).Range(rpc_pb2.RangeRequest(key=b"jt/k"),
                                                   metadata=(("token", fresh[:-6] + "AAAAAA"),), timeout=10)
        assert (forged.value.code(), forged.value.details()) == (grpc.StatusCode.UNAUTHENTICATED,
                                                                 "etcdserver: invalid auth token")
    finally:
        for ch in channels:
            ch.close()
        ctl.out("auth", "disable")
