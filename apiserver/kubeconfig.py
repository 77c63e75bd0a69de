"""Write a kubeconfig pointing at this API server (tests and local clusters)."""

from __future__ import annotations

import yaml


def kubeconfig(server: str, *, ca_file: str, cert_file: str = "", key_file: str = "", token: str = "",
               user: str = "admin", cluster: str = "raftkv", namespace: str = "default") -> dict[str, object]:
    """Credentials: a client certificate, a bearer token, or none (an anonymous user)."""
    creds: dict[str, str] = {}
    if cert_file:
        creds = {"client-certificate": cert_file, "client-key": key_file}
    elif token:
        creds = {"token": token}
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority": ca_file}}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user, "namespace": namespace}}],
    }


def write_kubeconfig(path: str, server: str, **kwargs: str) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(kubeconfig(server, **kwargs), f, sort_keys=False)
