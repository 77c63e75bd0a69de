"""The Endpoints controller's thin adapter (kube's endpoints_controller.go handlers and syncService) on the shared
machinery: Services, pods and Endpoints informers; a pod event enqueues every Service that selects the pod before
or after the change; the sync hands the core's one write to the executor. Decisions live in `reconcile`."""

from __future__ import annotations

import logging
from typing import Any

from controllers.endpoints import podutil, triggertime
from controllers.endpoints import reconcile as core
from controllers.machinery.actions import Create, Delete, Event
from controllers.machinery.client import APIError, error_text, has_status_cause
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute
from controllers.machinery.resources import ENDPOINTS, PODS, SERVICES
from controllers.podcontrol import meta

log = logging.getLogger(__name__)
Object = dict[str, Any]
COMPONENT = "endpoint-controller"


def services_selecting(services: list[Object], pod: Object) -> list[Object]:
    """The Services of the pod's namespace whose selector picks it (GetPodServiceMemberships)."""
    found = []
    for svc in services:
        selector = podutil.service_selector(svc)
        if selector is not None and podutil.selects(selector, pod):
            found.append(svc)
    return found


class EndpointsController(Controller):
    name = "endpoint"
    resources = (SERVICES, PODS, ENDPOINTS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services = self.watch(SERVICES)
        self.pods = ctx.informer(PODS)
        self.endpoints = ctx.informer(ENDPOINTS)
        self.recorder = ctx.recorder(COMPONENT)
        self.triggers: dict[str, triggertime.TriggerState] = {}
        self.stale: dict[str, str] = {}  # key -> the resourceVersion our last update replaced
        self.created: set[str] = set()  # keys we created Endpoints for that the cache has not shown yet
        self.pods.add_handlers(self._pod_changed, lambda old, new: self._pod_changed(old, new), self._pod_changed)
        self.endpoints.add_handlers(on_delete=self._endpoints_deleted)

    def _endpoints_deleted(self, ep: Object) -> None:
        key = self.key_of(ep)
        self.created.discard(key)
        self.enqueue_key(key)

    def _pod_changed(self, pod: Object, new: Object | None = None) -> None:
        ns = str(meta(pod).get("namespace"))
        services = self.services.store.by_index("namespace", ns)
        keys = {self.key_of(s) for s in services_selecting(services, pod)}
        if new is not None:
            keys |= {self.key_of(s) for s in services_selecting(services, new)}
        for key in keys:
            self.enqueue_key(key)

    async def wait_for_sync(self) -> None:
        await super().wait_for_sync()
        # checkLeftoverEndpoints: Endpoints whose Service went away while no controller ran
        for ep in self.endpoints.store.list():
            if core.LEADER_ANNOTATION not in (meta(ep).get("annotations") or {}):
                self.enqueue(ep)

    async def sync(self, key: str) -> None:
        ns, name = self.split_key(key)
        namespace = ns or ""
        service = self.services.store.get(key)
        current = self.endpoints.store.get(key)
        if current is not None:
            self.created.discard(key)
        if service is None:
            self.triggers.pop(key, None)
            self.stale.pop(key, None)
        elif current is not None and self.stale.get(key) == meta(current).get("resourceVersion"):
            raise RuntimeError(f"endpoints informer cache is out of date, resource version "
                               f"{meta(current).get('resourceVersion')} already processed for endpoints {key}")
        elif current is None and key in self.created:
            # our create has not reached the cache yet: creating again would only earn an AlreadyExists
            raise RuntimeError(f"endpoints informer cache is out of date, endpoints {key} created but not seen")
        pods = self.pods.store.by_index("namespace", namespace)
        trigger = None
        if service is not None:
            trigger, self.triggers[key] = triggertime.compute(service, podutil.selected_pods(service, pods),
                                                              self.triggers.get(key))
        actions = core.reconcile(namespace, name, service, pods, current, trigger)
        if not actions:
            return
        [outcome] = await execute(self.ctx.client, actions)
        e = outcome.error
        if e is None:
            if isinstance(outcome.action, Create):
                self.created.add(key)
            if current is not None and outcome.object is not None and \
                    meta(outcome.object).get("resourceVersion") != meta(current).get("resourceVersion"):
                self.stale[key] = str(meta(current).get("resourceVersion"))
            return
        if isinstance(outcome.action, Delete):
            if isinstance(e, APIError) and e.not_found:
                return
            raise e
        creating = isinstance(outcome.action, Create)
        if creating and has_status_cause(e, "NamespaceTerminating"):
            return  # creates keep failing in a terminating namespace: drop the key
        body = getattr(outcome.action, "body", {})
        if creating:
            event = Event(body, "Warning", "FailedToCreateEndpoint",
                          f"Failed to create endpoint for service {namespace}/{name}: {error_text(e)}")
        else:
            event = Event(body, "Warning", "FailedToUpdateEndpoint",
                          f"Failed to update endpoint {namespace}/{name}: {error_text(e)}")
        await execute(self.ctx.client, [event], self.recorder)
        raise e


def new_controller(ctx: ControllerContext) -> EndpointsController:
    return EndpointsController(ctx)
