"""The kubelet's serving certificate when none is given: a self-signed one in <root-dir>/pki (kubelet.crt and
kubelet.key, CN <node>@<unix time>, SANs the node name and IP), kept across restarts, as the kubelet does."""

from __future__ import annotations

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def ensure(root_dir: str, node: str, node_ip: str) -> tuple[str, str]:
    pki = os.path.join(root_dir, "pki")
    cert_path, key_path = os.path.join(pki, "kubelet.crt"), os.path.join(pki, "kubelet.key")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
    os.makedirs(pki, mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node}@{int(now.timestamp())}")])
    sans: list[x509.GeneralName] = [x509.DNSName(node)]
    if node_ip:
        sans.append(x509.IPAddress(ipaddress.ip_address(node_ip)))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    with open(key_path, "wb") as f:
        os.chmod(key_path, 0o600)
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
