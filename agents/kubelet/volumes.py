"""Volume planning (kubelet volume plugins' SetUp, as data; pure): for each pod volume, where it lives on the
node and which files it holds. The adapter (volume_io.py) writes the plan; the CRI gets `Mount`s.

Host paths follow the kubelet: `<root-dir>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`. A volume that
cannot be set up (a missing, non-optional ConfigMap or Secret) gives the FailedMount text and the pod waits in
ContainerCreating, as the kubelet's volume manager does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from agents.kubelet.envvars import ConfigError, EnvSources, _field_ref, _resource_ref

Obj = dict[str, Any]
DEFAULT_MODE = 0o644

PLUGIN_DIRS = {"emptyDir": "kubernetes.io~empty-dir", "configMap": "kubernetes.io~configmap",
               "secret": "kubernetes.io~secret", "projected": "kubernetes.io~projected",
               "downwardAPI": "kubernetes.io~downward-api"}


@dataclass
class VolumePlan:
    name: str
    kind: str
    host_path: str  # absolute on the node
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # relative path -> (content, mode)
    read_only: bool = False  # configMap/secret/projected/downwardAPI are mounted read-only
    medium: str = ""  # emptyDir medium (Memory = tmpfs)
    host_path_type: str = ""


@dataclass
class VolumeInputs:
    root_dir: str
    sources: EnvSources
    tokens: dict[tuple[str, int], str] = field(default_factory=dict)  # (audience, expirationSeconds) -> JWT
    ca_crt: str = ""


class MountError(Exception):
    """FailedMount: `volume` cannot be set up for the reason in the message."""

    def __init__(self, volume: str, reason: str) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {reason}')
        self.volume = volume
        self.reason = reason


def _items(data: dict[str, bytes], items: list[Obj] | None, default_mode: int, what: str) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    out = {}
    for it in items:
        if it["key"] not in data:
            raise ConfigError(f"configmap references non-existent config key: {it['key']}" if what == "ConfigMap"
                              else f"references non-existent secret key: {it['key']}")
        out[it["path"]] = (data[it["key"]], int(it.get("mode") or default_mode))
    return out


def _cm_bytes(cm: Obj) -> dict[str, bytes]:
    data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return data


def _secret_bytes(secret: Obj) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _object_files(kind: str, src: Obj, inp: VolumeInputs, default_mode: int) -> dict[str, tuple[bytes, int]]:
    name = src.get("name", "")
    if kind == "configMap":
        cm = inp.sources.config_maps.get(name)
        if cm is None:
            if src.get("optional"):
                return {}
            raise ConfigError(f'configmap "{name}" not found')
        return _items(_cm_bytes(cm), src.get("items"), int(src.get("defaultMode") or default_mode), "ConfigMap")
    secret = inp.sources.secrets.get(src.get("secretName") or name)
    if secret is None:
        if src.get("optional"):
            return {}
        raise ConfigError(f'secret "{src.get("secretName") or name}" not found')
    return _items(_secret_bytes(secret), src.get("items"), int(src.get("defaultMode") or default_mode), "Secret")


def _downward_files(pod: Obj, items: list[Obj], inp: VolumeInputs, default_mode: int) -> dict[str, tuple[bytes, int]]:
    out = {}
    container = ((pod.get("spec") or {}).get("containers") or [{}])[0]
    for it in items:
        if "fieldRef" in it:
            path = it["fieldRef"]["fieldPath"]
            meta = pod.get("metadata") or {}
            if path in ("metadata.labels", "metadata.annotations"):
                values = meta.get(path.split(".")[1]) or {}
                value = "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
            else:
                value = _field_ref(pod, path, inp.sources)
        else:
            value = _resource_ref(pod, container, it["resourceFieldRef"], inp.sources)
        out[it["path"]] = (value.encode(), int(it.get("mode") or default_mode))
    return out


def plan_volume(pod: Obj, vol: Obj, inp: VolumeInputs) -> VolumePlan:
    uid = pod["metadata"]["uid"]
    name = vol["name"]
    kind = next((k for k in ("emptyDir", "configMap", "secret", "projected", "downwardAPI", "hostPath") if k in vol),
                "")
    if kind == "hostPath":
        return VolumePlan(name, kind, vol["hostPath"]["path"], host_path_type=vol["hostPath"].get("type") or "")
    if kind not in PLUGIN_DIRS:
        raise MountError(name, f"volume type not supported by this kubelet: {sorted(set(vol) - {'name'})}")
    plan = VolumePlan(name, kind, f"{inp.root_dir}/pods/{uid}/volumes/{PLUGIN_DIRS[kind]}/{name}")
    src = vol[kind] or {}
    try:
        if kind == "emptyDir":
            plan.medium = src.get("medium") or ""
        elif kind in ("configMap", "secret"):
            plan.files = _object_files(kind, src, inp, DEFAULT_MODE)
            plan.read_only = True
        elif kind == "downwardAPI":
            plan.files = _downward_files(pod, src.get("items") or [], inp, int(src.get("defaultMode") or DEFAULT_MODE))
            plan.read_only = True
        else:
            plan.read_only = True
            mode = int(src.get("defaultMode") or DEFAULT_MODE)
            for source in src.get("sources") or []:
                if "serviceAccountToken" in source:
                    t = source["serviceAccountToken"]
                    key = (t.get("audience") or "", int(t.get("expirationSeconds") or 3600))
                    if key not in inp.tokens:
                        raise ConfigError(f"failed to fetch token: no token for audience {key[0] or '(default)'}")
                    plan.files[t["path"]] = (inp.tokens[key].encode(), 0o600 if mode == DEFAULT_MODE else mode)
                elif "configMap" in source:
                    plan.files.update(_object_files("configMap", source["configMap"], inp, mode))
                elif "secret" in source:
                    plan.files.update(_object_files("secret", {**source["secret"],
                                                               "secretName": source["secret"].get("name")}, inp, mode))
                elif "downwardAPI" in source:
                    plan.files.update(_downward_files(pod, source["downwardAPI"].get("items") or [], inp, mode))
    except ConfigError as e:
        raise MountError(name, str(e)) from None
    return plan


def plan_volumes(pod: Obj, inp: VolumeInputs) -> list[VolumePlan]:
    return [plan_volume(pod, v, inp) for v in (pod.get("spec") or {}).get("volumes") or []]


def token_requests(pod: Obj) -> list[tuple[str, int]]:
    """The (audience, expirationSeconds) of every projected service-account token the pod mounts."""
    out = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        for s in (v.get("projected") or {}).get("sources") or []:
            t = s.get("serviceAccountToken")
            if t:
                out.append((t.get("audience") or "", int(t.get("expirationSeconds") or 3600)))
    return out


def container_mounts(container: Obj, plans: list[VolumePlan]) -> list[tuple[str, str, bool]]:
    """(container path, host path, read-only) for each volumeMount; subPath joins below the volume."""
    by_name = {p.name: p for p in plans}
    out = []
    for m in container.get("volumeMounts") or []:
        p = by_name.get(m["name"])
        if p is None:
            continue
        host = p.host_path + ("/" + m["subPath"] if m.get("subPath") else "")
        out.append((m["mountPath"], host, bool(m.get("readOnly")) or p.read_only))
    return out
