"""Lease-based leader election (coordination.k8s.io/v1), as client-go's tools/leaderelection.

A candidate takes the Lease when it does not exist, when it is its own, or when the holder has not renewed for
`lease_duration` *as observed on the candidate's own clock* (client-go never trusts the renewTime written by another
machine's clock: it notes when it last saw the record change). The leader renews every `retry_period`; when it has
not managed to renew within `renew_deadline` it stops leading (and kube-controller-manager exits).
The decision is the pure `next_record`; `LeaderElector` is its I/O loop.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.resources import LEASES

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2


@dataclass(frozen=True)
class LeaderElectionRecord:
    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str = ""
    renew_time: str = ""
    leader_transitions: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaderElectionRecord:
        return cls(spec.get("holderIdentity") or "", int(spec.get("leaseDurationSeconds") or 0),
                   spec.get("acquireTime") or "", spec.get("renewTime") or "", int(spec.get("leaseTransitions") or 0))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"holderIdentity": self.holder_identity,
                                "leaseDurationSeconds": self.lease_duration_seconds,
                                "leaseTransitions": self.leader_transitions}
        if self.acquire_time:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time:
            spec["renewTime"] = self.renew_time
        return spec


def micro_time(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_record(current: LeaderElectionRecord | None, observed_at: float, now: float, identity: str,
                lease_duration: float, stamp: str) -> LeaderElectionRecord | None:
    """The record to write to take or keep the lease, or None when another holder's lease is still valid.

    `observed_at` is when this candidate last saw `current` change (its own clock); `stamp` is `now` formatted.
    """
    duration = int(lease_duration)
    if current is None:
        return LeaderElectionRecord(identity, duration, stamp, stamp, 0)
    held_by_other = bool(current.holder_identity) and current.holder_identity != identity
    if held_by_other and observed_at + current.lease_duration_seconds > now:
        return None
    if current.holder_identity == identity:
        return LeaderElectionRecord(identity, duration, current.acquire_time or stamp, stamp,
                                    current.leader_transitions)
    return LeaderElectionRecord(identity, duration, stamp, stamp, current.leader_transitions + 1)


class LeaderElector:
    """Campaign for `namespace/name`, run `on_started_leading` while leading, return when leadership is lost."""

    def __init__(self, client: RESTClient, namespace: str, name: str, identity: str, *,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock = clock
        self.rng = rng or random.Random()
        self.observed: LeaderElectionRecord | None = None
        self.observed_at = 0.0
        self._lease: dict[str, Any] | None = None
        self.leading = False

    def _jittered(self) -> float:
        return self.retry_period * (1 + self.rng.random() * (JITTER_FACTOR - 1))

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; False (never an exception) when the API server refuses or cannot be reached, so an
        outage shorter than the renew deadline costs no leadership."""
        try:
            return await self._try_acquire_or_renew()
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            log.error("error reaching the API server for lock %s/%s: %r", self.namespace, self.name, e)
            return False

    async def _try_acquire_or_renew(self) -> bool:
        now = self.clock()
        try:
            lease: dict[str, Any] | None = await self.client.get(LEASES, self.namespace, self.name)
        except APIError as e:
            if not e.not_found:
                log.error("error retrieving resource lock %s/%s: %s", self.namespace, self.name, e)
                return False
            lease = None
        if lease is None:
            record = next_record(None, now, now, self.identity, self.lease_duration, micro_time(now))
            assert record is not None
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace}, "spec": record.to_spec()}
            try:
                self._lease = await self.client.create(LEASES, self.namespace, body)
            except APIError as e:
                log.error("error initially creating leader election record: %s", e)
                return False
            self._observe(record, now)
            return True
        current = LeaderElectionRecord.from_spec(lease.get("spec") or {})
        if current != self.observed:
            self._observe(current, now)
        record = next_record(current, self.observed_at, now, self.identity, self.lease_duration, micro_time(now))
        if record is None:
            return False
        lease = {**lease, "spec": record.to_spec()}
        try:
            self._lease = await self.client.update(LEASES, self.namespace, self.name, lease)
        except APIError as e:
            log.error("Failed to update lock: %s", e)
            return False
        self._observe(record, now)
        return True

    def _observe(self, record: LeaderElectionRecord, now: float) -> None:
        self.observed = record
        self.observed_at = now

    async def acquire(self) -> None:
        log.info("attempting to acquire leader lease %s/%s...", self.namespace, self.name)
        while not await self.try_acquire_or_renew():
            holder = self.observed.holder_identity if self.observed else ""
            log.debug("lease is held by %s and has not yet expired", holder)
            await asyncio.sleep(self._jittered())
        log.info("successfully acquired lease %s/%s", self.namespace, self.name)

    async def renew_until_lost(self) -> None:
        """Renew every retry_period; return when a renewal round found no success within renew_deadline."""
        while True:
            deadline = self.clock() + self.renew_deadline
            while True:
                try:
                    ok = await asyncio.wait_for(self.try_acquire_or_renew(),
                                                max(0.01, deadline - self.clock()))
                except TimeoutError:
                    ok = False
                if ok:
                    break
                if self.clock() + self.retry_period >= deadline:
                    log.info("failed to renew lease %s/%s: timed out waiting for the condition",
                             self.namespace, self.name)
                    return
                await asyncio.sleep(self.retry_period)
            await asyncio.sleep(self.retry_period)

    async def run(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        """Acquire, then lead until the lease is lost (or `on_started_leading` ends); the caller decides what
        losing means (kube-controller-manager exits)."""
        await self.acquire()
        self.leading = True
        leader = asyncio.ensure_future(on_started_leading())
        renew = asyncio.ensure_future(self.renew_until_lost())
        try:
            await asyncio.wait([leader, renew], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.leading = False
            for t in (leader, renew):
                t.cancel()
            await asyncio.gather(leader, renew, return_exceptions=True)
        if leader.done() and not leader.cancelled() and leader.exception() is not None:
            raise leader.exception()  # type: ignore[misc]

    async def release(self) -> None:
        """Give the lease up (holder cleared, duration 1 s) so another candidate need not wait it out."""
        if self._lease is None or self.observed is None or self.observed.holder_identity != self.identity:
            return
        now = micro_time(self.clock())
        record = LeaderElectionRecord("", 1, now, now, self.observed.leader_transitions)
        try:
            await self.client.update(LEASES, self.namespace, self.name, {**self._lease, "spec": record.to_spec()})
        except APIError as e:
            log.warning("failed to release lease: %s", e)
