"""The ttl-after-finished controller's decision (1.32 `pkg/controller/ttlafterfinished`), pure.

A finished Job with `spec.ttlSecondsAfterFinished` is deleted that many seconds after its Complete/Failed
condition's lastTransitionTime, with Foreground propagation (its pods go first) and its UID as a precondition so
a new Job that took the name survives. Before that moment the key is re-synced when the TTL runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controllers import podcontrol as pc
from controllers.machinery.actions import Delete
from controllers.machinery.resources import JOBS

Obj = dict[str, Any]


class NoFinishTime(ValueError):
    """A finished Job whose terminal condition has no lastTransitionTime: kube returns an error (retried)."""


@dataclass(frozen=True)
class Decision:
    delete: Delete | None = None
    requeue_after: float | None = None


def needs_cleanup(job: Obj) -> bool:
    """ttlSecondsAfterFinished is set, the Job is finished and not already being deleted."""
    if pc.spec(job).get("ttlSecondsAfterFinished") is None or pc.meta(job).get("deletionTimestamp"):
        return False
    return finish_condition(job) is not None


def finish_condition(job: Obj) -> Obj | None:
    return next((c for c in pc.status(job).get("conditions") or []
                 if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"), None)


def expire_at(job: Obj) -> float:
    cond = finish_condition(job) or {}
    finished = pc.parse_time(cond.get("lastTransitionTime"))
    if finished is None:
        name = pc.meta(job).get("name")
        raise NoFinishTime(f"unable to find the time when the Job {pc.meta(job).get('namespace')}/{name} finished")
    return finished + float(pc.spec(job)["ttlSecondsAfterFinished"])


def decide(job: Obj, now: float) -> Decision:
    """Delete the Job if its TTL has run out, else say when to look again."""
    if not needs_cleanup(job):
        return Decision()
    left = expire_at(job) - now
    if left > 0:
        return Decision(requeue_after=left)
    md = pc.meta(job)
    return Decision(delete=Delete(JOBS, md.get("namespace"), str(md.get("name")), uid=md.get("uid"),
                                  propagation="Foreground"))
