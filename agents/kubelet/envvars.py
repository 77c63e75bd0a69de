"""A container's environment as the kubelet 1.32 builds it (makeEnvironmentVariables; pure).

Service variables (the pod's namespace when enableServiceLinks, plus the `kubernetes` Service of `default`),
then envFrom, then env with `valueFrom` (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef, with
`optional`), each value `$(VAR)`-expanded against what came before. A missing referenced object raises
`ConfigError` with the kubelet's text, which becomes the container's CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents.kubelet.quantity import parse

Obj = dict[str, Any]
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """CreateContainerConfigError: the message is what the kubelet puts in the waiting state and the event."""


@dataclass
class EnvSources:
    """What env resolution may read; objects absent from the dicts do not exist (None: could not be read)."""
    config_maps: dict[str, Obj] = field(default_factory=dict)
    secrets: dict[str, Obj] = field(default_factory=dict)
    services: list[Obj] = field(default_factory=list)  # the pod's namespace
    master_services: list[Obj] = field(default_factory=list)  # `default`: the kubernetes Service
    node_allocatable: dict[str, str] = field(default_factory=dict)
    host_ip: str = ""
    pod_ips: list[str] = field(default_factory=list)


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names replaced, `$$` -> `$`, anything else kept as written."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env[name] if name in env else text[i:end + 1])
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


def _service_prefix(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(services: list[Obj]) -> dict[str, str]:
    """The docker-link style variables of Services with a cluster IP (envvars.FromServices)."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        if not ip or ip == "None":
            continue
        prefix = _service_prefix(svc["metadata"]["name"])
        ports = spec.get("ports") or []
        env[f"{prefix}_SERVICE_HOST"] = ip
        for i, p in enumerate(ports):
            port = str(p["port"])
            if i == 0:
                env[f"{prefix}_SERVICE_PORT"] = port
            if p.get("name"):
                env[f"{prefix}_SERVICE_PORT_{_service_prefix(p['name'])}"] = port
        for i, p in enumerate(ports):
            proto = (p.get("protocol") or "TCP")
            url = f"{proto.lower()}://{ip}:{p['port']}"
            if i == 0:
                env[f"{prefix}_PORT"] = url
            base = f"{prefix}_PORT_{p['port']}_{proto.upper()}"
            env[base] = url
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(p["port"])
            env[f"{base}_ADDR"] = ip
    return env


def _data(obj: Obj, secret: bool) -> dict[str, str]:
    if not secret:
        data = dict(obj.get("data") or {})
        for k, v in (obj.get("binaryData") or {}).items():
            data[k] = base64.b64decode(v).decode(errors="replace")
        return data
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}


def _lookup(kind: str, src: dict[str, Obj], name: str, ns: str, key: str | None, optional: bool) -> str | None:
    obj = src.get(name)
    label = "configmap" if kind == "ConfigMap" else "secret"
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{label} "{name}" not found')
    data = _data(obj, kind == "Secret")
    if key is None:
        return ""
    if key not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {ns}/{name}")
    return data[key]


def _field_ref(pod: Obj, path: str, src: EnvSources) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
              "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
              "spec.serviceAccountName": spec.get("serviceAccountName", ""), "status.hostIP": src.host_ip,
              "status.hostIPs": src.host_ip, "status.podIP": src.pod_ips[0] if src.pod_ips else "",
              "status.podIPs": ",".join(src.pod_ips)}
    if path in simple:
        return str(simple[path])
    raise ConfigError(f"unsupported fieldRef: {path}")


def _resource_ref(pod: Obj, container: Obj, ref: Obj, src: EnvSources) -> str:
    cname = ref.get("containerName") or container.get("name")
    target = next((c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == cname), container)
    what, _, res = ref["resource"].partition(".")
    resources = target.get("resources") or {}
    value = (resources.get(what) or {}).get(res)
    if value is None and what == "limits":
        value = src.node_allocatable.get(res, "0")
    if value is None:
        value = "0"
    divisor = parse(ref.get("divisor") or "1")
    if divisor == 0:
        divisor = Decimal(1)
    q = parse(value) / divisor
    return str(int(q) if q == int(q) else int(q) + 1)


def container_env(pod: Obj, container: Obj, src: EnvSources) -> list[tuple[str, str]]:
    """The container's variables, in the order they are given to the runtime."""
    spec = pod.get("spec") or {}
    ns = (pod.get("metadata") or {}).get("namespace", "default")
    svc = service_env(src.master_services)
    if spec.get("enableServiceLinks", True):
        svc.update(service_env(src.services))
    env: dict[str, str] = {}
    for ef in container.get("envFrom") or []:
        prefix = ef.get("prefix", "")
        for kind, refkey, store in (("ConfigMap", "configMapRef", src.config_maps),
                                    ("Secret", "secretRef", src.secrets)):
            ref = ef.get(refkey)
            if not ref:
                continue
            obj = store.get(ref["name"])
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{"configmap" if kind == "ConfigMap" else "secret"} "{ref["name"]}" not found')
            for k, v in _data(obj, kind == "Secret").items():
                if _ENV_NAME.match(prefix + k):
                    env[prefix + k] = v
    mapping = {**svc, **env}
    for e in container.get("env") or []:
        name = e["name"]
        vf = e.get("valueFrom")
        if vf is None:
            value: str | None = expand(e.get("value", ""), mapping)
        elif "fieldRef" in vf:
            value = _field_ref(pod, vf["fieldRef"]["fieldPath"], src)
        elif "resourceFieldRef" in vf:
            value = _resource_ref(pod, container, vf["resourceFieldRef"], src)
        elif "configMapKeyRef" in vf:
            r = vf["configMapKeyRef"]
            value = _lookup("ConfigMap", src.config_maps, r["name"], ns, r["key"], bool(r.get("optional")))
        elif "secretKeyRef" in vf:
            r = vf["secretKeyRef"]
            value = _lookup("Secret", src.secrets, r["name"], ns, r["key"], bool(r.get("optional")))
        else:
            value = ""
        if value is None:
            continue
        env[name] = value
        mapping[name] = value
    out = [(k, v) for k, v in sorted(svc.items()) if k not in env]
    out.extend(env.items())
    return out


def expand_command(args: list[str], env: list[tuple[str, str]]) -> list[str]:
    """command/args with $(VAR) from the container's environment."""
    mapping = dict(env)
    return [expand(a, mapping) for a in args]
