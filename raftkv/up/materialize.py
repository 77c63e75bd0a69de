"""Writes what the plan names and the directory lacks: both CAs and the certificates (`raftkv.pki`), the
service-account key pair, kubeconfigs and the kubelet configuration files. Existing files are kept, so a
restarted cluster keeps its identities."""

from __future__ import annotations

import os

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from raftkv import pki
from raftkv.up.layout import Layout
from raftkv.up.pkiplan import CA_DIRS, CA_NAMES, CertSpec, cert_paths, cert_specs
from raftkv.up.plan import Kubeconfig, Plan


def write_pki(d: str, layout: Layout) -> None:
    for ca, sub in CA_DIRS.items():
        if not os.path.exists(f"{d}/{sub}/ca.crt"):
            pki.init_ca(f"{d}/{sub}", common_name=CA_NAMES[ca])
    for spec in cert_specs(layout):
        _issue(d, spec)
    key = f"{d}/pki/sa.key"
    if not os.path.exists(key):
        k = ec.generate_private_key(ec.SECP256R1())
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        with open(f"{d}/pki/sa.pub", "wb") as f:
            f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))


def _issue(d: str, spec: CertSpec) -> None:
    crt, _ = cert_paths(spec)
    if os.path.exists(f"{d}/{crt}"):
        return
    pki.issue(f"{d}/{CA_DIRS[spec.ca]}", spec.kind, spec.name, hosts=list(spec.hosts), cn=spec.cn,
              orgs=list(spec.orgs))


def kubeconfig_doc(d: str, kc: Kubeconfig) -> dict[str, object]:
    """A kubeconfig with one cluster and context per server and one user; the first context is current."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url, "certificate-authority": f"{d}/pki/ca.crt"}}
                     for name, url in kc.servers],
        "users": [{"name": kc.user, "user": {"client-certificate": f"{d}/pki/{kc.user}.crt",
                                              "client-key": f"{d}/pki/{kc.user}.key"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": kc.user}} for name, _ in kc.servers],
        "current-context": kc.servers[0][0],
    }


def write_files(d: str, plan: Plan) -> None:
    for kc in plan.kubeconfigs:
        os.makedirs(os.path.dirname(kc.path), exist_ok=True)
        if kc.path == f"{d}/kubeconfig" and os.path.exists(kc.path):
            continue  # the user's: a context they switched to is theirs to keep
        with open(kc.path, "w") as f:
            yaml.safe_dump(kubeconfig_doc(d, kc), f, sort_keys=False)
    for rel, text in plan.files.items():
        path = f"{d}/{rel}"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    for sub in ("logs", "data", "run"):
        os.makedirs(f"{d}/{sub}", exist_ok=True)
    for p in plan.procs:
        if p.role == "kubelet":
            node = p.name.removeprefix("kubelet-")
            os.makedirs(f"{d}/nodes/{node}/manifests", exist_ok=True)
