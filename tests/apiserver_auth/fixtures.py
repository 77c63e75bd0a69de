"""Shared builders: certificates, keys, pods and RBAC objects for the auth tests."""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = 1_800_000_000.0


def client_cert(cn: str | None, orgs: tuple[str, ...] = (), days: int = 30, start_offset: float = -3600) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    name = x509.Name(attrs)
    start = datetime.datetime.fromtimestamp(NOW + start_offset, datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))


def meta(name: str, namespace: str = "", uid: str = "", **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "uid": uid or f"uid-{name}"}
    if namespace:
        m["namespace"] = namespace
    m.update(extra)
    return m


def pod(name: str, namespace: str = "default", node: str = "", containers: list[dict[str, Any]] | None = None,
        **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": containers or [{"name": "c", "image": "nginx"}]}
    if node:
        s["nodeName"] = node
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, namespace), "spec": s}


def role(name: str, namespace: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "Role", "metadata": meta(name, namespace), "rules": rules}


def binding(name: str, namespace: str, role_kind: str, role_name: str,
            subjects: list[dict[str, Any]]) -> dict[str, Any]:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    return {"kind": kind, "metadata": meta(name, namespace),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": subjects}
