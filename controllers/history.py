"""ControllerRevisions as the DaemonSet and StatefulSet controllers keep them (kube's controller/history), pure.

A revision stores the pod template as a strategic-merge patch that replaces it (`{"spec": {"template": {...,
"$patch": "replace"}}}`), a revision number, the `controller-revision-hash` label and the owner's controller
reference; `kubectl rollout history` lists them. Equal templates are one revision: re-applying an old template
gives that revision the next number instead of a new object.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from controllers import podcontrol as pc
from controllers.deployment.hashing import compute_hash, fnv1a_32, safe_encode_string
from controllers.machinery.resources import CONTROLLERREVISIONS

Obj = dict[str, Any]
REVISION_HASH_LABEL = "controller-revision-hash"


def template_patch(owner: Obj) -> Obj:
    """getPatch: the owner's pod template as a replacing patch (what the revision's data holds)."""
    template = copy.deepcopy(pc.spec(owner).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_hash(owner: Obj) -> str:
    """The DaemonSet's hash: ComputeHash of the pod template and the collision count."""
    return compute_hash(pc.spec(owner).get("template") or {}, pc.status(owner).get("collisionCount"))


def data_hash(data: Obj, collision_count: int | None) -> str:
    """HashControllerRevision (StatefulSet): FNV-1a of the revision's data, then the collision count."""
    h = fnv1a_32(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    if collision_count:
        h = fnv1a_32(str(collision_count).encode(), h)
    return safe_encode_string(str(h))


def owned(owner: Obj, revisions: list[Obj]) -> list[Obj]:
    return [r for r in revisions if pc.is_controlled_by(r, owner)]


def revision_number(rev: Obj) -> int:
    return int(rev.get("revision") or 0)


def equal(rev: Obj, data: Obj) -> bool:
    return rev.get("data") == data


def new_revision(owner: Obj, api_version: str, kind: str, name: str, hash_: str, data: Obj, number: int) -> Obj:
    tlabels = ((pc.spec(owner).get("template") or {}).get("metadata") or {}).get("labels") or {}
    md: Obj = {"name": name, "namespace": pc.meta(owner).get("namespace"),
               "labels": {**tlabels, REVISION_HASH_LABEL: hash_},
               "ownerReferences": [pc.controller_ref(owner, api_version, kind)]}
    if pc.meta(owner).get("annotations"):
        md["annotations"] = dict(pc.meta(owner)["annotations"])
    return {"apiVersion": CONTROLLERREVISIONS.api_version, "kind": CONTROLLERREVISIONS.kind, "metadata": md,
            "data": data, "revision": number}


def max_revision(revisions: list[Obj]) -> int:
    return max((revision_number(r) for r in revisions), default=0)
