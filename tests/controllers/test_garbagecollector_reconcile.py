"""The garbage collector's decisions (controllers/garbagecollector/reconcile.py), table-driven, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.garbagecollector import reconcile as gc
from controllers.machinery.actions import Delete, Event, Patch
from controllers.machinery.resources import CONFIGMAPS, NODES, PODS, REPLICASETS

pytestmark = pytest.mark.unit


def ref(uid: str, kind: str = "ReplicaSet", name: str | None = None, block: bool | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"apiVersion": "apps/v1" if kind == "ReplicaSet" else "v1", "kind": kind,
                         "name": name or f"o-{uid}", "uid": uid}
    if block is not None:
        r["blockOwnerDeletion"] = block
    return r


def obj(name: str, uid: str, refs: list[dict[str, Any]] | None = None, *, finalizers: list[str] | None = None,
        deleting: bool = False, ns: str = "default", rv: str = "7") -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": ns, "uid": uid, "resourceVersion": rv}
    if refs:
        md["ownerReferences"] = refs
    if finalizers:
        md["finalizers"] = finalizers
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md}


ALIVE = obj("o-a", "a")
ALIVE_B = obj("o-b", "b")
FG_OWNER = obj("o-a", "a", finalizers=["foregroundDeletion"], deleting=True)
ORPHANING = obj("o-a", "a", finalizers=["orphan"], deleting=True)
OTHER_FINALIZER = obj("o-a", "a", finalizers=["example.com/x"], deleting=True)


def delete(policy: str, name: str = "p", uid: str = "p1", rv: str | None = "7") -> Delete:
    return Delete(PODS, "default", name, uid=uid, resource_version=rv, propagation=policy)  # type: ignore[arg-type]


def set_refs(refs: list[dict[str, Any]] | None, name: str = "p") -> Patch:
    return Patch(PODS, "default", name, {"metadata": {"resourceVersion": "7", "ownerReferences": refs}})


CASES = [
    # (name, item, lookups, has_dependents, dependent_deletes_dependents, expected actions)
    ("no owners: nothing to collect", obj("p", "p1"), [], False, False, []),
    ("owner alive: kept", obj("p", "p1", [ref("a")]), [gc.OwnerLookup(ref("a"), ALIVE)], False, False, []),
    ("owner gone: background delete with uid and rv preconditions", obj("p", "p1", [ref("a")]),
     [gc.OwnerLookup(ref("a"), None)], False, False, [delete("Background")]),
    ("all owners gone", obj("p", "p1", [ref("a"), ref("b")]),
     [gc.OwnerLookup(ref("a"), None), gc.OwnerLookup(ref("b"), None)], False, False, [delete("Background")]),
    ("one owner gone, one alive: only the dangling reference goes", obj("p", "p1", [ref("a"), ref("b")]),
     [gc.OwnerLookup(ref("a"), None), gc.OwnerLookup(ref("b"), ALIVE_B)], False, False, [set_refs([ref("b")])]),
    ("a waiting owner's reference goes when another owner is solid", obj("p", "p1", [ref("a"), ref("b")]),
     [gc.OwnerLookup(ref("a"), FG_OWNER), gc.OwnerLookup(ref("b"), ALIVE_B)], False, False, [set_refs([ref("b")])]),
    ("owner in foreground deletion, no own dependents: background delete", obj("p", "p1", [ref("a", block=True)]),
     [gc.OwnerLookup(ref("a", block=True), FG_OWNER)], False, False, [delete("Background")]),
    ("owner in foreground deletion, own dependents: deleted in the foreground", obj("p", "p1", [ref("a")]),
     [gc.OwnerLookup(ref("a"), FG_OWNER)], True, False, [delete("Foreground")]),
    ("cycle: references unblocked, then foreground delete", obj("p", "p1", [ref("a", block=True)]),
     [gc.OwnerLookup(ref("a", block=True), FG_OWNER)], True, True,
     [set_refs([ref("a", block=False)]), delete("Foreground", rv=None)]),
    ("owner orphaning is still solid", obj("p", "p1", [ref("a")]),
     [gc.OwnerLookup(ref("a"), ORPHANING)], False, False, []),
    ("owner with another finalizer is solid", obj("p", "p1", [ref("a")]),
     [gc.OwnerLookup(ref("a"), OTHER_FINALIZER)], False, False, []),
    ("item's own orphan finalizer is honoured", obj("p", "p1", [ref("a")], finalizers=["orphan"]),
     [gc.OwnerLookup(ref("a"), None)], False, False, [delete("Orphan")]),
    ("item's own foreground finalizer is honoured", obj("p", "p1", [ref("a")], finalizers=["foregroundDeletion"]),
     [gc.OwnerLookup(ref("a"), None)], False, False, [delete("Foreground")]),
    ("item already being deleted (background): wait for it to go", obj("p", "p1", [ref("a")], deleting=True),
     [gc.OwnerLookup(ref("a"), None)], False, False, []),
    ("cluster-scoped item, namespaced owner kind: neither resolved nor retried",
     obj("p", "p1", [ref("a")]), [gc.OwnerLookup(ref("a"), None, invalid_scope=True)], False, False, []),
]


@pytest.mark.parametrize("item,lookups,has_deps,dep_fg,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_attempt_to_delete(item, lookups, has_deps, dep_fg, expected):
    assert gc.attempt_to_delete(item, PODS, lookups, has_deps, dep_fg) == expected


def test_an_owner_observed_in_another_namespace_is_reported_and_the_dependent_collected():
    item = obj("p", "p1", [ref("a", name="web")], ns="team")
    actions = gc.attempt_to_delete(item, PODS, [gc.OwnerLookup(ref("a", name="web"), None, observed_namespace="other")],
                                   False)
    assert actions == [
        Event(item, "Warning", "OwnerRefInvalidNamespace",
              'ownerRef [apps/v1/ReplicaSet, namespace: team, name: web, uid: a] does not exist in namespace "team"'),
        Delete(PODS, "team", "p", uid="p1", resource_version="7", propagation="Background")]


def test_an_owner_observed_in_the_same_namespace_is_not_reported():
    item = obj("p", "p1", [ref("a")])
    assert gc.attempt_to_delete(item, PODS, [gc.OwnerLookup(ref("a"), ALIVE, observed_namespace="default")],
                                False) == []


def test_cluster_scoped_dependent_is_patched_without_a_namespace():
    node = {"metadata": {"name": "n1", "uid": "n", "resourceVersion": "3", "ownerReferences": [ref("a"), ref("b")]}}
    actions = gc.attempt_to_delete(node, NODES, [gc.OwnerLookup(ref("a"), None), gc.OwnerLookup(ref("b"), ALIVE_B)],
                                   False)
    assert actions == [Patch(NODES, None, "n1", {"metadata": {"resourceVersion": "3", "ownerReferences": [ref("b")]}})]


DEPENDENTS = [
    ("no dependents left: finalizer removed", [], True),
    ("only non-blocking dependents: finalizer removed", [obj("p", "p1", [ref("a", block=False)])], True),
    ("dependent without blockOwnerDeletion does not block", [obj("p", "p1", [ref("a")])], True),
    ("a blocking dependent holds the owner", [obj("p", "p1", [ref("a", block=True)])], False),
    ("a blocking dependent being deleted still holds it", [obj("p", "p1", [ref("a", block=True)], deleting=True)],
     False),
    ("blocking a different owner does not count", [obj("p", "p1", [ref("a"), ref("z", block=True)])], True),
]


@pytest.mark.parametrize("dependents,released", [d[1:] for d in DEPENDENTS], ids=[d[0] for d in DEPENDENTS])
def test_foreground_owner_keeps_its_finalizer_while_a_dependent_blocks(dependents, released):
    owner = obj("o-a", "a", finalizers=["foregroundDeletion", "example.com/x"], deleting=True, rv="9")
    actions = gc.deleting_dependents(owner, REPLICASETS, dependents)
    expected = [Patch(REPLICASETS, "default", "o-a",
                      {"metadata": {"resourceVersion": "9", "finalizers": ["example.com/x"]}})]
    assert actions == (expected if released else [])


def test_deleting_dependents_needs_the_foreground_finalizer_and_a_deletion():
    assert gc.deleting_dependents(obj("o-a", "a", finalizers=["foregroundDeletion"]), REPLICASETS, []) == []
    assert gc.deleting_dependents(ORPHANING, REPLICASETS, []) == []


def test_orphan_strips_only_the_owner_reference_and_drops_the_field_when_empty():
    only = obj("p", "p1", [ref("a")])
    two = obj("q", "q1", [ref("a"), ref("b")])
    unrelated = obj("r", "r1", [ref("b")])
    actions = gc.orphan(ORPHANING, [(PODS, only), (PODS, two), (CONFIGMAPS, unrelated)])
    assert actions == [set_refs(None, "p"), set_refs([ref("b")], "q")]


def test_remove_finalizer_sends_null_when_none_remain():
    assert gc.remove_finalizer(ORPHANING, REPLICASETS, "orphan") == Patch(
        REPLICASETS, "default", "o-a", {"metadata": {"resourceVersion": "7", "finalizers": None}})


def test_reference_and_finalizer_helpers():
    """What tests/apiserver's ownership test checked when the collector lived in the API server."""
    o = obj("p", "p1", [ref("a"), ref("b")], finalizers=["orphan", "x"], deleting=True)
    assert gc.refers_to(o, "a") and not gc.refers_to(o, "c")
    assert gc.orphaning_now(o) and not gc.deleting_dependents_now(o)
    assert not gc.orphaning_now(obj("p", "p1", finalizers=["orphan"])), "the finalizer alone is not a deletion"
    assert gc.remove_finalizer(o, PODS, "orphan").patch["metadata"]["finalizers"] == ["x"]
