"""The ttl-after-finished core: when a finished Job is deleted, and how."""

from __future__ import annotations

from typing import Any

import pytest

from controllers import podcontrol as pc
from controllers.job import ttlcore

pytestmark = pytest.mark.unit


def job(ttl: int | None, finished: str | None = "Complete", at: float = 100.0, **meta: Any) -> dict[str, Any]:
    spec = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    conds = [] if finished is None else [{"type": finished, "status": "True", "lastTransitionTime": pc.rfc3339(at)}]
    return {"metadata": {"name": "pi", "namespace": "ns", "uid": "u1", **meta}, "spec": spec,
            "status": {"conditions": conds}}


@pytest.mark.parametrize("obj,now,delete,requeue", [
    (job(None), 1000, False, None),
    (job(10, finished=None), 1000, False, None),
    (job(10, "Failed"), 105, False, 5.0),
    (job(10), 110, True, None),
    (job(0), 100, True, None),
    (job(10, deletionTimestamp="2026-01-01T00:00:00Z"), 1000, False, None),
])
def test_decide(obj: dict[str, Any], now: float, delete: bool, requeue: float | None) -> None:
    d = ttlcore.decide(obj, now)
    assert (d.delete is not None, d.requeue_after) == (delete, requeue)
    if d.delete is not None:
        assert (d.delete.name, d.delete.uid, d.delete.propagation) == ("pi", "u1", "Foreground")


def test_finished_without_transition_time_is_an_error() -> None:
    obj = job(10)
    obj["status"]["conditions"][0].pop("lastTransitionTime")
    with pytest.raises(ttlcore.NoFinishTime):
        ttlcore.decide(obj, 1000)
