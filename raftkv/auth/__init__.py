"""etcd's authentication and authorization: users, roles, key-range permissions, tokens (pure)."""

from raftkv.auth.store import READ, READWRITE, ROOT, WRITE, AuthStore, Permission

__all__ = ["READ", "READWRITE", "ROOT", "WRITE", "AuthStore", "Permission"]
