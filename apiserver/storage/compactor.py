"""Runs `compaction.py`'s rounds against the store every interval (kube-apiserver's compactor goroutine)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from apiserver.storage import compaction
from apiserver.storage.errors import StorageError
from raftkv.eventloop import cancel_and_wait

log = logging.getLogger(__name__)


class CompactStore(Protocol):
    async def compact_txn(self, key: str, expect_version: int, value: bytes) -> tuple[bool, int, int, bytes]: ...

    async def compact(self, revision: int) -> None: ...


class Compactor:
    def __init__(self, storage: CompactStore, interval: float) -> None:
        self.storage = storage
        self.interval = interval
        self.state = compaction.CompactState()
        self.compacted = 0  # the last compacted revision this server knows of
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:  # 0 disables it, as in kube-apiserver
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)  # the first round comes one interval after start
            await self.round()

    async def round(self) -> None:
        expect, value = compaction.txn(self.state)
        try:
            answer = await self.storage.compact_txn(compaction.COMPACT_REV_KEY, expect, value)
        except StorageError as e:
            log.error("etcd: compact failed: %s", e)
            return
        step = compaction.after_txn(self.state, *answer)
        self.state = step.state
        if step.compact_to:
            try:
                await self.storage.compact(step.compact_to)
            except StorageError as e:
                log.error("etcd: compact failed: %s", e)
                return
            log.debug("etcd: compacted rev (%d)", step.compact_to)
        if step.compacted:
            self.compacted = step.compacted
