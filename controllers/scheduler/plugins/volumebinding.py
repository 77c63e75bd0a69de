"""VolumeBinding, minimal: every PersistentVolumeClaim the pod mounts must exist, not be terminating, and be
bound (no StorageClasses or PersistentVolumes are served here, so an unbound claim is an immediate one that only
the PV controller could bind)."""

from __future__ import annotations

from controllers.scheduler.framework import SKIP, CycleState, Plugin, Status, unresolvable
from controllers.scheduler.nodeinfo import Snapshot
from controllers.scheduler.podinfo import PodInfo

UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"


class VolumeBinding(Plugin):
    name = "VolumeBinding"

    def pre_filter(self, pod: PodInfo, snap: Snapshot, state: CycleState) -> Status | None:
        if not pod.pvcs:
            return SKIP
        unbound = False
        for claim in pod.pvcs:
            pvc = snap.pvcs.get(f"{pod.namespace}/{claim}")
            if pvc is None:
                return unresolvable(f'persistentvolumeclaim "{claim}" not found')
            if (pvc.get("metadata") or {}).get("deletionTimestamp"):
                return unresolvable(f'persistentvolumeclaim "{claim}" is being deleted')
            if not (pvc.get("spec") or {}).get("volumeName") and (pvc.get("status") or {}).get("phase") != "Bound":
                unbound = True
        if unbound:
            return unresolvable(UNBOUND_IMMEDIATE)
        return SKIP
