"""ClaimPods for the Job, DaemonSet and StatefulSet adapters: adopt matching orphans, release owned pods that stopped
matching, with kube's canAdopt live re-read of the owner before any adoption (RecheckDeletionTimestamp).

The decisions are the ReplicaSet core's `claim_pods` (one implementation for every pod owner); this adapter
helper only performs them, so a set re-created after `kubectl delete --cascade=orphan` takes its pods back.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from controllers import podcontrol as pc
from controllers.machinery import labels
from controllers.machinery.actions import Action, Patch
from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.executor import execute
from controllers.replicaset.reconcile import Kind, claim_pods, is_adoption

Obj = dict[str, Any]


async def claim(client: RESTClient, kind: Kind, owner: Obj, pods: list[Obj], *,
                finalizer: str | None = None) -> list[Obj]:
    """The pods `owner` controls once adoptions and releases are done (pods that vanished meanwhile dropped).
    With `finalizer` (the Job's tracking finalizer) an adopted pod also gets it, in the same patch."""
    try:
        selector = labels.from_label_selector(pc.spec(owner).get("selector"))
    except labels.SelectorError:
        return []
    result = claim_pods(kind, owner, selector, pods)
    if not result.actions:
        return result.pods
    if finalizer is not None:
        result.actions = [_with_finalizer(a, finalizer) if is_adoption(a) else a for a in result.actions]
        adopted = {getattr(a, "name", "") for a in result.actions if is_adoption(a)}
        for p in result.pods:
            if pc.meta(p).get("name") in adopted and finalizer not in (pc.meta(p).get("finalizers") or []):
                p["metadata"]["finalizers"] = [*(pc.meta(p).get("finalizers") or []), finalizer]
    if any(is_adoption(a) for a in result.actions):
        md = pc.meta(owner)
        try:
            fresh = await client.get(kind.resource, md.get("namespace"), str(md.get("name")))
        except APIError as e:
            if e.code != 403:
                raise
            fresh = owner  # kube's statefulset-controller role has no "get": its re-read is the cached copy
        if pc.meta(fresh).get("uid") != md.get("uid") or pc.meta(fresh).get("deletionTimestamp"):
            raise RuntimeError(f"{kind.kind} {md.get('namespace')}/{md.get('name')} is gone or being deleted: "
                               "no adoption")
    return await execute_claim(client, result.actions, result.pods)


async def execute_claim(client: RESTClient, actions: list[Action], claimed: list[Obj]) -> list[Obj]:
    """Performs a claim's adoption and release patches (for pods, or a Deployment's ReplicaSets); returns `claimed`
    without the objects that vanished meanwhile (neither adopted nor released). Any other error raises."""
    lost: set[str] = set()
    for outcome in await execute(client, actions):
        if outcome.error is None:
            continue
        if isinstance(outcome.error, APIError) and outcome.error.not_found:
            lost.add(getattr(outcome.action, "name", ""))
            continue
        raise outcome.error
    return [o for o in claimed if pc.meta(o).get("name") not in lost]


def _with_finalizer(action: Action, finalizer: str) -> Action:
    assert isinstance(action, Patch)
    body = copy.deepcopy(action.patch)
    body["metadata"]["finalizers"] = [finalizer]  # a strategic merge adds it to the pod's list
    return replace(action, patch=body)
