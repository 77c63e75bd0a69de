"""client-go's rate-limited work queue as a pure data structure; time comes from an injected clock.

Semantics kept from `k8s.io/client-go/util/workqueue`:
- an item is queued at most once (the *dirty* set); an item being processed (the *processing* set) that is added
  again is queued only when `done` is called for it, so one key is never synced by two workers at once;
- `add_after` parks an item until its time comes (the earliest of several requested times wins);
- `add_rate_limited` waits max(per-item exponential back-off 5 ms * 2^failures capped at 1000 s, an overall
  token bucket of 10 qps with a burst of 100) — `DefaultControllerRateLimiter`;
- `forget` clears the item's failure count; `num_requeues` reads it.

The async wrapper (`controllers.machinery.asyncqueue`) only sleeps until `next_ready_at()` and calls `get`.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

Clock = Callable[[], float]

DEFAULT_BASE_DELAY_S = 0.005
DEFAULT_MAX_DELAY_S = 1000.0
DEFAULT_QPS = 10.0
DEFAULT_BURST = 100


class ItemExponentialFailureRateLimiter:
    """base * 2^failures per item, capped at max_delay; each `when` counts one more failure."""

    def __init__(self, base_delay: float = DEFAULT_BASE_DELAY_S, max_delay: float = DEFAULT_MAX_DELAY_S) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable, now: float) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp > 64:  # 2^64 * base overflows any sensible cap; client-go guards the same way
            return self.max_delay
        return min(self.base_delay * (2 ** exp), self.max_delay)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)


class TokenBucket:
    """golang.org/x/time/rate's reservation arithmetic: `tokens` refill at `qps` up to `burst`; a reservation taken
    while the bucket is empty is granted in the future, and that delay is returned."""

    def __init__(self, qps: float, burst: int, now: float) -> None:
        self.qps = qps
        self.burst = burst
        self.tokens = float(burst)
        self.last = now

    def reserve(self, now: float) -> float:
        """Take one token; return how long the caller must wait before using it (0 when one was there)."""
        if now > self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.qps)
            self.last = now
        self.tokens -= 1.0
        if self.tokens >= 0:
            return 0.0
        return -self.tokens / self.qps


class BucketRateLimiter:
    """The overall limit shared by all items; `forget` does not refund a token (as client-go's)."""

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        self._bucket = TokenBucket(qps, burst, clock())

    def when(self, item: Hashable, now: float) -> float:
        return self._bucket.reserve(now)

    def num_requeues(self, item: Hashable) -> int:
        return 0

    def forget(self, item: Hashable) -> None:
        pass


RateLimiter = ItemExponentialFailureRateLimiter | BucketRateLimiter


class MaxOfRateLimiter:
    """The longest delay any of the limiters asks for (every limiter is consulted, so each counts the failure)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, item: Hashable, now: float) -> float:
        return max(limiter.when(item, now) for limiter in self.limiters)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)


def default_controller_rate_limiter(clock: Clock) -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter: 5 ms .. 1000 s per item, and 10 qps / burst 100 overall."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(DEFAULT_BASE_DELAY_S, DEFAULT_MAX_DELAY_S),
                            BucketRateLimiter(DEFAULT_QPS, DEFAULT_BURST, clock))


@dataclass(order=True)
class _Waiting:
    ready_at: float
    seq: int
    item: Hashable = field(compare=False)


class RateLimitingQueue:
    """A FIFO of distinct items with a processing set, delayed adds and rate-limited re-adds."""

    def __init__(self, clock: Clock, rate_limiter: MaxOfRateLimiter | RateLimiter | None = None,
                 name: str = "") -> None:
        self.clock = clock
        self.name = name
        self.rate_limiter = rate_limiter if rate_limiter is not None else default_controller_rate_limiter(clock)
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: list[_Waiting] = []
        self._waiting_at: dict[Hashable, float] = {}
        self._seq = 0
        self._shutting_down = False

    # ---------------------------------------------------------------- the plain queue
    def add(self, item: Hashable) -> None:
        """Queue `item` unless it is already queued; while it is processed, queue it again after `done`."""
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)

    def get(self) -> tuple[Hashable | None, bool]:
        """(item, shutdown): the next ready item moved to the processing set, or (None, shutting_down) when none
        is ready. The async wrapper waits and asks again."""
        self._promote_waiting()
        if not self._queue:
            return None, self._shutting_down
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item, False

    def done(self, item: Hashable) -> None:
        """The worker finished `item`; an add that came while it ran queues it now."""
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)

    def __len__(self) -> int:
        """Items ready to be handed out (parked and processing items are not counted, as client-go's Len)."""
        self._promote_waiting()
        return len(self._queue)

    def shut_down(self) -> None:
        """Refuse new adds; `get` reports shutdown once the queue is drained."""
        self._shutting_down = True
        self._waiting.clear()
        self._waiting_at.clear()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def processing(self) -> frozenset[Hashable]:
        return frozenset(self._processing)

    # ---------------------------------------------------------------- delays
    def add_after(self, item: Hashable, delay: float) -> None:
        """Queue `item` after `delay` seconds; a later request for an item already parked earlier is ignored."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready_at = self.clock() + delay
        current = self._waiting_at.get(item)
        if current is not None and current <= ready_at:
            return
        self._waiting_at[item] = ready_at
        self._seq += 1
        heapq.heappush(self._waiting, _Waiting(ready_at, self._seq, item))

    def next_ready_at(self) -> float | None:
        """When the earliest parked item becomes ready (None: nothing parked)."""
        while self._waiting and self._waiting_at.get(self._waiting[0].item) != self._waiting[0].ready_at:
            heapq.heappop(self._waiting)  # superseded by an earlier request
        return self._waiting[0].ready_at if self._waiting else None

    def _promote_waiting(self) -> None:
        now = self.clock()
        while self._waiting and self._waiting[0].ready_at <= now:
            entry = heapq.heappop(self._waiting)
            if self._waiting_at.get(entry.item) == entry.ready_at:
                del self._waiting_at[entry.item]
                self.add(entry.item)

    # ---------------------------------------------------------------- rate limiting
    def add_rate_limited(self, item: Hashable) -> float:
        """Queue `item` after the rate limiter's delay (which also counts one more failure); returns the delay."""
        delay = self.rate_limiter.when(item, self.clock())
        self.add_after(item, delay)
        return delay

    def forget(self, item: Hashable) -> None:
        """Stop tracking `item`'s failures (call after a successful sync)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return self.rate_limiter.num_requeues(item)
