"""The sync loop: informer events mark the state dirty; at most one sync per min sync period applies it.

Batched as kube-proxy's BoundedFrequencyRunner: a burst of endpoint changes within --iptables-min-sync-period
becomes one iptables-restore; --iptables-sync-period runs a sync even without changes; every hour (kube-proxy's
FullSyncPeriod), and after a failed restore, the sync is full (every chain rewritten, which repairs rules someone
else flushed) instead of partial.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agents.proxy import rules
from agents.proxy.iptables import IPTables, IPTablesError
from agents.proxy.model import ServicePort, build
from agents.proxy.userspace import Userspace
from controllers.machinery.informer import Informer

log = logging.getLogger("raftkv-proxy")


@dataclass
class SyncStats:
    syncs: int = 0
    failures: int = 0
    last_duration_s: float = 0.0
    last_compute_s: float = 0.0
    durations: list[float] = field(default_factory=list)


class Syncer:
    def __init__(self, services: Informer, slices: Informer, *, min_sync_s: float, sync_period_s: float,
                 apply: Callable[[Sequence[ServicePort], bool], object], full_sync_s: float = 3600.0) -> None:
        self.services, self.slices = services, slices
        self.min_sync_s, self.sync_period_s, self.full_sync_s = min_sync_s, sync_period_s, full_sync_s
        self.apply = apply
        self.dirty = asyncio.Event()
        self.stats = SyncStats()
        for inf in (services, slices):
            inf.add_handlers(lambda o: self.dirty.set(), lambda o, n: self.dirty.set(), lambda o: self.dirty.set())

    async def run(self) -> None:
        last_full = -self.full_sync_s
        last = 0.0
        while True:
            try:
                await asyncio.wait_for(self.dirty.wait(), max(0.0, self.sync_period_s - (time.monotonic() - last)))
            except TimeoutError:
                pass
            wait = self.min_sync_s - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            self.dirty.clear()
            full = time.monotonic() - last_full >= self.full_sync_s
            last = time.monotonic()
            try:
                ports = build(self.services.store.list(), self.slices.store.list())
                result = self.apply(ports, full)
                if asyncio.iscoroutine(result):
                    await result
                self.stats.syncs += 1
                if full:
                    last_full = last
            except (IPTablesError, OSError) as e:
                self.stats.failures += 1
                last_full = -self.full_sync_s  # next time: everything again
                log.error("sync failed: %s", e)
            except Exception:  # noqa: BLE001 - a bug on odd input must not end the sync loop
                self.stats.failures += 1
                last_full = -self.full_sync_s
                log.exception("sync failed")
            self.stats.last_duration_s = time.monotonic() - last
            self.stats.durations.append(self.stats.last_duration_s)
            del self.stats.durations[:-1000]


@dataclass
class IPTablesApplier:
    """Keeps what was applied last, so the next sync writes only changed services and deletes stale chains."""
    ipt: IPTables
    cfg: rules.Config
    applied: frozenset[ServicePort] = frozenset()
    chains: frozenset[str] = frozenset()
    base_done: bool = False
    last_text: str = ""
    memo: rules.Memo = field(default_factory=dict)

    async def __call__(self, ports: Sequence[ServicePort], full: bool) -> None:
        if not self.base_done or full:
            await self.ipt.ensure_base(self.cfg.localhost_nodeports)
            existing = await self.ipt.service_chains()
            self.chains = self.chains | frozenset(existing)
            self.base_done = True
        unchanged = frozenset() if full else self.applied & frozenset(ports)
        rs = rules.compute(ports, self.cfg, stale=self.chains, unchanged=unchanged, memo=self.memo)
        if rs.text == self.last_text and not full:
            return
        await self.ipt.restore(rs.text)
        self.last_text = rs.text
        self.applied, self.chains = frozenset(ports), rs.nat_chains
        log.debug("synced %d service ports, %d filter and %d nat rules", len(ports), rs.filter_rules, rs.nat_rules)


@dataclass
class UserspaceApplier:
    proxy: Userspace

    async def __call__(self, ports: Sequence[ServicePort], full: bool) -> None:
        await self.proxy.sync(ports)
