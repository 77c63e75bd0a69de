"""The ServiceAccount controller's thin adapter (kube's serviceaccounts_controller.go): a namespace added or updated,
or a ServiceAccount deleted, enqueues the namespace; the sync creates what the core says is missing. Refusals because
the namespace is terminating, and creates that lost a race (AlreadyExists), are not failures."""

from __future__ import annotations

from typing import Any

from controllers.machinery.client import APIError, has_status_cause
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute
from controllers.machinery.resources import NAMESPACES, SERVICEACCOUNTS
from controllers.serviceaccount import reconcile as core

Object = dict[str, Any]


class ServiceAccountsController(Controller):
    name = "serviceaccount"
    resources = (NAMESPACES, SERVICEACCOUNTS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = ctx.informer(NAMESPACES)
        self.accounts = ctx.informer(SERVICEACCOUNTS)
        self.namespaces.add_handlers(self.enqueue, lambda old, new: self.enqueue(new))
        self.accounts.add_handlers(on_delete=self._account_deleted)

    def _account_deleted(self, sa: Object) -> None:
        ns = (sa.get("metadata") or {}).get("namespace")
        if ns:
            self.enqueue_key(ns)

    async def sync(self, key: str) -> None:
        namespace = self.namespaces.store.get(key)
        names = {str((sa.get("metadata") or {}).get("name")) for sa in self.accounts.store.by_index("namespace", key)}
        actions = core.reconcile(namespace, names)
        failures = [o.error for o in await execute(self.ctx.client, actions) if o.error is not None
                    and not (isinstance(o.error, APIError) and o.error.already_exists)
                    and not has_status_cause(o.error, "NamespaceTerminating")]
        if failures:
            raise failures[0] if len(failures) == 1 else RuntimeError("[" + ", ".join(map(str, failures)) + "]")


def new_controller(ctx: ControllerContext) -> ServiceAccountsController:
    return ServiceAccountsController(ctx)
