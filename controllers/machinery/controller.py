"""The base every controller's thin adapter extends, and the context the manager hands each controller.

A controller names the informers it needs, turns their events into keys ("namespace/name") on a rate-limited
queue, and implements `sync(key)`: read the caches, call the pure reconcile core, execute the actions, raise to be
retried. The queue owns retries: an exception re-adds the key with back-off (5 ms doubling to 1000 s, plus 10 qps
overall), a success forgets its failures — client-go's processNextWorkItem/handleErr.
"""

from __future__ import annotations

import abc
import asyncio
import datetime
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from controllers.machinery.asyncqueue import AsyncRateLimitingQueue
from controllers.machinery.client import RESTClient
from controllers.machinery.events import EventRecorder
from controllers.machinery.informer import Informer, SharedInformerFactory, meta_namespace_key, split_key
from controllers.machinery.resources import Resource

log = logging.getLogger(__name__)

Object = dict[str, Any]
SYNC_TIMEOUT_S = None  # wait for caches as long as it takes (kube-controller-manager does)


@dataclass
class ControllerContext:
    """What `new_controller(ctx)` receives: the controller's own client (its service account with
    --use-service-account-credentials, else the manager's identity), the shared informers (always the manager's
    identity, as kube-controller-manager's "shared-informers" client), options, a wall clock and recorders."""

    client: RESTClient
    informers: SharedInformerFactory
    options: Any  # controllers.options.ControllerManagerOptions (or a test's stand-in)
    clock: Callable[[], float] = time.time
    name: str = ""
    _recorders: dict[str, EventRecorder] = field(default_factory=dict)
    _used: dict[Resource, Informer] = field(default_factory=dict)

    def recorder(self, component: str) -> EventRecorder:
        """The EventRecorder for `component` (e.g. "replicaset-controller"), writing with this context's client."""
        rec = self._recorders.get(component)
        if rec is None:
            rec = self._recorders[component] = EventRecorder(self.client, component, clock=self.clock)
        return rec

    async def close(self, timeout: float = 2.0) -> None:
        """Write the Events still queued (for at most `timeout` seconds), then stop the recorders."""
        for rec in self._recorders.values():
            try:
                await asyncio.wait_for(rec.flush(), timeout)
            except TimeoutError:
                pass
            rec.stop()

    def now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.clock(), datetime.UTC)

    def informer(self, resource: Resource) -> Informer:
        """The shared informer of `resource`; remembered, so the controller waits for every cache it asked for."""
        inf = self._used.get(resource)
        if inf is None:
            inf = self._used[resource] = self.informers.informer(resource)
        return inf

    def used_informers(self) -> list[Informer]:
        return list(self._used.values())


class Controller(abc.ABC):
    """Subclasses set `name` (and usually `resources`), register handlers in `__init__`, and implement `sync`."""

    name: str = "controller"
    resources: tuple[Resource, ...] = ()
    max_retries: int | None = None  # None: retry forever (most controllers); the Deployment controller uses 15

    def __init__(self, ctx: ControllerContext, name: str | None = None) -> None:
        self.ctx = ctx
        if name:
            self.name = name
        self.queue = AsyncRateLimitingQueue(self.name)
        self.syncs = 0
        self.sync_errors = 0
        self.sync_seconds = 0.0  # wall time inside sync(), for /metrics (workqueue_work_duration_seconds)
        for r in self.resources:
            ctx.informer(r)  # registered now so that the manager's factory.start() starts it

    # ---------------------------------------------------------------- enqueueing
    @staticmethod
    def key_of(obj: Object) -> str:
        return meta_namespace_key(obj)

    def enqueue(self, obj: Object) -> None:
        self.queue.add(self.key_of(obj))

    def enqueue_key(self, key: str) -> None:
        self.queue.add(key)

    def enqueue_after(self, obj_or_key: Object | str, delay: float) -> None:
        key = obj_or_key if isinstance(obj_or_key, str) else self.key_of(obj_or_key)
        self.queue.add_after(key, delay)

    def enqueue_rate_limited(self, obj_or_key: Object | str) -> None:
        key = obj_or_key if isinstance(obj_or_key, str) else self.key_of(obj_or_key)
        self.queue.add_rate_limited(key)

    def enqueue_controller_of(self, obj: Object, kind: str) -> None:
        """Enqueue the owner of `obj` that is its controller and of `kind` (pods → their ReplicaSet, ...)."""
        meta = obj.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == kind:
                ns = meta.get("namespace")
                self.queue.add(f"{ns}/{ref['name']}" if ns else ref["name"])

    def watch(self, resource: Resource, handler: Callable[[Object], None] | None = None) -> Informer:
        """The informer of `resource` with `handler` (default: enqueue the object itself) on every event."""
        inf = self.ctx.informer(resource)
        fn = handler or self.enqueue
        inf.add_handlers(on_add=fn, on_update=lambda old, new: fn(new), on_delete=fn)
        return inf

    split_key = staticmethod(split_key)

    # ---------------------------------------------------------------- running
    def informers(self) -> Iterable[Informer]:
        """Every informer this controller asked the context for (its `resources` and any other)."""
        for r in self.resources:
            self.ctx.informer(r)
        return self.ctx.used_informers()

    async def wait_for_sync(self) -> None:
        await asyncio.gather(*(inf.wait_for_sync(SYNC_TIMEOUT_S) for inf in self.informers()))

    @abc.abstractmethod
    async def sync(self, key: str) -> None:
        """Bring the object named `key` to its desired state; raise to be retried with back-off."""

    async def run(self, workers: int = 1) -> None:
        """Wait for this controller's caches, then run `workers` workers until the queue is shut down."""
        log.info("Starting %s controller", self.name)
        await self.wait_for_sync()
        log.info("Caches are synced for %s", self.name)
        try:
            await asyncio.gather(*(self._worker() for _ in range(max(1, workers))))
        finally:
            self.queue.shut_down()
            log.info("Shutting down %s controller", self.name)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            await self.process(str(key))

    async def process(self, key: str) -> None:
        """One key: sync, then forget (success) or re-add with back-off (failure)."""
        started = time.monotonic()
        try:
            self.syncs += 1
            await self.sync(key)
            self.queue.forget(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.sync_errors += 1
            if self.max_retries is not None and self.queue.num_requeues(key) >= self.max_retries:
                log.warning("%s: dropping %s out of the queue after %d retries: %s", self.name, key,
                            self.max_retries, e)
                self.queue.forget(key)
            else:
                log.info("%s: error syncing %s, requeuing: %s", self.name, key, e, exc_info=log.isEnabledFor(10))
                self.queue.add_rate_limited(key)
        finally:
            self.sync_seconds += time.monotonic() - started
            self.queue.done(key)
