"""The auth state machine: etcd's users, roles and key-range permissions, applied from the log.

Every change arrives as a committed log entry and is applied in the same order on every member, so
every member holds the same users and roles; the whole state is one JSON document stored beside the
keys (in the backend's meta table), so it is part of every snapshot. Passwords arrive already hashed
(the member that received the request hashed them), so applying never costs a key derivation.
Messages and the rules they enforce are etcd's (root must exist with the root role before auth is
enabled, root cannot be deleted or lose its role while auth is on, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from raftkv import errors

READ, WRITE, READWRITE = 0, 1, 2
ROOT = "root"


@dataclass(frozen=True)
class Permission:
    perm_type: int
    key: bytes
    range_end: bytes = b""

    def covers(self, key: bytes, range_end: bytes) -> bool:
        """Whether [key, range_end) (a single key when range_end is empty) lies inside this permission."""
        if not self.range_end:
            return not range_end and key == self.key
        if self.range_end == b"\0":
            return key >= self.key
        if not range_end:
            return self.key <= key < self.range_end
        if range_end == b"\0":
            return False
        return self.key <= key and range_end <= self.range_end


@dataclass
class User:
    name: str
    password: str  # "" with no_password
    roles: list[str] = field(default_factory=list)
    no_password: bool = False
    tokens_from: int = 0  # simple tokens issued before this auth revision are void (etcd's invalidateUser)


@dataclass
class AuthStore:
    enabled: bool = False
    revision: int = 1
    token_key: str = ""  # hex; signs tokens, shared by every member through the log
    users: dict[str, User] = field(default_factory=dict)
    roles: dict[str, list[Permission]] = field(default_factory=dict)

    # ---- changes (applied from the log)
    def apply(self, op: dict) -> None:
        """One change, as proposed (see `raftkv.server.services.AuthService`)."""
        kind = op["op"]
        handler = getattr(self, "_" + kind, None)
        if handler is None:
            raise errors.InvalidArgument(f"etcdserver: unknown auth operation {kind!r}")
        if handler(op) is not False:  # etcd bumps on every change, not on a no-op enable/disable
            self.revision += 1

    def _auth_enable(self, op: dict) -> bool:
        if self.enabled:
            return False
        root = self.users.get(ROOT)
        if root is None:
            raise errors.RootUserNotExist()
        if ROOT not in root.roles:
            raise errors.RootRoleNotExist()
        self.enabled = True
        self.token_key = op["token_key"]
        return True

    def _auth_disable(self, op: dict) -> bool:
        if not self.enabled:
            return False
        self.enabled = False
        return True

    def _user_add(self, op: dict) -> None:
        name = op["name"]
        if not name:
            raise errors.UserEmpty()
        if name in self.users:
            raise errors.UserAlreadyExist()
        self.users[name] = User(name, op.get("password", ""), [], bool(op.get("no_password")), self.revision + 1)

    def _user_delete(self, op: dict) -> None:
        name = op["name"]
        if self.enabled and name == ROOT:
            raise errors.InvalidAuthMgmt()
        if self.users.pop(name, None) is None:
            raise errors.UserNotFound()

    def _user_change_password(self, op: dict) -> None:
        user = self._user(op["name"])
        user.password = op["password"]
        user.tokens_from = self.revision + 1

    def _user_grant_role(self, op: dict) -> None:
        user, role = self._user(op["user"]), op["role"]
        if role != ROOT and role not in self.roles:
            raise errors.RoleNotFound()
        if role not in user.roles:
            user.roles = sorted([*user.roles, role])

    def _user_revoke_role(self, op: dict) -> None:
        user, role = self._user(op["name"]), op["role"]
        if self.enabled and user.name == ROOT and role == ROOT:
            raise errors.InvalidAuthMgmt()
        if role not in user.roles:
            raise errors.RoleNotGranted()
        user.roles = [r for r in user.roles if r != role]

    def _role_add(self, op: dict) -> None:
        name = op["name"]
        if not name:
            raise errors.RoleEmpty()
        if name in self.roles:
            raise errors.RoleAlreadyExist()
        self.roles[name] = []

    def _role_delete(self, op: dict) -> None:
        name = op["role"]
        if self.enabled and name == ROOT:
            raise errors.InvalidAuthMgmt()
        if self.roles.pop(name, None) is None:
            raise errors.RoleNotFound()
        for u in self.users.values():
            u.roles = [r for r in u.roles if r != name]

    def _role_grant_permission(self, op: dict) -> None:
        perms = self._role(op["name"])
        p = Permission(int(op["perm_type"]), bytes.fromhex(op["key"]), bytes.fromhex(op["range_end"]))
        kept = [q for q in perms if (q.key, q.range_end) != (p.key, p.range_end)]
        self.roles[op["name"]] = sorted([*kept, p], key=lambda q: (q.key, q.range_end))

    def _role_revoke_permission(self, op: dict) -> None:
        perms = self._role(op["role"])
        key, end = bytes.fromhex(op["key"]), bytes.fromhex(op["range_end"])
        kept = [q for q in perms if (q.key, q.range_end) != (key, end)]
        if len(kept) == len(perms):
            raise errors.PermissionNotGranted()
        self.roles[op["role"]] = kept

    def _user(self, name: str) -> User:
        user = self.users.get(name)
        if user is None:
            raise errors.UserNotFound()
        return user

    def _role(self, name: str) -> list[Permission]:
        perms = self.roles.get(name)
        if perms is None:
            raise errors.RoleNotFound()
        return perms

    # ---- reads
    def user_roles(self, name: str) -> list[str]:
        return list(self._user(name).roles)

    def role_permissions(self, name: str) -> list[Permission]:
        if name == ROOT and name not in self.roles:
            return []
        return list(self._role(name))

    def tokens_valid_from(self, name: str) -> int:
        """The oldest auth revision a simple token of `name` may carry: tokens die with their user and with a
        password change, as etcd's invalidateUser drops them."""
        u = self.users.get(name)
        return u.tokens_from if u is not None else self.revision + 1

    def is_admin(self, user: str) -> bool:
        u = self.users.get(user)
        return u is not None and ROOT in u.roles

    def permitted(self, user: str, key: bytes, range_end: bytes, perm_type: int) -> bool:
        """Whether `user` may read (READ) or write (WRITE) [key, range_end): one permission of one of its
        roles must cover the whole range, as in etcd."""
        u = self.users.get(user)
        if u is None:
            return False
        if ROOT in u.roles:
            return True
        for role in u.roles:
            for p in self.roles.get(role, []):
                if (p.perm_type == READWRITE or p.perm_type == perm_type) and p.covers(key, range_end):
                    return True
        return False

    # ---- persistence
    def to_json(self) -> bytes:
        return json.dumps({
            "enabled": self.enabled, "revision": self.revision, "token_key": self.token_key,
            "users": [{"name": u.name, "password": u.password, "roles": u.roles, "no_password": u.no_password,
                       "tokens_from": u.tokens_from}
                      for u in self.users.values()],
            "roles": {name: [[p.perm_type, p.key.hex(), p.range_end.hex()] for p in perms]
                      for name, perms in self.roles.items()},
        }, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | None) -> AuthStore:
        if not data:
            return cls()
        d = json.loads(data)
        return cls(enabled=d["enabled"], revision=d["revision"], token_key=d["token_key"],
                   users={u["name"]: User(u["name"], u["password"], list(u["roles"]), u["no_password"],
                                            u.get("tokens_from", 0))
                          for u in d["users"]},
                   roles={name: [Permission(t, bytes.fromhex(k), bytes.fromhex(e)) for t, k, e in perms]
                          for name, perms in d["roles"].items()})
