"""The scheduler cache, pure: nodes and the pods counted on them, including *assumed* pods — a pod counts on its
node from the moment it is chosen (assume), before its binding lands; the informer's view of the bound pod then
confirms it, a failed bind forgets it, and an assumption never confirmed expires after `assumed_ttl` seconds once
its binding finished. `snapshot()` gives a cycle's view; cycles run without yielding to the event loop, so the
NodeInfos it lists do not change under a cycle (preemption's what-ifs work on clones)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controllers.scheduler.nodeinfo import NodeInfo, Snapshot
from controllers.scheduler.podinfo import PodInfo

Object = dict[str, Any]
ASSUMED_TTL_S = 30.0


@dataclass
class _PodState:
    info: PodInfo
    node: str
    assumed: bool = False
    deadline: float | None = None  # set when the binding finished (assumed pods only)


class CacheError(Exception):
    pass


class Cache:
    def __init__(self, assumed_ttl: float = ASSUMED_TTL_S) -> None:
        self.assumed_ttl = assumed_ttl
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[str, _PodState] = {}  # by uid
        self._snapshot: Snapshot | None = None
        self._pvcs: Mapping[str, Object] = {}
        self._namespaces: Mapping[str, Mapping[str, str]] = {}
        # controller uid -> node name -> its live pods there (system default spreading counts only these nodes)
        self.owner_nodes: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------- nodes
    def add_node(self, node: Object) -> None:
        name = (node.get("metadata") or {}).get("name") or ""
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo.from_node(node)
            for st in self.pods.values():
                if st.node == name:
                    info.add_pod(st.info)
            self._snapshot = None
            return
        images = info.images
        info.set_node(node)
        if info.images != images:  # the snapshot lists live NodeInfos: only the image spread must be recounted
            self._snapshot = None

    update_node = add_node

    def remove_node(self, name: str) -> None:
        """The node is gone; its pods stay known (they leave when their deletes arrive) but no longer count."""
        if self.nodes.pop(name, None) is not None:
            self._snapshot = None

    # ------------------------------------------------------------- pods
    def _place(self, info: PodInfo, node: str) -> None:
        n = self.nodes.get(node)
        if n is not None:
            n.add_pod(info)
        if info.spread_owner and not info.terminating:
            where = self.owner_nodes.setdefault(info.spread_owner, {})
            where[node] = where.get(node, 0) + 1

    def _unplace(self, info: PodInfo, node: str) -> None:
        n = self.nodes.get(node)
        if n is not None:
            n.remove_pod(info.uid)
        if info.spread_owner and not info.terminating:
            where = self.owner_nodes.get(info.spread_owner, {})
            left = where.get(node, 0) - 1
            if left > 0:
                where[node] = left
            else:
                where.pop(node, None)
                if not where:
                    self.owner_nodes.pop(info.spread_owner, None)

    def assume(self, info: PodInfo, node: str) -> None:
        if info.uid in self.pods:
            raise CacheError(f"pod {info.key}({info.uid}) is in the cache, so can't be assumed")
        self.pods[info.uid] = _PodState(info, node, assumed=True)
        self._place(info, node)

    def finish_binding(self, uid: str, now: float) -> None:
        st = self.pods.get(uid)
        if st is not None and st.assumed:
            st.deadline = now + self.assumed_ttl

    def forget(self, uid: str) -> None:
        st = self.pods.get(uid)
        if st is not None and st.assumed:
            self._unplace(st.info, st.node)
            del self.pods[uid]

    def is_assumed(self, uid: str) -> bool:
        st = self.pods.get(uid)
        return st is not None and st.assumed

    def add_pod(self, info: PodInfo) -> None:
        """A bound pod from the informer: confirms an assumption (on the node the API server says), or is new."""
        st = self.pods.get(info.uid)
        if st is not None:
            self._unplace(st.info, st.node)
        self.pods[info.uid] = _PodState(info, info.node_name)
        self._place(info, info.node_name)

    update_pod = add_pod

    def remove_pod(self, uid: str) -> None:
        st = self.pods.pop(uid, None)
        if st is not None:
            self._unplace(st.info, st.node)

    def cleanup_expired(self, now: float) -> list[str]:
        expired = [uid for uid, st in self.pods.items()
                   if st.assumed and st.deadline is not None and st.deadline < now]
        for uid in expired:
            self.forget(uid)
        return expired

    def node_of(self, uid: str) -> str | None:
        st = self.pods.get(uid)
        return st.node if st is not None else None

    # ------------------------------------------------------------- snapshot
    def set_pvcs(self, pvcs: Mapping[str, Object]) -> None:
        self._pvcs = pvcs

    def set_namespaces(self, labels: Mapping[str, Mapping[str, str]]) -> None:
        """Namespace name -> labels (what pod affinity namespaceSelectors match)."""
        self._namespaces = labels

    def snapshot(self) -> Snapshot:
        """The nodes in a stable order (by name) with the cluster-wide image counts; rebuilt only when the node
        set or a node's images changed."""
        if self._snapshot is None:
            self._snapshot = Snapshot.of([self.nodes[n] for n in sorted(self.nodes)], self._pvcs)
        self._snapshot.pvcs = self._pvcs
        self._snapshot.namespace_labels = self._namespaces
        self._snapshot.owner_nodes = self.owner_nodes
        return self._snapshot
