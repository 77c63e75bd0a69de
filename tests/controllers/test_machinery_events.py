"""The event correlator's decisions on a clock passed in: identical events counted, a burst about one object cut
at 25 (one more each 5 minutes), more than 10 similar messages combined."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.machinery.events import EventCorrelator, object_reference, rfc3339

pytestmark = pytest.mark.unit

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                                                       "resourceVersion": "7"}}


def event(message: str = "m", reason: str = "R", obj: dict[str, Any] = POD, n: int = 0) -> dict[str, Any]:
    return {"metadata": {"name": f"p.{n:x}", "namespace": "ns"}, "involvedObject": object_reference(obj),
            "source": {"component": "c", "host": "h"}, "type": "Normal", "reason": reason, "message": message,
            "firstTimestamp": rfc3339(0), "lastTimestamp": rfc3339(0)}


def test_identical_events_point_at_the_first_and_count_up() -> None:
    c = EventCorrelator()
    assert c.observe(event(n=1)) is None
    prev = c.observe(event(n=2))
    assert prev is not None and (prev.name, prev.count) == ("p.1", 2)
    assert c.observe(event(n=3)).count == 3  # type: ignore[union-attr]
    assert c.observe(event("other", n=4)) is None, "a different message is a different Event"


def test_a_burst_about_one_object_is_cut_at_25_then_one_per_five_minutes() -> None:
    c = EventCorrelator()
    allowed = [c.allow(event(n=i), now=0.0) for i in range(30)]
    assert allowed.count(True) == 25 and allowed[25:] == [False] * 5
    assert not c.allow(event(), now=299.0)
    assert c.allow(event(), now=301.0)
    other = {**POD, "metadata": {**POD["metadata"], "name": "q", "uid": "u2"}}
    assert c.allow(event(obj=other), now=301.0), "each object has its own bucket"


def test_more_than_ten_similar_messages_are_combined() -> None:
    c = EventCorrelator()
    messages = []
    for i in range(12):
        ev = event(f"message {i}")
        c.combine(ev, now=float(i))
        messages.append(ev["message"])
    assert messages[:10] == [f"message {i}" for i in range(10)]
    assert messages[10] == "(combined from similar events): message 10"
    ev = event("message 99")
    c.combine(ev, now=1000.0)  # the 10-minute window has passed
    assert ev["message"] == "message 99"


def test_involved_object_reference_carries_what_kubectl_describe_matches() -> None:
    assert object_reference(POD) == {"kind": "Pod", "namespace": "ns", "name": "p", "uid": "u1",
                                     "apiVersion": "v1", "resourceVersion": "7"}
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u9"}}
    assert object_reference(node) == {"kind": "Node", "name": "n1", "uid": "u9", "apiVersion": "v1"}
