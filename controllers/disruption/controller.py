"""The disruption controller's thin adapter (kube's disruption.go): a PodDisruptionBudget is synced when it changes,
when a pod it may select changes, when a workload in its namespace is rescaled, every 30 s, and when a disruptedPods
entry expires. The status is written with a PUT of /status carrying the cached resourceVersion (a conflict retries
on the next cache state). Decisions live in `reconcile`."""

from __future__ import annotations

from typing import Any

from controllers.disruption import reconcile as core
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute
from controllers.machinery.resources import (
    DEPLOYMENTS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    STATEFULSETS,
)

Object = dict[str, Any]
RESYNC_S = 30.0
COMPONENT = "controllermanager"  # the disruption controller's event source in kube-controller-manager


class DisruptionController(Controller):
    name = "disruption"
    resources = (core.PDBS, PODS, REPLICASETS, DEPLOYMENTS, REPLICATIONCONTROLLERS, STATEFULSETS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.pdbs = ctx.informer(core.PDBS)
        self.pods = ctx.informer(PODS)
        self.workloads: dict[str, Any] = {
            "ReplicaSet": ctx.informer(REPLICASETS), "Deployment": ctx.informer(DEPLOYMENTS),
            "ReplicationController": ctx.informer(REPLICATIONCONTROLLERS),
            "StatefulSet": ctx.informer(STATEFULSETS)}
        self.recorder = ctx.recorder(COMPONENT)
        self.pdbs.add_handlers(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue,
                               resync_period=RESYNC_S)
        self.pods.add_handlers(self._pod_changed, lambda old, new: self._pod_changed(new, old), self._pod_changed)
        for inf in self.workloads.values():
            inf.add_handlers(self._namespace_changed, lambda old, new: self._namespace_changed(new),
                             self._namespace_changed)

    def _pdbs_in(self, namespace: str) -> list[Object]:
        return list(self.pdbs.store.by_index("namespace", namespace))

    def _pod_changed(self, pod: Object, old: Object | None = None) -> None:
        md = pod.get("metadata") or {}
        for pdb in self._pdbs_in(md.get("namespace", "")):
            if core.pods_for_pdb(pdb, [pod]) or (old is not None and core.pods_for_pdb(pdb, [old])):
                self.enqueue(pdb)

    def _namespace_changed(self, obj: Object) -> None:
        for pdb in self._pdbs_in((obj.get("metadata") or {}).get("namespace", "")):
            self.enqueue(pdb)

    def _lookup(self, kind: str, namespace: str, name: str) -> Object | None:
        inf = self.workloads.get(kind)
        return inf.store.get_by(namespace, name) if inf is not None else None

    async def sync(self, key: str) -> None:
        pdb = self.pdbs.store.get(key)
        if pdb is None:
            return
        ns = (pdb.get("metadata") or {}).get("namespace", "")
        result = core.reconcile(pdb, list(self.pods.store.by_index("namespace", ns)), self._lookup, self.ctx.now())
        outcomes = await execute(self.ctx.client, result.actions, self.recorder)
        if result.recheck_after is not None:
            self.enqueue_after(key, result.recheck_after)
        errors = [o.error for o in outcomes if o.error is not None]
        if errors:
            raise errors[0]


def new_controller(ctx: ControllerContext) -> DisruptionController:
    return DisruptionController(ctx)
