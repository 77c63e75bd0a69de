"""Durable storage adapters: the write-ahead log (`wal`) and snapshot files (`snap`)."""

from raftkv.storage.snap import SnapshotCorrupt, SnapshotReceiver, Snapshotter, sha256_of
from raftkv.storage.wal import WAL, WALCorrupt, WALState

__all__ = ["WAL", "SnapshotCorrupt", "SnapshotReceiver", "Snapshotter", "WALCorrupt", "WALState", "sha256_of"]
