"""etcd's MVCC model: revisioned keys in an on-disk backend, the applier of KV and lease requests,
and watch event production. `core/` holds the pure parts."""

from __future__ import annotations

from raftkv.mvcc.apply import Applier
from raftkv.mvcc.backend import Backend
from raftkv.mvcc.core.checks import check_compaction, check_delete_range, check_put, check_range, check_txn
from raftkv.mvcc.store import KVStore
from raftkv.mvcc.watch import WatchBatch, WatchStream


def open_store(data_dir: str | None) -> KVStore:
    """The store in `data_dir` (created if missing), or a private in-memory one for None."""
    return KVStore.open(data_dir)


__all__ = ["Applier", "Backend", "KVStore", "WatchBatch", "WatchStream", "check_compaction", "check_delete_range",
           "check_put", "check_range", "check_txn", "open_store"]
