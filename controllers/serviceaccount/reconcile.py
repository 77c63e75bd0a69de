"""The ServiceAccount controller's decision, pure: every active namespace has the ServiceAccounts it should (by
default one, `default`), recreated when deleted.

As kube-controller-manager 1.32 (pkg/controller/serviceaccount): a namespace that is gone or not Active (Terminating)
gets nothing — creates there would be refused anyway; an account that exists is left exactly as it is (its secrets,
labels, automount setting are the user's).
"""

from __future__ import annotations

from typing import Any

from controllers.machinery.actions import Action, Create
from controllers.machinery.resources import SERVICEACCOUNTS

Obj = dict[str, Any]
DEFAULT_SERVICE_ACCOUNTS = ("default",)


def reconcile(namespace: Obj | None, existing_names: set[str],
              wanted: tuple[str, ...] = DEFAULT_SERVICE_ACCOUNTS) -> list[Action]:
    """The creates namespace `namespace` (None: gone) needs, given the names of its ServiceAccounts."""
    if namespace is None or (namespace.get("status") or {}).get("phase") != "Active":
        return []
    ns = namespace["metadata"]["name"]
    return [Create(SERVICEACCOUNTS, ns, {"apiVersion": "v1", "kind": "ServiceAccount",
                                         "metadata": {"name": name, "namespace": ns}})
            for name in wanted if name not in existing_names]
