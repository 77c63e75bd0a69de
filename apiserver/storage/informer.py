"""Feeds a `Lister` from the store: one list, then one watch per resource from the list's revision.

The adapter half of the auth state cache (the pure half is `apiserver.storage.lister`). A watch that fails
(compaction, a store restart) is re-established after a fresh list, with a capped back-off, so the cache
converges again without a server restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from apiserver.api.resources import Resource
from apiserver.storage.errors import KV, StorageError
from apiserver.storage.etcd3 import Etcd3Store
from apiserver.storage.lister import Lister

log = logging.getLogger("apiserver.informer")
MAX_BACKOFF_S = 5.0
LIST_PAGE = 500


def split_key(resource: Resource, key: str) -> tuple[str, str] | None:
    """(namespace, name) from a storage key of ``resource``; None for keys of another layout."""
    rest = key[len(resource.key_prefix):] if key.startswith(resource.key_prefix) else None
    if rest is None:
        return None
    if resource.namespaced:
        parts = rest.split("/")
        return (parts[0], parts[1]) if len(parts) == 2 else None
    return ("", rest) if "/" not in rest else None


def decode(kv: KV) -> dict[str, Any] | None:
    try:
        obj = json.loads(kv.value)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


class Informer:
    def __init__(self, storage: Etcd3Store, lister: Lister, resources: Sequence[Resource]) -> None:
        self.storage = storage
        self.lister = lister
        self.resources = list(resources)
        self.tasks: list[asyncio.Task[None]] = []

    async def _list(self, r: Resource) -> int:
        items: list[tuple[str, str, dict[str, Any], int]] = []
        start, rev = "", 0
        while True:
            res = await self.storage.list(r.key_prefix, start=start, limit=LIST_PAGE, revision=rev)
            rev = rev or res.revision
            for kv in res.kvs:
                where, obj = split_key(r, kv.key), decode(kv)
                if where is not None and obj is not None:
                    items.append((where[0], where[1], obj, kv.mod_revision))
            if not res.more or not res.kvs:
                break
            start = res.kvs[-1].key + "\0"
        self.lister.replace(r.plural, items)
        return rev

    async def start(self) -> None:
        """Lists every resource (so the first request already sees the bootstrap policy), then watches."""
        revisions = [await self._list(r) for r in self.resources]
        self.tasks = [asyncio.create_task(self._watch(r, rev), name=f"informer-{r.plural}")
                      for r, rev in zip(self.resources, revisions, strict=True)]

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 — shutting down
                pass
        self.tasks = []

    async def _watch(self, r: Resource, rev: int) -> None:
        backoff = 0.1
        while True:
            try:
                async for ev in self.storage.watch(r.key_prefix, rev + 1):
                    if ev.type == "PROGRESS" or ev.kv is None:
                        continue
                    rev = ev.revision
                    where = split_key(r, ev.kv.key)
                    if where is None:
                        continue
                    obj = None if ev.type == "DELETE" else decode(ev.kv)
                    self.lister.apply(r.plural, where[0], where[1], obj, ev.revision)
                    backoff = 0.1
                raise StorageError("watch ended")
            except StorageError as e:
                log.warning("informer for %s: %s; relisting in %.1fs", r.plural, e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                try:
                    rev = await self._list(r)
                except StorageError:
                    continue
