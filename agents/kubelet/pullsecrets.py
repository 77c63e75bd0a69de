"""Registry credentials for an image from the pod's imagePullSecrets (the kubelet's credentialprovider keyring;
pure): kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg secrets, matched on the image's registry host.
Every match is tried in turn, as the kubelet does; none means an anonymous pull."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "docker.io"}


@dataclass(frozen=True)
class Credential:
    server: str
    username: str
    password: str


def registry_host(image: str) -> str:
    """The registry an image reference points at (docker's rule: a first component with '.', ':' or
    'localhost' is a host, otherwise Docker Hub)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def _key_host(key: str) -> str:
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _entries(secret: Obj) -> dict[str, Obj]:
    data = secret.get("data") or {}
    try:
        if secret.get("type") == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" in data:
            return dict(json.loads(base64.b64decode(data[".dockerconfigjson"])).get("auths") or {})
        if secret.get("type") == "kubernetes.io/dockercfg" and ".dockercfg" in data:
            return dict(json.loads(base64.b64decode(data[".dockercfg"])))
    except ValueError:
        return {}
    return {}


def credentials(image: str, secrets: list[Obj]) -> list[Credential]:
    host = registry_host(image)
    host = DOCKER_HUB if host in _HUB_ALIASES else host
    out = []
    for secret in secrets:
        for key, entry in _entries(secret).items():
            if _key_host(key) != host or not isinstance(entry, dict):
                continue
            user, password = entry.get("username", ""), entry.get("password", "")
            if entry.get("auth") and not user:
                user, _, password = base64.b64decode(entry["auth"]).decode(errors="replace").partition(":")
            out.append(Credential(key, user, password))
    return out
