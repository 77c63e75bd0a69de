"""Owner references and deletion propagation: what the garbage collector must do, decided without I/O.

kube-controller-manager's garbage collector reads `metadata.ownerReferences` to find an owner's dependents and acts
on the propagation policy the owner was deleted with (recorded as a finalizer on the owner):
- Background (the default): the owner goes at once; its dependents are deleted afterwards.
- Foreground (finalizer `foregroundDeletion`): the owner stays, with a deletionTimestamp, until every dependent is
  gone; dependents are themselves deleted in the foreground.
- Orphan (finalizer `orphan`): the owner's reference is removed from every dependent, then the finalizer.
"""

from __future__ import annotations

from typing import Any

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
POLICY_FINALIZERS = {"Foreground": FOREGROUND, "Orphan": ORPHAN}


def owner_uids(obj: dict[str, Any]) -> set[str]:
    return {str(r.get("uid")) for r in (obj.get("metadata") or {}).get("ownerReferences") or []
            if isinstance(r, dict) and r.get("uid")}


def is_dependent(obj: dict[str, Any], owner_uid: str) -> bool:
    return owner_uid in owner_uids(obj)


def pending_policy(obj: dict[str, Any]) -> str:
    """The propagation the collector still owes a deleted object: its policy finalizer, else Background."""
    finalizers = (obj.get("metadata") or {}).get("finalizers") or []
    if ORPHAN in finalizers:
        return "Orphan"
    if FOREGROUND in finalizers:
        return "Foreground"
    return "Background"


def without_owner(obj: dict[str, Any], owner_uid: str) -> dict[str, Any]:
    """`obj` with its reference to `owner_uid` removed (orphaning); the field goes when the list empties."""
    md = obj.setdefault("metadata", {})
    refs = [r for r in md.get("ownerReferences") or [] if not (isinstance(r, dict) and r.get("uid") == owner_uid)]
    if refs:
        md["ownerReferences"] = refs
    else:
        md.pop("ownerReferences", None)
    return obj


def without_finalizer(obj: dict[str, Any], finalizer: str) -> dict[str, Any]:
    md = obj.setdefault("metadata", {})
    rest = [f for f in md.get("finalizers") or [] if f != finalizer]
    if rest:
        md["finalizers"] = rest
    else:
        md.pop("finalizers", None)
    return obj


def dependent_scopes(owner_namespaced: bool, owner_namespace: str) -> tuple[bool, str]:
    """(search namespaced resources only?, namespace to search): a namespaced owner can only own objects in its
    own namespace; a cluster-scoped owner can own anything, anywhere."""
    if owner_namespaced:
        return True, owner_namespace
    return False, ""
