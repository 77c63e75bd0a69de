"""etcd's auth rules as a pure state machine, and its credentials."""

from __future__ import annotations

import pytest

from raftkv import errors
from raftkv.auth import READ, READWRITE, WRITE, AuthStore, Permission
from raftkv.auth.credentials import check_password, hash_password

pytestmark = pytest.mark.unit


def grant(a: AuthStore, role: str, perm: int, key: bytes, end: bytes = b"") -> None:
    a.apply({"op": "role_grant_permission", "name": role, "perm_type": perm, "key": key.hex(),
             "range_end": end.hex()})


def test_enable_needs_root_with_the_root_role() -> None:
    a = AuthStore()
    with pytest.raises(errors.RootUserNotExist):
        a.apply({"op": "auth_enable", "token_key": "00"})
    a.apply({"op": "user_add", "name": "root", "password": "h"})
    with pytest.raises(errors.RootRoleNotExist):
        a.apply({"op": "auth_enable", "token_key": "00"})
    a.apply({"op": "user_grant_role", "user": "root", "role": "root"})  # root needs no role object
    a.apply({"op": "auth_enable", "token_key": "00"})
    assert a.enabled and a.is_admin("root")
    with pytest.raises(errors.InvalidAuthMgmt):
        a.apply({"op": "user_delete", "name": "root"})
    with pytest.raises(errors.InvalidAuthMgmt):
        a.apply({"op": "user_revoke_role", "name": "root", "role": "root"})


def test_permissions_cover_whole_ranges_only() -> None:
    a = AuthStore()
    a.apply({"op": "user_add", "name": "alice", "password": "h"})
    a.apply({"op": "role_add", "name": "r"})
    grant(a, "r", READ, b"a/", b"a0")
    grant(a, "r", READWRITE, b"a/own")
    grant(a, "r", WRITE, b"z", b"\0")
    a.apply({"op": "user_grant_role", "user": "alice", "role": "r"})
    assert a.permitted("alice", b"a/x", b"", READ)
    assert a.permitted("alice", b"a/", b"a0", READ)
    assert not a.permitted("alice", b"a/", b"b", READ)  # wider than the permission
    assert not a.permitted("alice", b"a/x", b"", WRITE)
    assert a.permitted("alice", b"a/own", b"", WRITE)
    assert a.permitted("alice", b"zz", b"\0", WRITE) and not a.permitted("alice", b"y", b"\0", WRITE)
    assert not a.permitted("bob", b"a/x", b"", READ)
    a.apply({"op": "role_revoke_permission", "role": "r", "key": b"a/".hex(), "range_end": b"a0".hex()})
    assert not a.permitted("alice", b"a/x", b"", READ)
    with pytest.raises(errors.PermissionNotGranted):
        a.apply({"op": "role_revoke_permission", "role": "r", "key": b"a/".hex(), "range_end": b"a0".hex()})


def test_errors_are_etcds_and_a_failed_change_changes_nothing() -> None:
    a = AuthStore()
    a.apply({"op": "user_add", "name": "u", "password": "h"})
    rev = a.revision
    for op, err in [({"op": "user_add", "name": "u"}, errors.UserAlreadyExist),
                    ({"op": "user_add", "name": ""}, errors.UserEmpty),
                    ({"op": "user_grant_role", "user": "u", "role": "nope"}, errors.RoleNotFound),
                    ({"op": "user_revoke_role", "name": "u", "role": "nope"}, errors.RoleNotGranted),
                    ({"op": "role_delete", "role": "nope"}, errors.RoleNotFound),
                    ({"op": "user_delete", "name": "nobody"}, errors.UserNotFound)]:
        with pytest.raises(err):
            a.apply(op)
    assert a.revision == rev


def test_the_state_survives_json() -> None:
    a = AuthStore()
    a.apply({"op": "user_add", "name": "root", "password": "h"})
    a.apply({"op": "role_add", "name": "r"})
    grant(a, "r", READ, b"k", b"\0")
    a.apply({"op": "user_grant_role", "user": "root", "role": "r"})
    b = AuthStore.from_json(a.to_json())
    assert b == a and b.role_permissions("r") == [Permission(READ, b"k", b"\0")]


def test_passwords_are_bcrypt_as_etcd_writes_them() -> None:
    stored = hash_password("s3cret", b"salt1234salt1234", cost=4)
    assert stored.startswith("$2a$04$") and len(stored) == 60  # Go's bcrypt.GenerateFromPassword format
    assert stored == hash_password("s3cret", b"salt1234salt1234", cost=4)  # pure: the salt is given
    assert check_password("s3cret", stored) and not check_password("S3cret", stored)
    assert hash_password("pw", bytes(16)).startswith("$2a$10$")  # etcd's default --bcrypt-cost
    assert not check_password("s3cret", "garbage") and not check_password("s3cret", "md5$1$00$00")
    assert not check_password("s3cret", "$2a$04$short") and not check_password("x", "pbkdf2-sha256$x$zz$00")
    # bcrypt reads 72 bytes, as Go's did
    assert check_password("a" * 72 + "b", hash_password("a" * 72 + "c", bytes(16), cost=4))


def test_hashes_of_earlier_raftkv_versions_still_check() -> None:
    import hashlib
    salt = b"0123456789abcdef"
    legacy = f"pbkdf2-sha256$20000${salt.hex()}${hashlib.pbkdf2_hmac('sha256', b'old', salt, 20000).hex()}"
    assert check_password("old", legacy) and not check_password("new", legacy)


def test_every_change_bumps_the_revision_but_a_repeated_enable_or_disable_does_not() -> None:
    a = AuthStore()
    rev = a.revision
    for op in ({"op": "user_add", "name": "root", "password": "h"},
               {"op": "user_grant_role", "user": "root", "role": "root"},
               {"op": "role_add", "name": "r"},
               {"op": "user_change_password", "name": "root", "password": "h2"},
               {"op": "auth_enable", "token_key": "00"}):
        a.apply(op)
        assert a.revision == rev + 1
        rev = a.revision
    a.apply({"op": "auth_enable", "token_key": "11"})
    assert a.revision == rev and a.token_key == "00"
    a.apply({"op": "auth_disable"})
    a.apply({"op": "auth_disable"})
    assert a.revision == rev + 1
    with pytest.raises(errors.RoleNotFound):
        a.apply({"op": "role_delete", "role": "nosuch"})
    assert a.revision == rev + 1  # a refused change is no change
