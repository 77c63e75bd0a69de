"""NodeUnschedulable: a cordoned node (spec.unschedulable) takes only pods tolerating
node.kubernetes.io/unschedulable:NoSchedule."""

from __future__ import annotations

from controllers.scheduler.framework import CycleState, Plugin, Status, unresolvable
from controllers.scheduler.nodeinfo import NodeInfo
from controllers.scheduler.plugins.tolerations import tolerated
from controllers.scheduler.podinfo import PodInfo

REASON = "node(s) were unschedulable"
TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable(Plugin):
    name = "NodeUnschedulable"
    filters = True

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        if node.unschedulable and not tolerated(pod.tolerations, TAINT):
            return unresolvable(REASON)
        return None
