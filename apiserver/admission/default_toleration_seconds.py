"""DefaultTolerationSeconds: pods tolerate not-ready/unreachable nodes for 300 s before eviction, unless they say
otherwise."""

from __future__ import annotations

from apiserver.admission.types import Attributes, Operation, Plugin

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_SECONDS = 300


class DefaultTolerationSeconds(Plugin):
    name = "DefaultTolerationSeconds"
    operations = frozenset({Operation.CREATE})
    mutating = True

    def __init__(self, state: object, not_ready_seconds: int = DEFAULT_SECONDS,
                 unreachable_seconds: int = DEFAULT_SECONDS) -> None:
        super().__init__(state)  # type: ignore[arg-type]
        self.seconds = {NOT_READY_TAINT: not_ready_seconds, UNREACHABLE_TAINT: unreachable_seconds}

    def admit(self, attrs: Attributes) -> None:
        if not attrs.is_core("pods") or attrs.object is None:
            return
        spec = attrs.object.setdefault("spec", {})
        tolerations = spec.get("tolerations") or []
        for key in (NOT_READY_TAINT, UNREACHABLE_TAINT):
            covered = any((t.get("key") == key or (not t.get("key") and t.get("operator") == "Exists"))
                          and t.get("effect", "") in ("", "NoExecute") for t in tolerations)
            if not covered:
                tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": self.seconds[key]})
        spec["tolerations"] = tolerations
