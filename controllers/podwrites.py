"""CreatePods and DeletePod as kube's controller_utils does them for the adapters that count on expectations (Job,
DaemonSet): slow-start creations and parallel deletions, their SuccessfulCreate/FailedCreate and
SuccessfulDelete/FailedDelete events, and every write that did not happen observed at once (its watch event will
never come, so the expectations must not wait for it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controllers import podcontrol as pc
from controllers.machinery.actions import Action, Create, Delete
from controllers.machinery.client import APIError, RESTClient, error_text, has_status_cause
from controllers.machinery.events import EventRecorder
from controllers.machinery.executor import execute, execute_slow_start
from controllers.machinery.expectations import ControllerExpectations

Obj = dict[str, Any]


async def create_pods(client: RESTClient, recorder: EventRecorder, expectations: ControllerExpectations, key: str,
                      owner: Obj, creates: list[Create], now: float, errors: list[Exception]) -> int:
    """Slow-start creations with their events (a NamespaceTerminating refusal is dropped silently); errors are
    appended to `errors`. Returns how many pods were not created."""
    if not creates:
        return 0
    expectations.expect_creations(key, len(creates), now)
    outcomes = await execute_slow_start(client, creates)
    missing = len(creates) - len(outcomes)
    for o in outcomes:
        if o.error is None:
            name = pc.meta(o.object or {}).get("name", "")
            recorder.event(owner, "Normal", "SuccessfulCreate", f"Created pod: {name}")
            continue
        missing += 1
        if has_status_cause(o.error, "NamespaceTerminating"):
            continue
        recorder.event(owner, "Warning", "FailedCreate", f"Error creating: {error_text(o.error)}")
        errors.append(o.error)
    for _ in range(missing):
        expectations.creation_observed(key)
    return missing


async def delete_pods(client: RESTClient, recorder: EventRecorder, expectations: ControllerExpectations, key: str,
                      owner: Obj, deletes: list[Delete], now: float, errors: list[Exception], *,
                      first: Sequence[Action] = ()) -> None:
    """Deletions (16 at a time) with their events; a pod already gone counts as deleted. `first` are writes to make
    once the deletions are expected and before they are sent (the Job's finalizer removals of the pods it deletes);
    errors other than NotFound are appended to `errors`."""
    if not deletes:
        return
    expectations.expect_deletions(key, len(deletes), now)
    for o in await execute(client, first, concurrency=16):
        if o.error is not None and not (isinstance(o.error, APIError) and o.error.not_found):
            errors.append(o.error)
    for o in await execute(client, deletes, concurrency=16):
        name = getattr(o.action, "name", "")
        if o.error is None:
            recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")
            continue
        expectations.deletion_observed(key)
        if isinstance(o.error, APIError) and o.error.not_found:
            continue
        recorder.event(owner, "Warning", "FailedDelete", f"Error deleting: {error_text(o.error)}")
        errors.append(o.error)
