"""The namespace controller's decisions (controllers/namespace/reconcile.py), table-driven on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.machinery.actions import Delete, Update
from controllers.machinery.resources import CONFIGMAPS, NAMESPACES, PODS, REPLICASETS
from controllers.namespace import reconcile as nsr

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


def ns(*, deleting: bool = True, finalizers: tuple[str, ...] = ("kubernetes",), conditions=None,
       phase: str = "Terminating") -> dict[str, Any]:
    md: dict[str, Any] = {"name": "team", "uid": "u", "resourceVersion": "4"}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if conditions is not None:
        status["conditions"] = conditions
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": md, "spec": {"finalizers": list(finalizers)},
            "status": status}


def item(name: str, *, finalizers=None, deleting: bool = False, grace=None, phase=None, tgps=None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "team", "uid": f"uid-{name}"}
    if finalizers:
        md["finalizers"] = finalizers
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if grace is not None:
        md["deletionGracePeriodSeconds"] = grace
    obj: dict[str, Any] = {"metadata": md, "spec": {}, "status": {}}
    if phase:
        obj["status"]["phase"] = phase
    if tgps is not None:
        obj["spec"]["terminationGracePeriodSeconds"] = tgps
    return obj


@pytest.mark.parametrize("namespace,expected", [
    (ns(), True),
    (ns(deleting=False), False),
    (ns(finalizers=()), False),
    (ns(finalizers=("example.com/x",)), False),
])
def test_needs_content_deletion(namespace, expected):
    assert nsr.needs_content_deletion(namespace) is expected


def test_content_deletions_skip_objects_already_being_deleted():
    contents = {PODS: [item("a"), item("b", deleting=True)], CONFIGMAPS: [item("c")]}
    assert nsr.content_deletions("team", contents) == [
        Delete(CONFIGMAPS, "team", "c", uid="uid-c", propagation="Background"),
        Delete(PODS, "team", "a", uid="uid-a", propagation="Background")]


DELETED = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
ESTIMATES = [
    # (name, resource, listed, remaining, seconds since the deletion, expected (estimate, error))
    ("nothing left", CONFIGMAPS, [item("c")], [], 1, (0, None)),
    ("left without finalizers: an error", CONFIGMAPS, [item("c")], [item("c")], 1,
     (0, "unexpected items still remain in namespace: team for gvr: /v1, Resource=configmaps")),
    ("left with finalizers: look again in 15 s", REPLICASETS, [], [item("r", finalizers=["x"])], 1, (15, None)),
    ("pods: their grace period", PODS, [item("a", tgps=45), item("b", tgps=3)], [item("a", tgps=45)], 1, (45, None)),
    ("pods, even when gone already", PODS, [item("a", tgps=30)], [], 1, (30, None)),
    ("terminal pods are not waited for", PODS, [item("a", tgps=30, phase="Succeeded")], [], 1, (0, None)),
    ("deleted longer ago than the grace: an error if still there", PODS, [item("a", tgps=30)], [item("a", tgps=30)],
     31, (0, "unexpected items still remain in namespace: team for gvr: /v1, Resource=pods")),
]


@pytest.mark.parametrize("res,listed,remaining,since,expected", [e[1:] for e in ESTIMATES],
                         ids=[e[0] for e in ESTIMATES])
def test_resource_outcome(res, listed, remaining, since, expected):
    now = DELETED + timedelta(seconds=since)
    assert nsr.resource_outcome("team", res, listed, remaining, DELETED, now) == expected


def test_parse_time():
    assert nsr.parse_time("2026-01-01T00:00:00Z") == DELETED and nsr.parse_time(None) is None


def cond(t: str, status: str, reason: str, message: str, when: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"type": t, "status": status, "lastTransitionTime": when, "reason": reason, "message": message}


ALL_OK = [
    cond("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
    cond("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
         "All legacy kube types successfully parsed"),
    cond("NamespaceDeletionContentFailure", "False", "ContentDeleted",
         "All content successfully deleted, may be waiting on finalization"),
    cond("NamespaceContentRemaining", "False", "ContentRemoved", "All content successfully removed"),
    cond("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
         "All content-preserving finalizers finished"),
]


def test_nothing_remains_every_condition_is_the_ok_one():
    upd = nsr.status_update(ns(), {}, nsr.Failures(), T0)
    assert upd is not None and (upd.resource, upd.name, upd.subresource) == (NAMESPACES, "team", "status")
    assert upd.body["status"] == {"phase": "Terminating", "conditions": ALL_OK}


def test_remaining_resources_and_finalizers_are_counted_as_1_32_words_them():
    remaining = {PODS: [item("a"), item("b", finalizers=["example.com/x"])],
                 REPLICASETS: [item("r", finalizers=["example.com/x", "foregroundDeletion"])], CONFIGMAPS: []}
    got = {c["type"]: (c["status"], c["reason"], c["message"])
           for c in nsr.status_update(ns(), remaining, nsr.Failures(), T0).body["status"]["conditions"]}
    assert got["NamespaceContentRemaining"] == (
        "True", "SomeResourcesRemain",
        "Some resources are remaining: pods. has 2 resource instances, replicasets.apps has 1 resource instances")
    assert got["NamespaceFinalizersRemaining"] == (
        "True", "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: example.com/x in 2 "
        "resource instances, foregroundDeletion in 1 resource instances")
    assert got["NamespaceDeletionContentFailure"][1] == "ContentDeleted"


def test_failures_become_true_conditions():
    failures = nsr.Failures(discovery={"metrics.k8s.io/v1beta1": "the server is currently unable to handle the request"},
                            parsing=["unexpected GroupVersion string: a/b/c"],
                            content=['pods is forbidden: User "x" cannot deletecollection', "timeout"])
    got = {c["type"]: (c["status"], c["reason"], c["message"])
           for c in nsr.status_update(ns(), {}, failures, T0).body["status"]["conditions"]}
    assert got["NamespaceDeletionDiscoveryFailure"] == (
        "True", "DiscoveryFailed", "Discovery failed for some groups, 1 failing: unable to retrieve the complete list "
        "of server APIs: metrics.k8s.io/v1beta1: the server is currently unable to handle the request")
    assert got["NamespaceDeletionGroupVersionParsingFailure"] == (
        "True", "GroupVersionParsingFailed", "Failed to parse group versions: unexpected GroupVersion string: a/b/c")
    assert got["NamespaceDeletionContentFailure"] == (
        "True", "ContentDeletionFailed",
        'Failed to delete all resource types, 2 remaining: [pods is forbidden: User "x" cannot deletecollection, timeout]')


def test_unchanged_conditions_keep_their_transition_time_and_need_no_write():
    assert nsr.status_update(ns(conditions=ALL_OK), {}, nsr.Failures(), T1) is None


def test_a_changed_condition_moves_only_its_own_transition_time():
    upd = nsr.status_update(ns(conditions=ALL_OK), {PODS: [item("a")]}, nsr.Failures(), T1)
    assert upd is not None
    by_type = {c["type"]: c for c in upd.body["status"]["conditions"]}
    assert by_type["NamespaceContentRemaining"]["lastTransitionTime"] == "2026-01-01T00:00:05Z"
    assert by_type["NamespaceDeletionDiscoveryFailure"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_phase_is_set_to_terminating_even_when_conditions_are_unchanged():
    upd = nsr.status_update(ns(conditions=ALL_OK, phase="Active"), {}, nsr.Failures(), T1)
    assert upd is not None and upd.body["status"]["phase"] == "Terminating"


def test_other_conditions_are_kept_after_the_five():
    extra = {"type": "example.com/Custom", "status": "True"}
    upd = nsr.status_update(ns(conditions=[extra]), {}, nsr.Failures(), T0)
    assert upd is not None and upd.body["status"]["conditions"] == ALL_OK + [extra]


def test_finalize_removes_only_the_kubernetes_finalizer():
    upd = nsr.finalize(ns(finalizers=("kubernetes", "example.com/x")))
    assert upd == Update(NAMESPACES, None, "team", {**ns(), "spec": {"finalizers": ["example.com/x"]}},
                         subresource="finalize")
    assert nsr.finalize(ns(finalizers=("example.com/x",))) is None
