"""TaintToleration: NoSchedule/NoExecute taints must be tolerated (the first untolerated one is the reason);
untolerated PreferNoSchedule taints lower the score."""

from __future__ import annotations

from controllers.scheduler.framework import CycleState, Plugin, Status, default_normalize, unresolvable
from controllers.scheduler.nodeinfo import NodeInfo
from controllers.scheduler.plugins.tolerations import tolerated
from controllers.scheduler.podinfo import PodInfo

FILTERED_EFFECTS = ("NoSchedule", "NoExecute")


def untolerated_reason(key: str, value: str) -> str:
    return f"node(s) had untolerated taint {{{key}: {value}}}"


class TaintToleration(Plugin):
    name = "TaintToleration"
    filters = True
    scores = True

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        for taint in node.taints:
            if taint.get("effect") in FILTERED_EFFECTS and not tolerated(pod.tolerations, taint):
                return unresolvable(untolerated_reason(taint.get("key") or "", taint.get("value") or ""))
        return None

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        if not node.taints:
            return 0
        prefer = [t for t in pod.tolerations if (t.get("effect") or "PreferNoSchedule") == "PreferNoSchedule"]
        return sum(1 for t in node.taints if t.get("effect") == "PreferNoSchedule" and not tolerated(prefer, t))

    def normalize(self, scores: list[int], state: CycleState) -> None:
        default_normalize(scores, reverse=True)
