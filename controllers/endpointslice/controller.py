"""The EndpointSlice controller's thin adapter (kube's endpointslice_controller.go handlers, syncService and the
reconciler's finalize) on the shared machinery: Services, pods, nodes and EndpointSlices informers, a tracker that
keeps a lagging cache from creating duplicate slices, writes in the core's order stopping at the first failure,
and the FailedToUpdateEndpointSlices event. Decisions live in `reconcile`."""

from __future__ import annotations

import logging
from typing import Any

from controllers.endpoints import podutil, triggertime
from controllers.endpoints.controller import services_selecting
from controllers.endpointslice import reconcile as core
from controllers.endpointslice.tracker import SliceTracker
from controllers.machinery.actions import Create, Delete, Event, Update
from controllers.machinery.client import APIError, error_text, has_status_cause
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute, perform
from controllers.machinery.resources import ENDPOINTSLICES, NODES, PODS, SERVICES
from controllers.podcontrol import meta

log = logging.getLogger(__name__)
Object = dict[str, Any]
COMPONENT = "endpoint-slice-controller"


def service_key_of_slice(slice_obj: Object) -> str | None:
    """The Service a slice we manage belongs to ("namespace/name"), from its service-name label."""
    labels = meta(slice_obj).get("labels") or {}
    name = labels.get(core.LABEL_SERVICE_NAME)
    if not name or labels.get(core.LABEL_MANAGED_BY) != core.CONTROLLER_NAME:
        return None
    return f"{meta(slice_obj).get('namespace')}/{name}"


class EndpointSliceController(Controller):
    name = "endpointslice"
    resources = (SERVICES, PODS, NODES, ENDPOINTSLICES)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services = self.watch(SERVICES)
        self.pods = ctx.informer(PODS)
        self.nodes = ctx.informer(NODES)
        self.slices = ctx.informer(ENDPOINTSLICES)
        self.recorder = ctx.recorder(COMPONENT)
        self.max_per_slice = int(getattr(ctx.options, "max_endpoints_per_slice", core.MAX_ENDPOINTS_PER_SLICE))
        self.tracker = SliceTracker()
        self.triggers: dict[str, triggertime.TriggerState] = {}
        self.hinted: set[str] = set()  # Services whose slices carry topology-mode hints (kube's topology cache)
        self.nodes.add_handlers(self._nodes_changed, lambda old, new: self._nodes_changed(new), self._nodes_changed)
        self.pods.add_handlers(self._pod_changed, lambda old, new: self._pod_changed(old, new), self._pod_changed)
        self.slices.add_handlers(self._slice_changed, lambda old, new: self._slice_changed(new),
                                 self._slice_deleted)

    def _pod_changed(self, pod: Object, new: Object | None = None) -> None:
        services = self.services.store.by_index("namespace", str(meta(pod).get("namespace")))
        keys = {self.key_of(s) for s in services_selecting(services, pod)}
        if new is not None:
            keys |= {self.key_of(s) for s in services_selecting(services, new)}
        for key in keys:
            self.enqueue_key(key)

    def _nodes_changed(self, node: Object) -> None:
        """The zones' CPU moved: Services with topology hints are allocated again."""
        for key in sorted(self.hinted):
            self.enqueue_key(key)

    def _slice_changed(self, slice_obj: Object) -> None:
        key = service_key_of_slice(slice_obj)
        if key is not None:
            self.enqueue_key(key)

    def _slice_deleted(self, slice_obj: Object) -> None:
        key = service_key_of_slice(slice_obj)
        if key is not None:
            self.tracker.observed_deletion(key, str(meta(slice_obj).get("name")))
            self.enqueue_key(key)

    async def sync(self, key: str) -> None:
        ns, _ = self.split_key(key)
        namespace = ns or ""
        service = self.services.store.get(key)
        if service is None:
            # its slices go with it through their ownerReference (the garbage collector)
            self.triggers.pop(key, None)
            self.tracker.forget(key)
            self.hinted.discard(key)
            return
        if service.get("spec", {}).get("type") == "ExternalName" or podutil.service_selector(service) is None:
            return
        slices = self.slices.store.by_index("namespace", namespace)
        if self.tracker.stale(key, core.managed_slices(service, slices)):
            raise RuntimeError("EndpointSlice informer cache is out of date")
        pods = self.pods.store.by_index("namespace", namespace)
        trigger, self.triggers[key] = triggertime.compute(service, podutil.selected_pods(service, pods),
                                                          self.triggers.get(key))
        nodes = {str(meta(n).get("name")): n for n in self.nodes.store.list()}
        result = core.reconcile(service, pods, nodes, slices, trigger, self.max_per_slice, key in self.hinted)
        if result.hints_populated:
            self.hinted.add(key)
        else:
            self.hinted.discard(key)
        errors = list(result.errors)
        failure = await self._write(key, service, result.actions)
        if result.events:
            await execute(self.ctx.client, result.events, self.recorder)
        if failure == "namespace terminating":
            return
        if failure:
            errors.append(failure)
        if not errors:
            return
        message = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        await execute(self.ctx.client, [Event(service, "Warning", "FailedToUpdateEndpointSlices",
                                               f"Error updating Endpoint Slices for Service {key}: {message}")],
                      self.recorder)
        raise RuntimeError(message)

    async def _write(self, key: str, service: Object, actions: list[Any]) -> str | None:
        """Perform the writes in order; the first failure stops them and is returned as kube words it."""
        for action in actions:
            outcome = await perform(self.ctx.client, action, None)
            e = outcome.error
            if isinstance(action, Create):
                if e is None:
                    self.tracker.written(key, outcome.object or {})
                    continue
                if has_status_cause(e, "NamespaceTerminating"):
                    return "namespace terminating"
                return f"failed to create EndpointSlice for Service {key}: {error_text(e)}"
            if isinstance(action, Update):
                if e is None:
                    self.tracker.written(key, outcome.object or {})
                    continue
                return f"failed to update {action.name} EndpointSlice for Service {key}: {error_text(e)}"
            if isinstance(action, Delete):
                if e is None or (isinstance(e, APIError) and e.not_found):
                    self.tracker.deleting(key, action.name)
                    continue
                return f"failed to delete {action.name} EndpointSlice for Service {key}: {error_text(e)}"
        return None


def new_controller(ctx: ControllerContext) -> EndpointSliceController:
    return EndpointSliceController(ctx)
