"""Storage-level errors; the registry translates them to API errors once (k8s `storage.Err*`)."""

from __future__ import annotations

from dataclasses import dataclass


class StorageError(Exception):
    """Base of every error the store raises on purpose."""


@dataclass
class KeyExists(StorageError):
    key: str


@dataclass
class KeyNotFound(StorageError):
    key: str


@dataclass
class RevisionMismatch(StorageError):
    """A guarded write lost: the key's mod_revision is no longer the expected one."""
    key: str
    current: KV | None


@dataclass
class GuardMismatch(StorageError):
    """A create that also rewrote other keys (a quota's usage) lost because one of those keys changed first."""
    keys: list[str]


@dataclass
class Compacted(StorageError):
    requested: int
    compact_revision: int


@dataclass
class FutureRevision(StorageError):
    requested: int
    current: int


@dataclass
class Unavailable(StorageError):
    detail: str


@dataclass(frozen=True)
class KV:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int
