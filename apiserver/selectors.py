"""Label and field selectors: parsing and matching, pure.

Label grammar (k8s.io/apimachinery/pkg/labels): comma means AND; `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
`k notin (a,b)`, `k` (exists), `!k` (does not exist). `!=` and `notin` also match when the key is absent.
Field grammar: `f=v`, `f==v`, `f!=v`, comma-joined; which fields exist is decided per resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from apiserver.errors import bad_request

MAX_SELECTOR_LENGTH = 4096
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # "!=" and "notin"


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise bad_request(f"unable to parse requirement: unbalanced ')' in {text!r}")
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise bad_request(f"unable to parse requirement: unbalanced '(' in {text!r}")
    out.append("".join(cur))
    return out


def _check_key(key: str) -> str:
    if not _KEY_RE.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if not _VALUE_RE.match(value):
        raise bad_request(f"unable to parse requirement: invalid label value {value!r}")
    return value


_SET_RE = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")


def parse_label_selector(text: str) -> LabelSelector:
    if len(text) > MAX_SELECTOR_LENGTH:
        raise bad_request(f"label selector longer than {MAX_SELECTOR_LENGTH} characters")
    if not text.strip():
        return LabelSelector()
    reqs: list[Requirement] = []
    for raw in _split_top_level(text):
        term = raw.strip()
        if not term:
            raise bad_request(f"unable to parse requirement: empty term in {text!r}")
        m = _SET_RE.match(term)
        if m:
            values = tuple(sorted(_check_value(v.strip()) for v in m.group(3).split(",")))
            reqs.append(Requirement(_check_key(m.group(1)), m.group(2), values))
            continue
        for op, norm in (("!=", "!="), ("==", "="), ("=", "=")):
            if op in term:
                key, value = term.split(op, 1)
                reqs.append(Requirement(_check_key(key.strip()), norm, (_check_value(value.strip()),)))
                break
        else:
            if term.startswith("!"):
                reqs.append(Requirement(_check_key(term[1:].strip()), "!"))
            else:
                reqs.append(Requirement(_check_key(term), "exists"))
    return LabelSelector(tuple(reqs))


def selector_from_spec(spec: Mapping[str, object] | None) -> LabelSelector:
    """A `metav1.LabelSelector` object (matchLabels + matchExpressions) as a LabelSelector."""
    if not spec:
        return LabelSelector()
    reqs: list[Requirement] = []
    for k, v in sorted(dict(spec.get("matchLabels") or {}).items()):  # type: ignore[call-overload]
        reqs.append(Requirement(k, "=", (str(v),)))
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in spec.get("matchExpressions") or []:  # type: ignore[attr-defined]
        op = ops.get(expr.get("operator"))
        if op is None:
            raise bad_request(f"invalid label selector operator {expr.get('operator')!r}")
        reqs.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
    return LabelSelector(tuple(reqs))


def format_selector(sel: LabelSelector) -> str:
    parts = []
    for r in sel.requirements:
        if r.op == "exists":
            parts.append(r.key)
        elif r.op == "!":
            parts.append("!" + r.key)
        elif r.op in ("=", "!="):
            parts.append(f"{r.key}{r.op}{r.values[0]}")
        else:
            parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
    return ",".join(parts)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negate: bool
    value: str


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all((fields.get(r.field, "") == r.value) != r.negate for r in self.requirements)

    def exact_name(self) -> str | None:
        for r in self.requirements:
            if r.field == "metadata.name" and not r.negate:
                return r.value
        return None


def parse_field_selector(text: str, supported: Callable[[str], bool]) -> FieldSelector:
    if len(text) > MAX_SELECTOR_LENGTH:
        raise bad_request(f"field selector longer than {MAX_SELECTOR_LENGTH} characters")
    if not text.strip():
        return FieldSelector()
    reqs = []
    for term in text.split(","):
        for op, neg in (("!=", True), ("==", False), ("=", False)):
            if op in term:
                f, v = term.split(op, 1)
                f = f.strip()
                if not supported(f):
                    raise bad_request(f'field label not supported: {f}')
                reqs.append(FieldRequirement(f, neg, v.strip()))
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
    return FieldSelector(tuple(reqs))
