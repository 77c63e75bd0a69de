"""Label selectors as apimachinery's `labels.Selector`: metav1.LabelSelector (matchLabels + matchExpressions) and
the plain map selectors of ReplicationControllers and Services.

Two edge cases matter and follow `metav1.LabelSelectorAsSelector`: a missing (None) LabelSelector selects nothing,
an empty one ({}) selects everything. A map selector that is empty selects everything (`SelectorFromSet`); callers
that must select nothing for an empty map (Services) check that themselves, as kube does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A LabelSelector the API server should not have accepted (unknown operator, values where none belong)."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        return not present

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return "!" + self.key
        if self.operator == "In" and len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        op = "in" if self.operator == "In" else "notin"
        return f"{self.key} {op} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; `nothing` is the selector of a missing LabelSelector."""
    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        """Selects everything (labels.Selector.Empty)."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        """The `labelSelector` query parameter form (sorted by key, as apimachinery prints it)."""
        return ",".join(str(r) for r in sorted(self.requirements, key=lambda r: (r.key, r.operator)))


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


def from_label_selector(selector: Mapping[str, Any] | None) -> Selector:
    """metav1.LabelSelectorAsSelector."""
    if selector is None:
        return NOTHING
    reqs: list[Requirement] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        reqs.append(Requirement(key, "In", (str(value),)))
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        values = tuple(expr.get("values") or ())
        if op not in OPERATORS:
            raise SelectorError(f"{op!r} is not a valid label selector operator")
        if op in ("In", "NotIn") and not values:
            raise SelectorError(f"for 'in', 'notin' operators, values set can't be empty (key {expr.get('key')})")
        if op in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"values set must be empty for exists and does not exist (key {expr.get('key')})")
        reqs.append(Requirement(str(expr.get("key")), op, values))
    return Selector(tuple(reqs))


def from_set(labels: Mapping[str, str] | None) -> Selector:
    """labels.SelectorFromSet: every pair must match; an empty map selects everything."""
    return Selector(tuple(Requirement(k, "In", (str(v),)) for k, v in sorted((labels or {}).items())))


def matches(selector: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> bool:
    """Whether the LabelSelector `selector` selects `obj` (a Kubernetes object dict)."""
    return from_label_selector(selector).matches((obj.get("metadata") or {}).get("labels") or {})
