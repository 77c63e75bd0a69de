"""Perform the actions a pure reconcile core returned, through the REST client, in order.

Errors are not raised: each `Outcome` carries the API's answer or its error, so the sync adapter decides what a
failure means (retry the key, lower expectations, ignore a 404 on delete). `execute_slow_start` is
kube-controller-manager's slowStartBatch for mass creations: batches of 1, 2, 4, ... run concurrently, stopping
after the first batch with a failure, so a quota or admission refusal costs one call, not a thousand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from controllers.machinery.actions import Action, Create, Delete, Event, Outcome, Patch, Update
from controllers.machinery.client import RESTClient
from controllers.machinery.events import EventRecorder

SLOW_START_INITIAL_BATCH = 1


async def perform(client: RESTClient, action: Action, recorder: EventRecorder | None) -> Outcome:
    """One action; never raises an API error (it is in the outcome)."""
    try:
        if isinstance(action, Create):
            obj = await client.create(action.resource, action.namespace, action.body)
        elif isinstance(action, Update):
            obj = await client.update(action.resource, action.namespace, action.name, action.body,
                                      action.subresource)
        elif isinstance(action, Patch):
            obj = await client.patch(action.resource, action.namespace, action.name, action.patch,
                                     action.patch_type, action.subresource)
        elif isinstance(action, Delete):
            obj = await client.delete(action.resource, action.namespace, action.name, uid=action.uid,
                                      resource_version=action.resource_version, propagation=action.propagation,
                                      grace_period_seconds=action.grace_period_seconds)
        elif isinstance(action, Event):
            if recorder is not None:
                recorder.event(action.involved, action.type, action.reason, action.message)
            obj = None
        else:
            raise TypeError(f"not an action: {action!r}")
        return Outcome(action, obj)
    except asyncio.CancelledError:
        raise
    except Exception as e:
        return Outcome(action, None, e)


async def execute(client: RESTClient, actions: Sequence[Action], recorder: EventRecorder | None = None,
                  *, concurrency: int = 1) -> list[Outcome]:
    """Every action, in order (or up to `concurrency` at once, outcomes still in action order)."""
    if concurrency <= 1:
        return [await perform(client, a, recorder) for a in actions]
    sem = asyncio.Semaphore(concurrency)

    async def one(a: Action) -> Outcome:
        async with sem:
            return await perform(client, a, recorder)
    return list(await asyncio.gather(*(one(a) for a in actions)))


async def execute_slow_start(client: RESTClient, actions: Sequence[Action], recorder: EventRecorder | None = None,
                             initial_batch: int = SLOW_START_INITIAL_BATCH) -> list[Outcome]:
    """Batches of 1, 2, 4, ... concurrently; after a batch with an error the rest are not attempted (the returned
    list is then shorter than `actions`: the caller lowers its expectations by the difference)."""
    outcomes: list[Outcome] = []
    batch = max(1, initial_batch)
    i = 0
    while i < len(actions):
        chunk = actions[i:i + batch]
        results = await asyncio.gather(*(perform(client, a, recorder) for a in chunk))
        outcomes.extend(results)
        i += len(chunk)
        if any(o.error is not None for o in results):
            break
        batch *= 2
    return outcomes


def first_error(outcomes: Sequence[Outcome]) -> Exception | None:
    return next((o.error for o in outcomes if o.error is not None), None)
