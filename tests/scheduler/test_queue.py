"""The scheduling queue on a fake clock: priority then arrival order, back-off 1 s doubling to 10 s, unschedulable
pods moved back by the events that may help them, and the move-request-cycle rule."""

from __future__ import annotations

import pytest

from controllers.scheduler import queue as q
from controllers.scheduler.queue import SchedulingQueue, backoff_duration
from tests.scheduler.builders import info, pod

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def popped_names(queue: SchedulingQueue) -> list[str]:
    out = []
    while (qp := queue.pop()) is not None:
        out.append(qp.info.name)
    return out


def test_active_queue_orders_by_priority_then_arrival() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    for name, prio in (("low-1", 0), ("high", 100), ("low-2", 0), ("mid", 10)):
        queue.add(info(pod(name, priority=prio)))
        clock.t += 1
    assert popped_names(queue) == ["high", "mid", "low-1", "low-2"]


@pytest.mark.parametrize("attempts,want", [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (12, 10.0)])
def test_backoff_doubles_from_1s_to_10s(attempts: int, want: float) -> None:
    assert backoff_duration(attempts) == want


def test_unschedulable_pod_waits_for_an_event_then_backs_off() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(info(pod("p")))
    qp = queue.pop()
    assert qp is not None and qp.attempts == 1
    queue.add_unschedulable(qp, queue.scheduling_cycle, {"NodeResourcesFit"})
    assert queue.where("default/p") == "unschedulable"
    clock.t += 60
    queue.flush_backoff()
    assert queue.pop() is None  # no event: it stays parked
    assert queue.move_all(q.NODE_ADD) == 1
    assert [x.info.name for x in [queue.pop()] if x] == ["p"]


def test_event_during_backoff_lands_in_the_backoff_queue() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(info(pod("p")))
    for _ in range(3):  # three failed attempts: 4 s back-off
        qp = queue.pop()
        assert qp is not None
        queue.add_unschedulable(qp, queue.scheduling_cycle, {"NodeResourcesFit"})
        queue.move_all(q.NODE_ADD)
        clock.t += 100
        queue.flush_backoff()
    qp = queue.pop()
    assert qp is not None and qp.attempts == 4
    queue.add_unschedulable(qp, queue.scheduling_cycle, {"NodeResourcesFit"})
    clock.t += 1
    queue.move_all(q.NODE_ADD)
    assert queue.where("default/p") == "backoff"
    clock.t += 6.9
    queue.flush_backoff()
    assert queue.pop() is None  # 8 s back-off after the 4th attempt: not yet
    clock.t += 0.2
    queue.flush_backoff()
    assert queue.where("default/p") == "active"


def test_events_only_move_pods_they_may_help() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    for name in ("fit", "pvc"):
        queue.add(info(pod(name)))
    a, b = queue.pop(), queue.pop()
    assert a is not None and b is not None
    queue.add_unschedulable(a, queue.scheduling_cycle - 1, {"NodeResourcesFit"})
    queue.add_unschedulable(b, queue.scheduling_cycle, {"VolumeBinding"})
    clock.t += 20
    assert queue.move_all(q.ASSIGNED_POD_DELETE) == 1
    assert queue.where("default/fit") == "active" and queue.where("default/pvc") == "unschedulable"
    assert queue.move_all(q.PVC_CHANGE) == 1


def test_a_move_request_during_the_cycle_sends_the_failure_to_backoff() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(info(pod("p")))
    qp = queue.pop()
    assert qp is not None
    cycle = queue.scheduling_cycle
    queue.move_all(q.NODE_ADD)  # a node arrived while p was being scheduled
    queue.add_unschedulable(qp, cycle, {"NodeResourcesFit"})
    assert queue.where("default/p") == "backoff"


def test_errors_back_off_instead_of_parking() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(info(pod("p")))
    qp = queue.pop()
    assert qp is not None
    queue.add_unschedulable(qp, queue.scheduling_cycle, None)
    assert queue.where("default/p") == "backoff"
    clock.t += 1.01
    queue.flush_backoff()
    assert popped_names(queue) == ["p"]


def test_leftover_unschedulable_pods_return_after_five_minutes() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(info(pod("p")))
    qp = queue.pop()
    assert qp is not None
    queue.add_unschedulable(qp, queue.scheduling_cycle, {"NodeAffinity"})
    clock.t += 299
    assert queue.flush_unschedulable_leftover() == 0
    clock.t += 2
    assert queue.flush_unschedulable_leftover() == 1
    assert popped_names(queue) == ["p"]


def test_deleted_pods_leave_and_spec_updates_retry_parked_pods() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(info(pod("gone")))
    queue.add(info(pod("p")))
    queue.delete("default/gone")
    qp = queue.pop()
    assert qp is not None and qp.info.name == "p"
    queue.add_unschedulable(qp, queue.scheduling_cycle, {"NodeAffinity"})
    clock.t += 30
    queue.update(info(pod("p")), spec_changed=False)
    assert queue.where("default/p") == "unschedulable"
    queue.update(info(pod("p", nodeSelector={"a": "b"})), spec_changed=True)
    assert queue.where("default/p") == "active"
    got = queue.pop()
    assert got is not None and got.info.node_selector == {"a": "b"}
    queue.done("default/p")
    assert queue.where("default/p") is None and len(queue) == 0


def test_an_unrelated_event_during_the_cycle_does_not_save_the_pod_from_parking() -> None:
    clock = Clock()
    queue = SchedulingQueue(clock)
    queue.add(info(pod("p")))
    qp = queue.pop()
    assert qp is not None
    cycle = queue.scheduling_cycle
    queue.move_all(q.PVC_CHANGE)  # cannot cure a resource failure
    queue.add_unschedulable(qp, cycle, {"NodeResourcesFit"})
    assert queue.where("default/p") == "unschedulable"
