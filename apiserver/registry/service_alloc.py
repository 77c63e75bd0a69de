"""The Services store's allocation hook: reads the two RangeAllocation objects, lets the pure planner
(`allocation.py`) fill the Service and compute the new bitmaps, and hands the store guards — the bitmaps to write in
the Service's own Txn, each guarded on the mod_revision it was read at. A guard that lost a race (another create,
here or on another API server) makes the store run the hook again against the new bitmap."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apiserver.registry import allocation as al
from apiserver.storage.errors import GuardMismatch, KeyExists, RevisionMismatch
from apiserver.storage.etcd3 import Etcd3Store

log = logging.getLogger(__name__)
Guard = tuple[str, int, bytes]
REPAIR_ATTEMPTS = 32


class ServiceAllocator:
    def __init__(self, storage: Etcd3Store, ips: al.IPRange, ports: al.PortRange, rng: al.RandomSource) -> None:
        self.storage = storage
        self.ips = ips
        self.ports = ports
        self.rng = rng

    async def _read(self) -> tuple[al.Ranges, int, int]:
        ip_kv, _ = await self.storage.get(al.SERVICE_IPS_KEY)
        port_kv, _ = await self.storage.get(al.NODE_PORTS_KEY)
        ranges = al.Ranges(self.ips, self.ports, al.read_range(ip_kv.value if ip_kv else None, self.ips.spec),
                           al.read_range(port_kv.value if port_kv else None, self.ports.spec))
        return ranges, ip_kv.mod_revision if ip_kv else 0, port_kv.mod_revision if port_kv else 0

    def _guards(self, plan: al.Plan, ip_rev: int, port_rev: int) -> list[Guard]:
        out: list[Guard] = []
        if plan.changed_ips:
            out.append((al.SERVICE_IPS_KEY, ip_rev, al.range_object(self.ips.spec, plan.ip_bits)))
        if plan.changed_ports:
            out.append((al.NODE_PORTS_KEY, port_rev, al.range_object(self.ports.spec, plan.port_bits)))
        return out

    async def on_create(self, obj: dict[str, Any]) -> list[Guard]:
        ranges, ip_rev, port_rev = await self._read()
        return self._guards(al.plan_create(obj, ranges, self.rng), ip_rev, port_rev)

    async def on_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[Guard]:
        ranges, ip_rev, port_rev = await self._read()
        return self._guards(al.plan_update(new, old, ranges, self.rng), ip_rev, port_rev)

    async def on_delete(self, old: dict[str, Any]) -> list[Guard]:
        ranges, ip_rev, port_rev = await self._read()
        return self._guards(al.plan_release(old, ranges), ip_rev, port_rev)

    async def repair(self, list_services: Callable[[], Awaitable[list[dict[str, Any]]]]) -> None:
        """Rebuild the bitmaps from the stored Services (Services written before this allocator existed, a bitmap
        lost, written for another range, or holding an address nobody uses). The bitmaps are read before the list
        and written guarded on that read, so an allocation or release racing with the repair makes it start over
        instead of being undone."""
        for _ in range(REPAIR_ATTEMPTS):
            ranges, ip_rev, port_rev = await self._read()
            guards = self._guards(al.rebuilt(await list_services(), ranges), ip_rev, port_rev)
            if not guards:
                return
            try:
                await self._write(guards)
                return
            except GuardMismatch:
                continue
        log.warning("service allocation repair gave up after %d attempts", REPAIR_ATTEMPTS)

    async def _write(self, guards: list[Guard]) -> None:
        for key, rev, value in guards:
            try:
                if rev:
                    await self.storage.update(key, value, rev)
                else:
                    await self.storage.create(key, value)
            except (RevisionMismatch, KeyExists) as e:  # another writer was first: read again
                raise GuardMismatch([key]) from e
