"""core/v1 Events as client-go's record.EventRecorder writes them, without blocking the controller.

`event(obj, type, reason, message)` returns at once; a background task writes. Identical events (same source,
involved object, type, reason and message) within the cache's memory become one Event whose `count` and
`lastTimestamp` are patched, as client-go's EventCorrelator does; a burst of events about one object is limited by a
token bucket (burst 25, one more every 5 minutes), and more than 10 similar events (differing only in message)
within 10 minutes are combined under one "(combined from similar events)" Event.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.resources import EVENTS
from controllers.machinery.workqueue import TokenBucket

log = logging.getLogger(__name__)

Object = dict[str, Any]
CACHE_SIZE = 4096
MAX_QUEUED = 1000
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_S = 600.0


def rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_reference(obj: Object) -> Object:
    """The involvedObject: kind, namespace, name, uid, apiVersion, resourceVersion (reference.GetReference); a
    top-level `fieldPath` (the kubelet's `spec.containers{c}`) is carried over."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
           "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
           "resourceVersion": meta.get("resourceVersion", ""), "fieldPath": obj.get("fieldPath", "")}
    return {k: v for k, v in ref.items() if v}


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    first: str


class EventCorrelator:
    """The decisions of client-go's EventCorrelator, over a clock passed in: drop (spam), combine, or count."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._similar: OrderedDict[tuple[str, ...], tuple[set[str], float]] = OrderedDict()
        self._spam: OrderedDict[tuple[str, ...], TokenBucket] = OrderedDict()

    def allow(self, event: Object, now: float) -> bool:
        ref = event["involvedObject"]
        key = (event["source"].get("component", ""), ref.get("kind", ""), ref.get("namespace", ""),
               ref.get("name", ""), ref.get("uid", ""))
        bucket = self._spam.get(key)
        if bucket is None:
            bucket = self._spam[key] = TokenBucket(SPAM_QPS, SPAM_BURST, now)
            _trim(self._spam)
        if bucket.reserve(now) > 0:
            bucket.tokens += 1.0  # not granted: give the reservation back
            return False
        return True

    def combine(self, event: Object, now: float) -> None:
        """After 10 distinct messages with the same aggregate key in 10 minutes, later ones share one Event."""
        ref = event["involvedObject"]
        key = (event["source"].get("component", ""), ref.get("kind", ""), ref.get("namespace", ""),
               ref.get("name", ""), ref.get("uid", ""), event["type"], event["reason"])
        messages, since = self._similar.get(key, (set(), now))
        if now - since > AGGREGATE_INTERVAL_S:
            messages, since = set(), now
        messages.add(event["message"])
        self._similar[key] = (messages, since)
        _trim(self._similar)
        if len(messages) > AGGREGATE_MAX_EVENTS:
            event["message"] = f"(combined from similar events): {event['message']}"

    def observe(self, event: Object) -> _Seen | None:
        """The earlier identical Event (to patch), or None (to create); remembers this one."""
        ref = event["involvedObject"]
        key = (event["source"].get("component", ""), event["source"].get("host", ""), ref.get("kind", ""),
               ref.get("namespace", ""), ref.get("name", ""), ref.get("uid", ""), ref.get("apiVersion", ""),
               event["type"], event["reason"], event["message"])
        prev = self._seen.get(key)
        if prev is not None:
            prev.count += 1
            self._seen.move_to_end(key)
            return prev
        self._seen[key] = _Seen(event["metadata"]["name"], event["metadata"]["namespace"], 1,
                                event["firstTimestamp"])
        _trim(self._seen)
        return None

    def forget(self, seen: _Seen) -> None:
        for key, value in list(self._seen.items()):
            if value is seen:
                del self._seen[key]


def _trim(cache: OrderedDict[Any, Any]) -> None:
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


class EventRecorder:
    """Records Events for one component (`source.component`, e.g. "replicaset-controller")."""

    def __init__(self, client: RESTClient, component: str, host: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.component = component
        self.host = socket.gethostname() if host is None else host
        self.clock = clock
        self.correlator = EventCorrelator()
        self.written = 0
        self.dropped = 0
        self._queue: asyncio.Queue[Object] | None = None
        self._task: asyncio.Task[None] | None = None

    def event(self, obj: Object, type_: str, reason: str, message: str) -> None:
        """Queue an Event about `obj`; never blocks and never raises (a full queue drops, as client-go's)."""
        now = self.clock()
        meta = obj.get("metadata") or {}
        stamp = rfc3339(now)
        ev: Object = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name', '')}.{int(now * 1e9):x}",
                         "namespace": meta.get("namespace") or "default"},
            "involvedObject": object_reference(obj), "reason": reason, "message": message,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": type_,
            "eventTime": None, "reportingComponent": self.component, "reportingInstance": self.host,
        }
        if not self.correlator.allow(ev, now):
            self.dropped += 1
            return
        self.correlator.combine(ev, now)
        if self._queue is None:
            self._queue = asyncio.Queue(MAX_QUEUED)
            self._task = asyncio.get_running_loop().create_task(self._writer(), name=f"events-{self.component}")
        try:
            self._queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event queue full, dropping %s %s", reason, message)

    def eventf(self, obj: Object, type_: str, reason: str, fmt: str, *args: object) -> None:
        self.event(obj, type_, reason, fmt % args if args else fmt)

    async def flush(self) -> None:
        """Wait until every queued Event was written (tests, shutdown)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        await self.flush()
        self.stop()

    def stop(self) -> None:
        """Stop writing; Events still queued are dropped."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _writer(self) -> None:
        assert self._queue is not None
        while True:
            ev = await self._queue.get()
            try:
                await self._write(ev)
            except Exception as e:  # an Event that cannot be written is logged, never retried forever
                log.warning("could not write event %s/%s: %s", ev["reason"], ev["message"], e)
            finally:
                self._queue.task_done()

    async def _write(self, ev: Object) -> None:
        prev = self.correlator.observe(ev)
        ns = ev["metadata"]["namespace"]
        if prev is not None:
            try:
                await self.client.patch(EVENTS, prev.namespace, prev.name,
                                        {"count": prev.count, "lastTimestamp": ev["lastTimestamp"],
                                         "message": ev["message"]}, "strategic")
                self.written += 1
                return
            except APIError as e:
                if not e.not_found:
                    raise
                self.correlator.forget(prev)  # the Event expired (TTL): start a new one
                self.correlator.observe(ev)
        await self.client.create(EVENTS, ns, ev)
        self.written += 1
