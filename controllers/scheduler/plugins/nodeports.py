"""NodePorts: a hostPort is taken on a node when a pod there uses the same protocol and port on the same host IP,
or either side listens on 0.0.0.0."""

from __future__ import annotations

from controllers.scheduler.framework import SKIP, CycleState, Plugin, Status, unschedulable
from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.podinfo import PodInfo

REASON = "node(s) didn't have free ports for the requested pod ports"
ANY = "0.0.0.0"


def conflicts(pod: PodInfo, node: NodeInfo) -> bool:
    for ip, proto, port in pod.ports:
        used = node.used_ports.get((proto, port))
        if used and (ip == ANY or ANY in used or ip in used):
            return True
    return False


class NodePorts(Plugin):
    name = "NodePorts"
    filters = True

    def pre_filter(self, pod: PodInfo, snap: Snapshot, state: CycleState) -> Status | None:
        return None if pod.ports else SKIP

    def filter(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
        return unschedulable(REASON) if conflicts(pod, node) else None
