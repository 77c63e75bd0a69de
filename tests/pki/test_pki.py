"""`raftkv pki`: the certificates verify against the CA with `cryptography`, carry the SANs, key
usages and names asked for, keys are private to their owner, and bad input is one line of error."""

from __future__ import annotations

import ipaddress
import os
import pathlib
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from raftkv.pki import PKIError, create_local_pki, init_ca, issue

pytestmark = pytest.mark.unit
ROOT = pathlib.Path(__file__).resolve().parents[2]


def cert(directory: pathlib.Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / f"{name}.crt").read_bytes())


def private_key(directory: pathlib.Path, name: str) -> object:
    return serialization.load_pem_private_key((directory / f"{name}.key").read_bytes(), password=None)


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ekus(c: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def sans(c: x509.Certificate) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    ext = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ext.get_values_for_type(x509.DNSName), ext.get_values_for_type(x509.IPAddress)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raftkv.pki", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_init_creates_a_self_signed_p256_ca_with_a_private_key(tmp_path: pathlib.Path) -> None:
    init_ca(str(tmp_path))
    ca = cert(tmp_path, "ca")
    key = private_key(tmp_path, "ca")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert ca.public_key() == key.public_key()
    ca.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert mode(tmp_path / "ca.key") == 0o600


def test_server_and_peer_certificates_verify_for_their_hosts(tmp_path: pathlib.Path) -> None:
    init_ca(str(tmp_path))
    issue(str(tmp_path), "server", "server", hosts=["127.0.0.1", "localhost", "node1.example"], ips=["::1"])
    issue(str(tmp_path), "peer", "peer", hosts=["10.0.0.7"])
    ca = cert(tmp_path, "ca")
    store = verification.Store([ca])
    server = cert(tmp_path, "server")
    dns, ips = sans(server)
    assert dns == ["localhost", "node1.example"]
    assert ips == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    for subject in (verification.DNSName("node1.example"), verification.IPAddress(ipaddress.ip_address("::1"))):
        chain = verification.PolicyBuilder().store(store).build_server_verifier(subject).verify(server, [])
        assert chain[-1] == ca
    with pytest.raises(verification.VerificationError):
        verification.PolicyBuilder().store(store).build_server_verifier(
            verification.DNSName("other.example")).verify(server, [])
    peer = cert(tmp_path, "peer")
    assert sans(peer) == ([], [ipaddress.ip_address("10.0.0.7")])
    # etcd's peer links present one certificate as server and as client.
    for c in (server, peer):
        assert ekus(c) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        assert c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert private_key(tmp_path, "server").public_key() == server.public_key()  # type: ignore[attr-defined]
    assert mode(tmp_path / "server.key") == 0o600 and mode(tmp_path / "peer.key") == 0o600


def test_client_certificate_names_the_user_and_groups(tmp_path: pathlib.Path) -> None:
    init_ca(str(tmp_path))
    issue(str(tmp_path), "client", "alice", cn="alice", orgs=["dev", "system:masters"])
    ca, c = cert(tmp_path, "ca"), cert(tmp_path, "alice")
    c.verify_directly_issued_by(ca)
    assert [a.value for a in c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    assert [a.value for a in c.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["dev", "system:masters"]
    assert ekus(c) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    assert c.not_valid_after_utc <= ca.not_valid_after_utc
    assert mode(tmp_path / "alice.key") == 0o600


def test_a_certificate_from_another_ca_does_not_verify(tmp_path: pathlib.Path) -> None:
    create_local_pki(str(tmp_path / "a"), ["127.0.0.1"])
    create_local_pki(str(tmp_path / "b"), ["127.0.0.1"])
    # Both CAs are called raftkv-ca, so the names match and only the signature tells them apart.
    with pytest.raises(InvalidSignature):
        cert(tmp_path / "b", "client").verify_directly_issued_by(cert(tmp_path / "a", "ca"))


def test_create_local_pki_makes_what_a_cluster_needs(tmp_path: pathlib.Path) -> None:
    paths = create_local_pki(str(tmp_path), ["127.0.0.1", "localhost"])
    assert set(paths) == {"ca", "server", "peer", "client", "admin"}
    ca = cert(tmp_path, "ca")
    for name, issued in paths.items():
        assert pathlib.Path(issued.cert) == tmp_path / f"{name}.crt"
        assert mode(pathlib.Path(issued.key)) == 0o600
        cert(tmp_path, name).verify_directly_issued_by(ca)
    assert sans(cert(tmp_path, "server")) == (["localhost"], [ipaddress.ip_address("127.0.0.1")])
    root = cert(tmp_path, "client").subject
    assert root.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "root"
    admin = cert(tmp_path, "admin").subject
    assert admin.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"


def test_existing_ca_is_kept_unless_forced(tmp_path: pathlib.Path) -> None:
    init_ca(str(tmp_path))
    before = (tmp_path / "ca.crt").read_bytes()
    with pytest.raises(PKIError, match="already exists"):
        init_ca(str(tmp_path))
    assert (tmp_path / "ca.crt").read_bytes() == before
    replaced = cli("init", str(tmp_path), "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert (tmp_path / "ca.crt").read_bytes() != before


def test_key_rewritten_over_a_readable_file_becomes_private(tmp_path: pathlib.Path) -> None:
    init_ca(str(tmp_path))
    (tmp_path / "c.key").write_text("old")
    os.chmod(tmp_path / "c.key", 0o644)
    issue(str(tmp_path), "client", "c")
    assert mode(tmp_path / "c.key") == 0o600


def test_cli_issue_and_bundle(tmp_path: pathlib.Path) -> None:
    assert cli("init", str(tmp_path), "--days", "30").returncode == 0
    done = cli("issue", str(tmp_path), "server", "s1", "--host", "db.local", "--ip", "192.0.2.1", "--days", "7")
    assert done.returncode == 0, done.stderr
    assert sans(cert(tmp_path, "s1")) == (["db.local"], [ipaddress.ip_address("192.0.2.1")])
    s1 = cert(tmp_path, "s1")
    assert (s1.not_valid_after_utc - s1.not_valid_before_utc).days in (7, 8)  # starts 5 minutes back
    bundle = cli("bundle", str(tmp_path / "b"), "--hosts", "127.0.0.1,localhost")
    assert bundle.returncode == 0, bundle.stderr
    assert {p.name for p in (tmp_path / "b").iterdir()} == {f"{n}.{x}" for n in ("ca", "server", "peer", "client",
                                                                                 "admin") for x in ("crt", "key")}


@pytest.fixture
def ca_dir(tmp_path: pathlib.Path) -> str:
    init_ca(str(tmp_path / "ca"))
    return str(tmp_path / "ca")


BAD_INPUT = {
    "existing CA": (["init", "{ca}"], "already exists"),
    "directory under a file": (["init", "/etc/hostname/pki"], "cannot create"),
    "malformed host": (["issue", "{ca}", "server", "s", "--host", "bad_host!"], "invalid host name"),
    "host label too long": (["issue", "{ca}", "server", "s", "--host", "a" * 64 + ".example"], "invalid host name"),
    "malformed ip": (["issue", "{ca}", "peer", "p", "--ip", "300.1.1.1"], "invalid IP address"),
    "server without SANs": (["issue", "{ca}", "server", "s"], "needs at least one --host"),
    "no CA": (["issue", "{empty}", "client", "c"], "no CA"),
    "path in a file name": (["issue", "{ca}", "client", "../evil"], "invalid file name"),
    "common name too long": (["issue", "{ca}", "client", "c", "--cn", "x" * 65], "invalid common name"),
    "zero days": (["init", "{empty}", "--days", "0"], "--days must be"),
    "unknown kind": (["issue", "{ca}", "router", "r"], "invalid choice"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_of_error(case: str, ca_dir: str, tmp_path: pathlib.Path) -> None:
    argv, reason = BAD_INPUT[case]
    p = cli(*(a.format(ca=ca_dir, empty=str(tmp_path / "empty")) for a in argv))
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("raftkv pki: ") and reason in lines[0], p.stderr
    assert p.stdout == ""
