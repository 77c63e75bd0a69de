"""v1helper.TolerationsTolerateTaint: the toleration matching every taint-aware plugin shares."""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]


def tolerates(toleration: Object, taint: Object) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    op = toleration.get("operator") or "Equal"
    if not key:
        return op == "Exists"
    if key != taint.get("key"):
        return False
    if op == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated(tolerations: list[Object], taint: Object) -> bool:
    return any(tolerates(t, taint) for t in tolerations)
