"""The garbage collector's decisions, as kube-controller-manager 1.32 makes them, over plain object dicts.

Three questions, each a pure function of what the adapter read from the API server:
- `attempt_to_delete`: a dependent's owners were classified (solid / dangling / waiting for their dependents to be
  deleted in the foreground); delete it, drop the references that no longer hold it, or leave it.
- `deleting_dependents`: an owner deleted in the foreground (`foregroundDeletion` finalizer) loses that finalizer once
  no dependent blocks it (an ownerReference with `blockOwnerDeletion: true`).
- `orphan`: an owner deleted with `orphan` has its reference stripped from every dependent, then the finalizer.

Writes are merge patches carrying the read `resourceVersion` (kube's JSON merge patch fallbacks), and deletes carry
the uid and resourceVersion as preconditions, so a decision taken on a stale read fails with 409 and is retaken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controllers.machinery.actions import Action, Delete, Event, Patch, Propagation
from controllers.machinery.resources import Resource

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


@dataclass(frozen=True)
class OwnerLookup:
    """One ownerReference of a dependent and what the API server says about it.

    `live` is the object found by a GET at the reference's coordinates (the dependent's namespace for a namespaced
    kind) when its uid matches the reference, else None (dangling). `observed_namespace` is the namespace of an object
    with the reference's uid seen by the informers (None when not seen): a namespaced owner observed in another
    namespace is an invalid reference, reported as OwnerRefInvalidNamespace. `invalid_scope` marks a cluster-scoped
    dependent pointing at a namespaced kind, which 1.32 neither resolves nor retries.
    """
    ref: dict[str, Any]
    live: dict[str, Any] | None
    observed_namespace: str | None = None
    invalid_scope: bool = False


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


def owner_refs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in meta(obj).get("ownerReferences") or [] if isinstance(r, dict)]


def has_finalizer(obj: dict[str, Any], finalizer: str) -> bool:
    return finalizer in (meta(obj).get("finalizers") or [])


def being_deleted(obj: dict[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def deleting_dependents_now(obj: dict[str, Any]) -> bool:
    """Deleted in the foreground and still waiting for its dependents."""
    return being_deleted(obj) and has_finalizer(obj, FOREGROUND)


def orphaning_now(obj: dict[str, Any]) -> bool:
    return being_deleted(obj) and has_finalizer(obj, ORPHAN)


def refers_to(obj: dict[str, Any], uid: str) -> bool:
    return any(r.get("uid") == uid for r in owner_refs(obj))


def blocks(dependent: dict[str, Any], owner_uid: str) -> bool:
    return any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion") is True for r in owner_refs(dependent))


def reference_string(ref: dict[str, Any], namespace: str) -> str:
    """kube's objectReference.String(), used in the OwnerRefInvalidNamespace message."""
    return (f"[{ref.get('apiVersion', '')}/{ref.get('kind', '')}, namespace: {namespace}, "
            f"name: {ref.get('name', '')}, uid: {ref.get('uid', '')}]")


def invalid_namespace_events(item: dict[str, Any], owners: Sequence[OwnerLookup]) -> list[Action]:
    """A namespaced owner observed in a namespace other than the dependent's: the reference can never resolve."""
    ns = meta(item).get("namespace") or ""
    return [Event(item, "Warning", "OwnerRefInvalidNamespace",
                  f"ownerRef {reference_string(o.ref, ns)} does not exist in namespace {_go_quote(ns)}")
            for o in owners if o.observed_namespace and o.observed_namespace != ns]


def attempt_to_delete(item: dict[str, Any], resource: Resource, owners: Sequence[OwnerLookup],
                      has_dependents: bool, a_dependent_deletes_dependents: bool = False) -> list[Action]:
    """What to do with `item` (the live object) given its classified owners (1.32's attemptToDeleteItem).

    `has_dependents`: something refers to `item` as its owner; `a_dependent_deletes_dependents`: one of those is
    itself waiting on a foreground deletion (a possible cycle, broken by unblocking `item`'s references).
    """
    if being_deleted(item) and not has_finalizer(item, FOREGROUND):
        return []  # one-way trip to deletion: its dependents are looked at once it is gone
    refs = owner_refs(item)
    if not refs:
        return []
    events = invalid_namespace_events(item, owners)
    if any(o.invalid_scope for o in owners):
        return events
    solid: list[dict[str, Any]] = []
    dangling: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    for o in owners:
        if o.live is None:
            dangling.append(o.ref)
        elif deleting_dependents_now(o.live):
            waiting.append(o.ref)
        else:
            solid.append(o.ref)
    md = meta(item)
    ns = md.get("namespace") if resource.namespaced else None
    if solid:
        if not dangling and not waiting:
            return events
        gone = {r.get("uid") for r in dangling + waiting}
        return events + [_set_owner_refs(resource, item, [r for r in refs if r.get("uid") not in gone])]
    policy: Propagation
    if waiting and has_dependents:
        actions: list[Action] = list(events)
        if a_dependent_deletes_dependents:
            unblocked = [{**r, "blockOwnerDeletion": False} if r.get("uid") in {w.get("uid") for w in waiting} else r
                         for r in refs]
            actions.append(_set_owner_refs(resource, item, unblocked))
            return actions + [Delete(resource, ns, md["name"], uid=md.get("uid"), propagation="Foreground")]
        policy = "Foreground"
    elif has_finalizer(item, ORPHAN):
        policy = "Orphan"
    elif has_finalizer(item, FOREGROUND):
        policy = "Foreground"
    else:
        policy = "Background"
    return events + [Delete(resource, ns, md["name"], uid=md.get("uid"), resource_version=md.get("resourceVersion"),
                            propagation=policy)]


def deleting_dependents(owner: dict[str, Any], resource: Resource, dependents: Sequence[dict[str, Any]]) -> list[Action]:
    """An owner in foreground deletion: drop `foregroundDeletion` once no dependent blocks it (the adapter keeps
    feeding the others to `attempt_to_delete`)."""
    if not deleting_dependents_now(owner):
        return []
    uid = meta(owner).get("uid") or ""
    if any(blocks(d, uid) for d in dependents):
        return []
    return [remove_finalizer(owner, resource, FOREGROUND)]


def orphan(owner: dict[str, Any], dependents: Sequence[tuple[Resource, dict[str, Any]]]) -> list[Action]:
    """The reference to `owner` removed from each dependent still carrying it. The caller removes the `orphan`
    finalizer (`remove_finalizer`) only after every one of these succeeded, as 1.32 does."""
    uid = meta(owner).get("uid") or ""
    return [_set_owner_refs(res, dep, [r for r in owner_refs(dep) if r.get("uid") != uid])
            for res, dep in dependents if refers_to(dep, uid)]


def remove_finalizer(obj: dict[str, Any], resource: Resource, finalizer: str) -> Patch:
    md = meta(obj)
    rest = [f for f in md.get("finalizers") or [] if f != finalizer]
    return Patch(resource, md.get("namespace") if resource.namespaced else None, md["name"],
                 {"metadata": {"resourceVersion": md.get("resourceVersion"), "finalizers": rest or None}})


def _set_owner_refs(resource: Resource, obj: dict[str, Any], refs: list[dict[str, Any]]) -> Patch:
    md = meta(obj)
    return Patch(resource, md.get("namespace") if resource.namespaced else None, md["name"],
                 {"metadata": {"resourceVersion": md.get("resourceVersion"), "ownerReferences": refs or None}})


def _go_quote(s: str) -> str:
    """Go's %q for the plain names Kubernetes allows."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
