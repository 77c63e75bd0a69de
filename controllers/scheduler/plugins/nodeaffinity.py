"""NodeAffinity: spec.nodeSelector and requiredDuringScheduling node affinity filter (terms ORed, expressions
ANDed, matchFields on metadata.name); preferredDuringScheduling terms add their weights to the score."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controllers.scheduler.framework import (
    SKIP,
    Code,
    CycleState,
    Plugin,
    Status,
    default_normalize,
    unresolvable,
)
from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.podinfo import PodInfo

Object = dict[str, Any]
REASON = "node(s) didn't match Pod's node affinity/selector"
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


class AffinityError(ValueError):
    pass


def check_requirement(req: Object, path: str) -> None:
    op = req.get("operator")
    values = req.get("values") or []
    if op not in OPERATORS:
        raise AffinityError(f'{path}.operator: Unsupported value: "{op}": supported values: "DoesNotExist", '
                            '"Exists", "Gt", "In", "Lt", "NotIn"')
    if op in ("In", "NotIn") and not values:
        raise AffinityError(f"{path}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'")
    if op in ("Exists", "DoesNotExist") and values:
        raise AffinityError(f"{path}.values: Forbidden: may not be specified when `operator` is 'Exists' or "
                            "'DoesNotExist'")
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            raise AffinityError(f"{path}.values: Required value: must be specified single value when `operator` "
                                "is 'Lt' or 'Gt'")
        try:
            int(values[0])
        except ValueError:
            raise AffinityError(f"{path}.values[0]: Invalid value: \"{values[0]}\": must be an integer") from None


def requirement_matches(req: Object, labels: Mapping[str, str]) -> bool:
    key, op, values = req.get("key") or "", req.get("operator"), req.get("values") or []
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if not present:
        return False
    try:
        have = int(labels[key])
    except ValueError:
        return False
    return have > int(values[0]) if op == "Gt" else have < int(values[0])


def term_matches(term: Object, node: NodeInfo) -> bool:
    """A NodeSelectorTerm: every expression and field requirement holds; an empty term matches nothing."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if not all(requirement_matches(r, node.labels) for r in exprs):
        return False
    return all(requirement_matches(r, {"metadata.name": node.name}) for r in fields)


def validate(pod: PodInfo) -> None:
    base = "spec.affinity.nodeAffinity"
    required = (pod.node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for i, term in enumerate(required.get("nodeSelectorTerms") or []):
        for kind in ("matchExpressions", "matchFields"):
            for j, r in enumerate(term.get(kind) or []):
                check_requirement(r, f"{base}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{i}]"
                                     f".{kind}[{j}]")
    for i, pref in enumerate(pod.node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        for kind in ("matchExpressions", "matchFields"):
            for j, r in enumerate((pref.get("preference") or {}).get(kind) or []):
                check_requirement(r, f"{base}.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference"
                                     f".{kind}[{j}]")


def required_matches(pod: PodInfo, node: NodeInfo) -> bool:
    """GetRequiredNodeAffinity(pod).Match(node): nodeSelector and the required terms."""
    labels = node.labels
    for k, v in pod.node_selector.items():
        if labels.get(k) != v:
            return False
    required = pod.node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        return any(term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])
    return True


class NodeAffinity(Plugin):
    name = "NodeAffinity"
    filters = True
    scores = True

    def pre_filter(self, pod: PodInfo, snap: Snapshot, state: CycleState) -> Status | None:
        if not pod.node_selector and not pod.node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"):
            if pod.node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"):
                try:
                    validate(pod)
                except AffinityError as e:
                    return Status(Code.ERROR, (str(e),))
            return SKIP
        try:
            validate(pod)
        except AffinityError as e:
            return Status(Code.ERROR, (str(e),))
        return None

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        return None if required_matches(pod, node) else unresolvable(REASON)

    def pre_score(self, pod: PodInfo, nodes: list[NodeInfo], snap: Snapshot, state: CycleState) -> Status | None:
        return None if pod.node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") else SKIP

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        total = 0
        for pref in pod.node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            if pref.get("weight") and term_matches(pref.get("preference") or {}, node):
                total += int(pref["weight"])
        return total

    def normalize(self, scores: list[int], state: CycleState) -> None:
        default_normalize(scores)
