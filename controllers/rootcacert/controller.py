"""The root-ca-cert-publisher's thin adapter (kube's rootcacertpublisher/publisher.go): namespaces added (or
updated while Active) and changes or deletions of a `kube-root-ca.crt` ConfigMap enqueue the namespace; the sync
writes what the core says. The bundle is `--root-ca-file`, else the CA of the manager's kubeconfig, read once at
start as kube-controller-manager does."""

from __future__ import annotations

from typing import Any

from controllers.machinery.client import APIError, has_status_cause
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.executor import execute
from controllers.machinery.resources import CONFIGMAPS, NAMESPACES
from controllers.rootcacert import reconcile as core

Object = dict[str, Any]


def root_ca(ctx: ControllerContext) -> str:
    path = getattr(ctx.options, "root_ca_file", "")
    if path:
        with open(path) as f:
            bundle = f.read()
        if "-----BEGIN CERTIFICATE-----" not in bundle:
            raise ValueError(f"error parsing root-ca-file at {path}: data does not contain any valid RSA or ECDSA "
                             f"certificates")
        return bundle
    config = ctx.client.config
    if config.ca_data:
        return config.ca_data.decode()
    if config.ca_file:
        with open(config.ca_file) as f:
            return f.read()
    return ""


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"
    resources = (NAMESPACES, CONFIGMAPS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.root_ca = root_ca(ctx)
        self.namespaces = ctx.informer(NAMESPACES)
        self.configmaps = ctx.informer(CONFIGMAPS)
        self.namespaces.add_handlers(self.enqueue, self._namespace_updated)
        self.configmaps.add_handlers(None, lambda old, new: self._configmap_changed(new), self._configmap_changed)

    def _namespace_updated(self, old: Object, new: Object) -> None:
        if (new.get("status") or {}).get("phase") == "Active":
            self.enqueue(new)

    def _configmap_changed(self, cm: Object) -> None:
        md = cm.get("metadata") or {}
        if md.get("name") == core.CONFIGMAP_NAME and md.get("namespace"):
            self.enqueue_key(md["namespace"])

    async def sync(self, key: str) -> None:
        current = self.configmaps.store.get_by(key, core.CONFIGMAP_NAME)
        outcomes = await execute(self.ctx.client, core.reconcile(key, current, self.root_ca))
        e = outcomes[0].error if outcomes else None
        if e is None:
            return
        # a create in a namespace that is gone or terminating is not retried
        if current is None and ((isinstance(e, APIError) and e.not_found) or has_status_cause(e, "NamespaceTerminating")):
            return
        raise e


def new_controller(ctx: ControllerContext) -> RootCACertPublisher:
    return RootCACertPublisher(ctx)
