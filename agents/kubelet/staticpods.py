"""Static pods from --pod-manifest-path and their mirror pods (kubelet config/file.go + mirror pods; pure but for
`read_manifests`). A static pod is named `<name>-<node>`, its uid is a hash of the manifest, the node and the
source, and the API server sees it as a mirror pod carrying `kubernetes.io/config.mirror`, owned by the Node."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import yaml

Obj = dict[str, Any]
CONFIG_HASH = "kubernetes.io/config.hash"
CONFIG_MIRROR = "kubernetes.io/config.mirror"
CONFIG_SEEN = "kubernetes.io/config.seen"
CONFIG_SOURCE = "kubernetes.io/config.source"


def static_pod(doc: Obj, node_name: str, source: str, seen: str) -> Obj:
    pod = json.loads(json.dumps(doc))
    meta = pod.setdefault("metadata", {})
    digest = hashlib.md5((json.dumps(doc, sort_keys=True) + node_name + source).encode()).hexdigest()
    meta["name"] = f"{meta.get('name', '')}-{node_name}"
    meta.setdefault("namespace", "default")
    meta["uid"] = digest
    meta["annotations"] = {**(meta.get("annotations") or {}), CONFIG_HASH: digest, CONFIG_SEEN: seen,
                           CONFIG_SOURCE: "file"}
    spec = pod.setdefault("spec", {})
    spec["nodeName"] = node_name
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("enableServiceLinks", True)
    spec["tolerations"] = list(spec.get("tolerations") or []) + [{"operator": "Exists", "effect": "NoExecute"}]
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        image = c.get("image", "")
        last = image.rsplit("/", 1)[-1]
        c.setdefault("imagePullPolicy", "Always" if (":" not in last or last.endswith(":latest"))
                     and "@" not in last else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
    pod["apiVersion"], pod["kind"] = "v1", "Pod"
    pod["status"] = {"phase": "Pending"}
    return pod


def mirror_pod(static: Obj, node: Obj) -> Obj:
    meta = static["metadata"]
    annotations = {**meta["annotations"], CONFIG_MIRROR: meta["annotations"][CONFIG_HASH]}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta.get("labels") or {},
                         "annotations": annotations,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node["metadata"]["name"],
                                              "uid": node["metadata"]["uid"], "controller": True}]},
            "spec": static["spec"]}


def is_mirror(pod: Obj) -> bool:
    return CONFIG_MIRROR in ((pod.get("metadata") or {}).get("annotations") or {})


def read_manifests(path: str, node_name: str, seen: str, known: dict[str, Obj]) -> tuple[dict[str, Obj], list[str]]:
    """Static pods by uid from every .yaml/.yml/.json in `path` (hidden files skipped, as the kubelet does),
    plus one error text per file that cannot be read. A pod already known keeps its first `seen` time."""
    pods: dict[str, Obj] = {}
    errors: list[str] = []
    if not path or not os.path.isdir(path):
        return pods, errors
    for name in sorted(os.listdir(path)):
        if name.startswith("."):
            continue
        full = os.path.join(path, name)
        try:
            with open(full) as f:
                doc = yaml.safe_load(f)
            if not isinstance(doc, dict) or doc.get("kind", "Pod") != "Pod":
                raise ValueError("not a Pod manifest")
            pod = static_pod(doc, node_name, "file", seen)
        except (OSError, ValueError, yaml.YAMLError) as e:
            errors.append(f"{full}: {e}")
            continue
        uid = pod["metadata"]["uid"]
        if uid in known:
            pod["metadata"]["annotations"][CONFIG_SEEN] = known[uid]["metadata"]["annotations"][CONFIG_SEEN]
        pods[uid] = pod
    return pods, errors
