"""The admission chain: all mutating plugins in order, then (after schema validation, done by the registry) all
validating plugins in the same order. The first error stops the chain, as in kube-apiserver."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from apiserver.admission.types import Attributes, Plugin, State

# kube-apiserver's AllOrderedPlugins, restricted to what exists here; webhooks and ResourceQuota come last.
ORDERED_PLUGINS = ("AlwaysAdmit", "NamespaceLifecycle", "LimitRanger", "ServiceAccount", "NodeRestriction",
                   "PodSecurity", "AlwaysPullImages", "Priority", "DefaultTolerationSeconds", "MutatingAdmissionWebhook",
                   "ValidatingAdmissionWebhook", "ResourceQuota", "AlwaysDeny")
DEFAULT_PLUGINS = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "Priority", "DefaultTolerationSeconds",
                   "PodSecurity", "MutatingAdmissionWebhook", "ValidatingAdmissionWebhook", "ResourceQuota")


class Chain:
    def __init__(self, plugins: Sequence[Plugin]) -> None:
        self.plugins = list(plugins)

    def admit(self, attrs: Attributes) -> None:
        for plugin in self.plugins:
            if plugin.mutating and plugin.handles(attrs.operation):
                plugin.admit(attrs)

    def validate(self, attrs: Attributes) -> None:
        for plugin in self.plugins:
            if plugin.validating and plugin.handles(attrs.operation):
                plugin.validate(attrs)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.plugins]


def registry() -> dict[str, Callable[[State], Plugin]]:
    from apiserver.admission.always import AlwaysAdmit, AlwaysDeny
    from apiserver.admission.always_pull_images import AlwaysPullImages
    from apiserver.admission.default_toleration_seconds import DefaultTolerationSeconds
    from apiserver.admission.limit_ranger import LimitRanger
    from apiserver.admission.namespace_lifecycle import NamespaceLifecycle
    from apiserver.admission.node_restriction import NodeRestriction
    from apiserver.admission.pod_security import PodSecurity
    from apiserver.admission.priority import Priority
    from apiserver.admission.resource_quota import ResourceQuota
    from apiserver.admission.service_account import ServiceAccount

    return {"AlwaysAdmit": AlwaysAdmit, "AlwaysDeny": AlwaysDeny, "NamespaceLifecycle": NamespaceLifecycle,
            "LimitRanger": LimitRanger, "ServiceAccount": ServiceAccount, "NodeRestriction": NodeRestriction,
            "PodSecurity": PodSecurity, "AlwaysPullImages": AlwaysPullImages,
            "Priority": Priority, "DefaultTolerationSeconds": DefaultTolerationSeconds, "ResourceQuota": ResourceQuota}


def build_chain(enabled: Sequence[str], state: State, disabled: Sequence[str] = (),
                extra: dict[str, Callable[[State], Plugin]] | None = None) -> Chain:
    """``--enable-admission-plugins`` / ``--disable-admission-plugins``: the order is always ORDERED_PLUGINS,
    whatever order the flag lists. Webhook plugins need a transport, so they come in through ``extra``."""
    factories = {**registry(), **(extra or {})}
    wanted = (set(DEFAULT_PLUGINS) | set(enabled)) - set(disabled)
    for name in set(enabled) | set(disabled):
        if name not in ORDERED_PLUGINS:
            raise ValueError(f"unknown admission plugin {name!r}")
    plugins = [factories[name](state) for name in ORDERED_PLUGINS if name in wanted and name in factories]
    return Chain(plugins)
