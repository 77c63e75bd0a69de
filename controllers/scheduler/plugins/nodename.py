"""NodeName: a pod naming a node in spec.nodeName fits only there."""

from __future__ import annotations

from controllers.scheduler.framework import SKIP, CycleState, Plugin, Status, unresolvable
from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.podinfo import PodInfo

REASON = "node(s) didn't match the requested node name"


class NodeName(Plugin):
    name = "NodeName"
    filters = True

    def pre_filter(self, pod: PodInfo, snap: Snapshot, state: CycleState) -> Status | None:
        return None if pod.node_name else SKIP

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        if pod.node_name and pod.node_name != node.name:
            return unresolvable(REASON)
        return None
