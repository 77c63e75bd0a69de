"""The root-ca-cert-publisher's decision, pure: every namespace holds a `kube-root-ca.crt` ConfigMap whose `ca.crt`
is the cluster's CA bundle (what pods use to trust the API server through kubernetes.default.svc), put back when
it is deleted and rewritten when its data or its description annotation is edited.

As kube-controller-manager 1.32 (pkg/controller/certificates/rootcacertpublisher): `data` must be exactly
{"ca.crt": bundle} (an added key is removed), the `kubernetes.io/description` annotation must be non-empty (set to
Kubernetes' text when missing or empty); other labels and annotations are the user's and are kept.
"""

from __future__ import annotations

import copy
from typing import Any

from controllers.machinery.actions import Action, Create, Update
from controllers.machinery.resources import CONFIGMAPS

Obj = dict[str, Any]
CONFIGMAP_NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. "
               "No other usage is guaranteed across distributions of Kubernetes clusters.")


def reconcile(namespace: str, current: Obj | None, root_ca: str) -> list[Action]:
    """The write (if any) that makes `namespace`'s kube-root-ca.crt (`current`, None when missing) publish
    `root_ca` (the PEM bundle of --root-ca-file)."""
    data = {"ca.crt": root_ca}
    if current is None:
        return [Create(CONFIGMAPS, namespace, {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP_NAME, "namespace": namespace,
                         "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
            "data": data})]
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if (current.get("data") or {}) == data and annotations.get(DESCRIPTION_ANNOTATION):
        return []
    body = copy.deepcopy(current)
    body.setdefault("apiVersion", "v1")
    body.setdefault("kind", "ConfigMap")
    body["data"] = data
    body["metadata"]["annotations"] = {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}
    return [Update(CONFIGMAPS, namespace, CONFIGMAP_NAME, body)]
