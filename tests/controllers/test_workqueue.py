"""The work queue's client-go semantics on a fake clock: no sleeping, every delay computed exactly."""

from __future__ import annotations

import asyncio

import pytest

from controllers.machinery.asyncqueue import AsyncRateLimitingQueue
from controllers.machinery.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
    TokenBucket,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def step(self, dt: float) -> None:
        self.t += dt


def queue() -> tuple[RateLimitingQueue, FakeClock]:
    clock = FakeClock()
    return RateLimitingQueue(clock), clock


def test_an_item_is_queued_once_and_handed_out_in_fifo_order() -> None:
    q, _ = queue()
    for item in ["a", "b", "a", "c", "b"]:
        q.add(item)
    assert len(q) == 3
    assert [q.get()[0] for _ in range(3)] == ["a", "b", "c"]
    assert q.get() == (None, False)


def test_an_item_added_while_processing_comes_back_only_after_done() -> None:
    q, _ = queue()
    q.add("k")
    item, _ = q.get()
    assert q.processing() == {"k"}
    q.add("k")
    q.add("k")
    assert q.get() == (None, False), "never handed to a second worker while the first still has it"
    q.done("k")
    assert q.get()[0] == "k"
    q.done("k")
    assert q.get() == (None, False) and not q.processing()


def test_done_without_a_new_add_does_not_requeue() -> None:
    q, _ = queue()
    q.add("k")
    q.get()
    q.done("k")
    assert len(q) == 0


def test_shut_down_refuses_adds_and_reports_shutdown_when_drained() -> None:
    q, _ = queue()
    q.add("a")
    q.shut_down()
    q.add("b")
    assert q.get() == ("a", False)
    assert q.get() == (None, True)


def test_per_item_backoff_doubles_from_5ms_and_caps_at_1000s() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("k", 0.0) for _ in range(20)]
    assert delays[:5] == [0.005, 0.01, 0.02, 0.04, 0.08]
    assert delays[17] == 0.005 * 2 ** 17 == 655.36
    assert delays[18:] == [1000.0, 1000.0]
    assert limiter.num_requeues("k") == 20
    assert limiter.when("other", 0.0) == 0.005, "each item has its own count"
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0 and limiter.when("k", 0.0) == 0.005


def test_token_bucket_grants_the_burst_then_one_per_tenth_of_a_second() -> None:
    bucket = TokenBucket(10.0, 100, now=0.0)
    assert [bucket.reserve(0.0) for _ in range(100)] == [0.0] * 100
    assert bucket.reserve(0.0) == pytest.approx(0.1)
    assert bucket.reserve(0.0) == pytest.approx(0.2)
    # two seconds later 20 tokens came back, minus the two already promised
    assert bucket.reserve(2.0) == 0.0
    assert bucket.tokens == pytest.approx(17.0)


def test_default_limiter_is_the_max_of_backoff_and_the_overall_bucket() -> None:
    clock = FakeClock(0.0)
    limiter = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(), BucketRateLimiter(10.0, 100, clock))
    delays = [limiter.when(f"item{i}", 0.0) for i in range(101)]
    assert delays[:100] == [0.005] * 100, "first failure of each item: the 5 ms back-off, bucket not yet empty"
    assert delays[100] == pytest.approx(0.1), "the 101st within the same instant waits for the bucket"
    limiter.forget("item0")
    assert limiter.num_requeues("item0") == 0 and limiter.num_requeues("item1") == 1


def test_add_rate_limited_parks_the_item_for_its_backoff() -> None:
    q, clock = queue()
    assert q.add_rate_limited("k") == 0.005
    assert q.get() == (None, False)
    assert q.next_ready_at() == pytest.approx(clock.t + 0.005)
    clock.step(0.005)
    assert q.get()[0] == "k"
    q.done("k")
    assert q.add_rate_limited("k") == 0.01
    assert q.num_requeues("k") == 2
    q.forget("k")
    assert q.num_requeues("k") == 0
    clock.step(0.01)
    assert q.get()[0] == "k"


def test_add_after_keeps_the_earliest_time_and_dedups_with_plain_adds() -> None:
    q, clock = queue()
    q.add_after("k", 10)
    q.add_after("k", 5)
    q.add_after("k", 20)
    assert q.next_ready_at() == clock.t + 5
    clock.step(5)
    assert q.get()[0] == "k"
    q.done("k")
    assert q.next_ready_at() is None
    assert q.get() == (None, False), "the superseded 10 s and 20 s requests do not fire"
    clock.step(100)
    assert q.get() == (None, False)
    q.add_after("x", 0)
    assert q.get()[0] == "x", "no delay: queued at once"


def test_async_wrapper_wakes_a_waiting_worker_on_add_and_at_the_parked_time() -> None:
    async def main() -> None:
        q = AsyncRateLimitingQueue("t")
        getter = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        q.add("a")
        assert await asyncio.wait_for(getter, 5) == "a"
        q.done("a")
        q.add_after("b", 0.05)
        assert await asyncio.wait_for(q.get(), 5) == "b"
        waiting = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        q.shut_down()
        assert await asyncio.wait_for(waiting, 5) is None
    asyncio.run(main())
