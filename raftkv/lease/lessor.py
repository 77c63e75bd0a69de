"""The lease table: grants, attached keys and expiry, with time passed in.

Rules: no clock here (`now` is an argument). Only the primary lessor (on the leader) has
expiry times; it reports expired leases and the leader PROPOSES their revocation through
Raft — a lease is never revoked locally, so every member deletes the same keys at the same
revision. Remaining time is not replicated: a new leader gives every lease its full TTL
again (plus the election timeout), as etcd does, so leases do not expire because of an
election.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from raftkv import errors

MAX_LEASE_TTL = 9_000_000_000


@dataclass
class Lease:
    id: int
    ttl: int
    keys: set[bytes] = field(default_factory=set)
    expiry: float | None = None


class Lessor:
    def __init__(self, min_ttl: int = 5) -> None:
        self.min_ttl = min_ttl
        self._leases: dict[int, Lease] = {}
        self.primary = False

    def __contains__(self, lid: int) -> bool:
        return lid in self._leases

    def grant(self, lid: int, ttl: int) -> Lease:
        if lid == 0:
            raise errors.LeaseNotFound()  # 0 means "no lease" everywhere, as in etcd
        if lid in self._leases:
            raise errors.LeaseExists()
        if ttl > MAX_LEASE_TTL:
            raise errors.LeaseTTLTooLarge()
        lease = Lease(lid, max(ttl, self.min_ttl))
        self._leases[lid] = lease
        return lease

    def restore(self, lid: int, ttl: int) -> None:
        self._leases.setdefault(lid, Lease(lid, ttl))

    def revoke(self, lid: int) -> list[bytes]:
        lease = self._leases.pop(lid, None)
        if lease is None:
            raise errors.LeaseNotFound()
        return sorted(lease.keys)

    def attach(self, lid: int, key: bytes) -> None:
        lease = self._leases.get(lid)
        if lease is not None:
            lease.keys.add(key)

    def detach(self, lid: int, key: bytes) -> None:
        lease = self._leases.get(lid)
        if lease is not None:
            lease.keys.discard(key)

    def renew(self, lid: int, now: float) -> int:
        lease = self._leases.get(lid)
        if lease is None:
            raise errors.LeaseNotFound()
        if self.primary:
            lease.expiry = now + lease.ttl
        return lease.ttl

    def time_to_live(self, lid: int, now: float) -> tuple[int, int, list[bytes]]:
        lease = self._leases.get(lid)
        if lease is None:
            raise errors.LeaseNotFound()
        # whole seconds left, truncated as etcd does (a fresh 10 s lease reports 9)
        remaining = lease.ttl if lease.expiry is None else max(0, int(lease.expiry - now))
        return lease.ttl, remaining, sorted(lease.keys)

    def leases(self) -> list[int]:
        return list(self._leases)

    def promote(self, now: float, extend: float) -> None:
        self.primary = True
        for lease in self._leases.values():
            lease.expiry = now + lease.ttl + extend

    def demote(self) -> None:
        self.primary = False
        for lease in self._leases.values():
            lease.expiry = None

    def expired(self, now: float, limit: int = 1000) -> list[int]:
        """Leases past their expiry, which the leader must propose to revoke.

        A lease granted while primary has no expiry yet (applying a grant reads no clock): its
        TTL starts at the first `expired`/`renew` call after the grant, as etcd starts it at grant.
        """
        if not self.primary:
            return []
        for lease in self._leases.values():
            if lease.expiry is None:
                lease.expiry = now + lease.ttl
        out = [lid for lid, lease in self._leases.items() if lease.expiry is not None and lease.expiry <= now]
        return out[:limit]

    def next_deadline(self, skip: Collection[int] = ()) -> float | None:
        """The earliest expiry, leaving out the leases in `skip` (those whose revocation is under way)."""
        times = [lease.expiry for lid, lease in self._leases.items() if lease.expiry is not None and lid not in skip]
        return min(times) if times else None

    def next_check_in(self, now: float, skip: Collection[int], floor: float, ceiling: float) -> float:
        """How long the leader's expiry timer may sleep: until the next lease not in `skip` expires, so that
        it is revoked on time rather than up to a polling period late, but at least `floor` (leases expiring
        that close together go in one scan) and at most `ceiling` (leases granted meanwhile are seen)."""
        deadline = self.next_deadline(skip)
        wait = ceiling if deadline is None else deadline - now
        return min(ceiling, max(floor, wait))

    def clear(self) -> None:
        self._leases.clear()
