"""ControllerRevisions for the DaemonSet and StatefulSet adapters: adopting orphans, writing with kube's
hash-collision rule.

Revisions whose owner was deleted with `--cascade=orphan` and that the owner's selector matches are adopted
first (kube's ControllerRevision ref manager), so a re-created owner finds its history. A revision is named
`<owner>-<hash>`; if that name is taken by a revision that is not ours or holds another template (a hash
collision), kube bumps the owner's `status.collisionCount`, which changes the hash, and retries: so does this.
"""

from __future__ import annotations

import copy
from typing import Any

from controllers import podcontrol as pc
from controllers.machinery import labels
from controllers.machinery.actions import Create, Patch, Update
from controllers.machinery.client import APIError, RESTClient
from controllers.machinery.executor import perform
from controllers.machinery.resources import CONTROLLERREVISIONS, Resource

Obj = dict[str, Any]


async def adopt_orphans(client: RESTClient, owner_resource: Resource, owner: Obj, revisions: list[Obj]) -> list[Obj]:
    """The namespace's revisions with the matching orphans adopted by `owner` (pass the result to the core)."""
    if pc.meta(owner).get("deletionTimestamp"):
        return revisions
    try:
        selector = labels.from_label_selector(pc.spec(owner).get("selector"))
    except labels.SelectorError:
        return revisions
    ns = pc.meta(owner).get("namespace")
    ref = pc.controller_ref(owner, owner_resource.api_version, owner_resource.kind)
    out = []
    for rev in revisions:
        md = pc.meta(rev)
        if md.get("namespace") != ns or pc.controller_of(rev) is not None or md.get("deletionTimestamp") \
                or not selector.matches(md.get("labels")):
            out.append(rev)
            continue
        body = {"metadata": {"ownerReferences": [ref], "uid": md.get("uid")}}
        outcome = await perform(client, Patch(CONTROLLERREVISIONS, ns, str(md.get("name")), body, "strategic"),
                                None)
        if outcome.error is not None:
            if isinstance(outcome.error, APIError) and outcome.error.not_found:
                continue
            raise outcome.error
        out.append(outcome.object or rev)
    return out


class HashCollision(RuntimeError):
    """Raised after status.collisionCount was bumped: the retry computes a new name."""


async def write(client: RESTClient, owner_resource: Resource, owner: Obj, actions: list[Create | Update]) -> None:
    for action in actions:
        outcome = await perform(client, action, None)
        if outcome.error is None:
            continue
        e = outcome.error
        if not (isinstance(e, APIError) and e.already_exists and isinstance(action, Create)):
            raise e
        existing = await client.get(CONTROLLERREVISIONS, action.namespace, str(action.body["metadata"]["name"]))
        if existing.get("data") == action.body.get("data") and pc.is_controlled_by(existing, owner):
            continue  # ours already (a stale cache): nothing collided
        status = copy.deepcopy(pc.status(owner))
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        md = pc.meta(owner)
        body = {"apiVersion": owner_resource.api_version, "kind": owner_resource.kind, "metadata": md,
                "spec": pc.spec(owner), "status": status}
        bumped = await perform(client, Update(owner_resource, md.get("namespace"), str(md.get("name")), body,
                                              "status"), None)
        if bumped.error is not None:
            raise bumped.error
        raise HashCollision(f"hash collision on ControllerRevision {action.body['metadata']['name']}: "
                            f"collisionCount is now {status['collisionCount']}")
