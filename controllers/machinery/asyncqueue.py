"""The thin async wrapper around the pure `RateLimitingQueue`: workers `await get()` and sleep only until the next
add or the next parked item's time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable

from controllers.machinery.workqueue import Clock, MaxOfRateLimiter, RateLimiter, RateLimitingQueue


class AsyncRateLimitingQueue:
    """Same calls as `RateLimitingQueue`; `get` waits. Single event loop, so no locks are needed."""

    def __init__(self, name: str = "", clock: Clock = time.monotonic,
                 rate_limiter: MaxOfRateLimiter | RateLimiter | None = None) -> None:
        self.core = RateLimitingQueue(clock, rate_limiter, name)
        self._wake = asyncio.Event()

    def _changed(self) -> None:
        self._wake.set()

    def add(self, item: Hashable) -> None:
        self.core.add(item)
        self._changed()

    def add_after(self, item: Hashable, delay: float) -> None:
        self.core.add_after(item, delay)
        self._changed()

    def add_rate_limited(self, item: Hashable) -> float:
        delay = self.core.add_rate_limited(item)
        self._changed()
        return delay

    def done(self, item: Hashable) -> None:
        self.core.done(item)
        self._changed()

    def forget(self, item: Hashable) -> None:
        self.core.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return self.core.num_requeues(item)

    def shut_down(self) -> None:
        self.core.shut_down()
        self._changed()

    def __len__(self) -> int:
        return len(self.core)

    async def get(self) -> Hashable | None:
        """The next item (now in the processing set), or None once the queue is shut down and drained."""
        while True:
            item, shutdown = self.core.get()
            if item is not None:
                if len(self.core):
                    self._wake.set()  # let another waiting worker take the next one
                return item
            if shutdown:
                self._wake.set()
                return None
            self._wake.clear()
            ready_at = self.core.next_ready_at()
            timeout = None if ready_at is None else max(0.0, ready_at - self.core.clock())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
