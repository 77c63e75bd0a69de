"""ServiceAccount: every pod runs as a service account (``default`` unless named), which must exist, and gets the
projected ``kube-api-access-<suffix>`` token volume mounted in every container unless automount is off.

The random volume-name suffix comes from an injected ``suffix`` callable (kube-apiserver uses 5 random chars)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver.admission.types import Attributes, Operation, Plugin, State, forbidden

Obj = dict[str, Any]
DEFAULT_SA = "default"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_EXPIRATION_SECONDS = 3607
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


def projected_volume(name: str) -> Obj:
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}


class ServiceAccount(Plugin):
    name = "ServiceAccount"
    operations = frozenset({Operation.CREATE})
    mutating = True
    validating = True

    def __init__(self, state: State, suffix: Callable[[], str] = lambda: "abcde") -> None:
        super().__init__(state)
        self.suffix = suffix

    def _applies(self, attrs: Attributes) -> bool:
        if not attrs.is_core("pods") or attrs.object is None:
            return False
        return MIRROR_POD_ANNOTATION not in ((attrs.object.get("metadata") or {}).get("annotations") or {})

    def admit(self, attrs: Attributes) -> None:
        if not self._applies(attrs):
            return
        pod = attrs.object or {}
        spec = pod.setdefault("spec", {})
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = DEFAULT_SA
        sa = self._lookup(attrs, spec["serviceAccountName"])
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = sa.get("automountServiceAccountToken", True)
        if not automount:
            return
        volumes = spec.setdefault("volumes", [])
        existing = next((v["name"] for v in volumes if v.get("name", "").startswith(VOLUME_PREFIX)), None)
        vol_name = existing or VOLUME_PREFIX + self.suffix()
        if existing is None:
            volumes.append(projected_volume(vol_name))
        for key in ("initContainers", "containers"):
            for c in spec.get(key) or []:
                mounts = c.setdefault("volumeMounts", [])
                if not any(m.get("mountPath") == MOUNT_PATH for m in mounts):
                    mounts.append({"name": vol_name, "readOnly": True, "mountPath": MOUNT_PATH})

    def validate(self, attrs: Attributes) -> None:
        if not self._applies(attrs):
            return
        spec = (attrs.object or {}).get("spec") or {}
        self._lookup(attrs, spec.get("serviceAccountName") or DEFAULT_SA)

    def _lookup(self, attrs: Attributes, name: str) -> Obj:
        sa = self.state.get("serviceaccounts", attrs.namespace, name)
        if sa is None:
            raise forbidden(attrs, f"error looking up service account {attrs.namespace}/{name}: "
                                   f'serviceaccount "{name}" not found')
        return sa
