"""ImageLocality: prefer nodes that already have the pod's images, by size, scaled down for images only a few nodes
have (kube's spread factor), between 23 MB and 1000 MB per container."""

from __future__ import annotations

from controllers.scheduler.framework import MAX_NODE_SCORE, SKIP, CycleState, Plugin, Status
from controllers.scheduler.nodeinfo import NodeInfo, Snapshot, normalized_image_name
from controllers.scheduler.podinfo import PodInfo

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


class ImageLocality(Plugin):
    name = "ImageLocality"
    scores = True

    def pre_score(self, pod: PodInfo, nodes: list[NodeInfo], snap: Snapshot, state: CycleState) -> Status | None:
        if not snap.image_nodes or not pod.images:
            return SKIP
        state["image_locality"] = ([normalized_image_name(i) for i in pod.images], len(snap.nodes),
                                   snap.image_nodes)
        return None

    def score(self, pod: PodInfo, node: NodeInfo, state: CycleState) -> int:
        images, total_nodes, spread = state["image_locality"]
        total = 0
        for img in images:
            size = node.images.get(img)
            if size is not None:
                total += int(size * (spread.get(img, 0) / total_nodes))
        max_threshold = MAX_CONTAINER_THRESHOLD * len(images)
        if total < MIN_THRESHOLD:
            total = MIN_THRESHOLD
        elif total > max_threshold:
            total = max_threshold
        return MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)
