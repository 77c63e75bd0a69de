"""The namespace controller's decisions (kube-controller-manager 1.32's namespaced resources deleter), pure.

A deleted namespace (deletionTimestamp, phase Terminating) holding the `kubernetes` finalizer in `spec.finalizers`
is emptied: every namespaced object the API server can list and delete is deleted, its five deletion conditions are
written with 1.32's reasons and messages, and once nothing remains the finalizer is removed through
`PUT /api/v1/namespaces/<ns>/finalize`; the API server then removes the namespace itself.

The adapter calls, in order: `content_deletions` on what it listed, then (after listing again) `resource_outcome`
per resource and `status_update` on what remains, then `finalize` on the namespace the status write returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controllers.machinery.actions import Delete, Update
from controllers.machinery.resources import NAMESPACES, PODS, Resource

FINALIZER = "kubernetes"

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONDITION_TYPES = (DISCOVERY_FAILURE, PARSING_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING, FINALIZERS_REMAINING)
OK: dict[str, tuple[str, str]] = {  # the status False condition each type carries when all is well
    DISCOVERY_FAILURE: ("ResourcesDiscovered", "All resources successfully discovered"),
    PARSING_FAILURE: ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


@dataclass(frozen=True)
class Failures:
    """What went wrong before the remaining content was counted: discovery (group -> error text), group versions
    that did not parse, and per-resource deletion errors (as their error strings)."""
    discovery: Mapping[str, str] = field(default_factory=dict)
    parsing: Sequence[str] = ()
    content: Sequence[str] = ()


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


def needs_content_deletion(ns: dict[str, Any]) -> bool:
    """Deleted, and our finalizer still pending: the controller has work to do."""
    return bool(meta(ns).get("deletionTimestamp")) and FINALIZER in ((ns.get("spec") or {}).get("finalizers") or [])


def content_deletions(namespace: str, contents: Mapping[Resource, Sequence[dict[str, Any]]]) -> list[Delete]:
    """Delete every listed object not already being deleted (in the background, as 1.32's deleter does)."""
    out: list[Delete] = []
    for res in sorted(contents, key=_resource_name):
        for item in contents[res]:
            md = meta(item)
            if md.get("deletionTimestamp") or not md.get("name"):
                continue
            out.append(Delete(res, namespace, md["name"], uid=md.get("uid"), propagation="Background"))
    return out


FINALIZER_ESTIMATE_S = 15  # 1.32: content held by finalizers is normal; look again after this long


def gvr_string(res: Resource) -> str:
    """schema.GroupVersionResource.String()."""
    return f"{res.group}/{res.version}, Resource={res.plural}"


def pod_estimate(pods: Sequence[dict[str, Any]], deleted_at: datetime | None, now: datetime) -> int:
    """1.32's estimateGracefulTermination: the longest terminationGracePeriodSeconds of the non-terminal pods, or
    0 once the namespace has been deleted for longer than that."""
    estimate = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if grace is not None:
            estimate = max(estimate, int(grace))
    if deleted_at is not None and (now - deleted_at).total_seconds() >= estimate:
        return 0
    return estimate


def resource_outcome(namespace: str, res: Resource, listed: Sequence[dict[str, Any]],
                     remaining: Sequence[dict[str, Any]], deleted_at: datetime | None,
                     now: datetime) -> tuple[int, str | None]:
    """(seconds to wait before looking again, error) for one resource after its content was deleted: pods may be
    terminating gracefully, objects with finalizers are waited for; anything else still there is an error."""
    estimate = pod_estimate(listed, deleted_at, now) if (res.group, res.plural) == (PODS.group, PODS.plural) else 0
    if remaining and estimate == 0:
        if any(meta(item).get("finalizers") for item in remaining):
            return FINALIZER_ESTIMATE_S, None
        return 0, f"unexpected items still remain in namespace: {namespace} for gvr: {gvr_string(res)}"
    return estimate, None


def parse_time(s: Any) -> datetime | None:
    if not isinstance(s, str) or not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def conditions(remaining: Mapping[Resource, Sequence[dict[str, Any]]], failures: Failures) -> dict[str, tuple[str, str, str]]:
    """type -> (status, reason, message) for the five deletion conditions."""
    out = {t: ("False", *OK[t]) for t in CONDITION_TYPES}
    if failures.discovery:
        detail = ", ".join(f"{g}: {e}" for g, e in sorted(failures.discovery.items()))
        out[DISCOVERY_FAILURE] = ("True", "DiscoveryFailed", f"Discovery failed for some groups, "
                                  f"{len(failures.discovery)} failing: unable to retrieve the complete list of "
                                  f"server APIs: {detail}")
    if failures.parsing:
        out[PARSING_FAILURE] = ("True", "GroupVersionParsingFailed",
                                f"Failed to parse group versions: {_aggregate(failures.parsing)}")
    if failures.content:
        out[CONTENT_FAILURE] = ("True", "ContentDeletionFailed", f"Failed to delete all resource types, "
                                f"{len(failures.content)} remaining: {_aggregate(failures.content)}")
    counts: list[str] = []
    finalizers: dict[str, int] = {}
    for res, items in remaining.items():
        if items:
            counts.append(f"{res.plural}.{res.group} has {len(items)} resource instances")
        for item in items:
            for f in meta(item).get("finalizers") or []:
                finalizers[f] = finalizers.get(f, 0) + 1
    if counts:
        out[CONTENT_REMAINING] = ("True", "SomeResourcesRemain",
                                  "Some resources are remaining: " + ", ".join(sorted(counts)))
    if finalizers:
        listed = sorted(f"{f} in {n} resource instances" for f, n in finalizers.items())
        out[FINALIZERS_REMAINING] = ("True", "SomeFinalizersRemain",
                                     "Some content in the namespace has finalizers remaining: " + ", ".join(listed))
    return out


def status_update(ns: dict[str, Any], remaining: Mapping[Resource, Sequence[dict[str, Any]]], failures: Failures,
                  now: datetime) -> Update | None:
    """The namespace's status with phase Terminating and the five conditions (a condition keeps its
    lastTransitionTime while its status, reason and message stay the same); None when nothing changed."""
    status = dict(ns.get("status") or {})
    old = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    by_type = {c.get("type"): c for c in old}
    new: list[dict[str, Any]] = []
    for t, (st, reason, message) in conditions(remaining, failures).items():
        prev = by_type.get(t)
        if prev and (prev.get("status"), prev.get("reason"), prev.get("message")) == (st, reason, message):
            new.append(prev)
        else:
            new.append({"type": t, "status": st, "lastTransitionTime": rfc3339(now), "reason": reason, "message": message})
    new.extend(c for c in old if c.get("type") not in CONDITION_TYPES)
    if new == old and status.get("phase") == "Terminating":
        return None
    body = {**ns, "status": {**status, "phase": "Terminating", "conditions": new}}
    return Update(NAMESPACES, None, meta(ns)["name"], body, subresource="status")


def finalize(ns: dict[str, Any]) -> Update | None:
    """`spec.finalizers` without `kubernetes`, written through the finalize subresource."""
    spec = dict(ns.get("spec") or {})
    finalizers = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
    if finalizers == list(spec.get("finalizers") or []):
        return None
    spec["finalizers"] = finalizers
    return Update(NAMESPACES, None, meta(ns)["name"], {**ns, "spec": spec}, subresource="finalize")


def rfc3339(now: datetime) -> str:
    """metav1.Time's wire form (UTC, seconds)."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_name(res: Resource) -> str:
    return f"{res.plural}.{res.group}"


def _aggregate(errs: Sequence[str]) -> str:
    """apimachinery's utilerrors.NewAggregate formatting."""
    return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
