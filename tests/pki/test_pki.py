from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from raftkv.pki import PKIError, create_local_pki, init_ca, issue

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


def load(path: pathlib.Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_bundle_certificates_verify_against_the_ca(tmp_path: pathlib.Path) -> None:
    create_local_pki(str(tmp_path), ["127.0.0.1", "localhost"])
    ca = load(tmp_path / "ca.crt")
    for name in ("server", "peer", "client", "admin"):
        cert = load(tmp_path / f"{name}.crt")
        cert.verify_directly_issued_by(ca)
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        mode = stat.S_IMODE(os.stat(tmp_path / f"{name}.key").st_mode)
        assert mode == 0o600, f"{name}.key has mode {oct(mode)}"
    server = load(tmp_path / "server.crt")
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert [str(i) for i in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku and ExtendedKeyUsageOID.CLIENT_AUTH in eku
    admin = load(tmp_path / "admin.crt")
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]


def test_client_certificate_with_several_groups(tmp_path: pathlib.Path) -> None:
    init_ca(str(tmp_path))
    issue(str(tmp_path), "client", "jane", cn="jane", orgs=["dev", "ops"])
    cert = load(tmp_path / "jane.crt")
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["dev", "ops"]


def test_existing_ca_is_not_overwritten(tmp_path: pathlib.Path) -> None:
    init_ca(str(tmp_path))
    before = (tmp_path / "ca.crt").read_bytes()
    with pytest.raises(PKIError, match="already exists"):
        init_ca(str(tmp_path))
    assert (tmp_path / "ca.crt").read_bytes() == before
    init_ca(str(tmp_path), force=True)
    assert (tmp_path / "ca.crt").read_bytes() != before


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raftkv", "pki", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


@pytest.mark.parametrize("setup, args, message", [
    ("ca", ["init", "{d}"], "a CA already exists"),
    ("ca", ["issue", "{d}", "server", "s", "--host", "bad_host!"], "invalid host name"),
    ("ca", ["issue", "{d}", "server", "s", "--ip", "300.1.1.1"], "invalid IP address"),
    ("ca", ["issue", "{d}", "server", "s"], "needs at least one --host or --ip"),
    ("", ["issue", "{d}", "client", "c"], "no CA in"),
    ("readonly", ["init", "{d}/sub"], "cannot"),
])
def test_bad_input_is_one_line_without_traceback(tmp_path: pathlib.Path, setup: str, args: list[str],
                                                 message: str) -> None:
    d = tmp_path / "pki"
    d.mkdir()
    if setup == "ca":
        init_ca(str(d))
    if setup == "readonly":
        if os.geteuid() == 0:
            d = pathlib.Path("/proc/raftkv-not-writable")  # even root cannot create directories under /proc
        else:
            d.chmod(0o500)
    p = run_cli(*[a.format(d=d) for a in args])
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raftkv pki: ") and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_cli_issue_writes_files(tmp_path: pathlib.Path) -> None:
    assert run_cli("init", str(tmp_path)).returncode == 0
    p = run_cli("issue", str(tmp_path), "peer", "peer1", "--host", "node1.example", "--ip", "10.0.0.1")
    assert p.returncode == 0, p.stderr
    cert = load(tmp_path / "peer1.crt")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "peer1"
