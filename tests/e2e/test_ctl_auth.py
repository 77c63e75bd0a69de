"""etcd's authentication with Debian's etcdctl (v3.4): users, roles, key-range permissions, `auth enable`.

The same assertions run on etcd 3.4 and on raftkv. Auth lives in its own module, so its own clusters: once
it is on, every request needs a user. The client certificate's CN is `root`, which etcd takes as the user
when a request carries no token, so plain `ctl` acts as root and `--user` speaks for somebody else.
"""

from __future__ import annotations

import grpc
import pytest

from raftkv._pb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.e2e.cluster import ProcessCluster
from tests.e2e.test_ctl_suite import Ctl

pytestmark = pytest.mark.e2e
DENIED = "etcdserver: permission denied"
BAD_LOGIN = "etcdserver: authentication failed, invalid user ID or password"


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
