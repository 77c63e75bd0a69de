"""`raftkv pki`: a certificate authority and the certificates a cluster needs, with `cryptography`.

Files are named as etcd and kubeadm name them: `ca.crt`/`ca.key`, `server.crt`/`.key`,
`peer.crt`/`.key`, `client.crt`/`.key` (client certificates: CN = user, O = groups).
Keys are ECDSA P-256 by default and written with mode 0600. An existing CA is never
overwritten unless `--force` is given.

    raftkv pki init DIR [--force] [--days N]
    raftkv pki issue DIR server|peer|client NAME [--host H ...] [--ip IP ...] [--cn CN] [--org O ...]
    raftkv pki bundle DIR [--hosts 127.0.0.1,localhost] [--force]
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import re
import sys
from dataclasses import dataclass
from typing import NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_CA_DAYS = 3650
DEFAULT_CERT_DAYS = 365
MAX_DAYS = 36500
"""Validity limit: beyond it dates overflow and nobody means it anyway."""
MAX_NAME_LEN = 64
"""X.509's upper bound for a common name or organization (RFC 5280 ub-common-name)."""
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class PKIError(Exception):
    """A one-line reason the command could not do what was asked."""


@dataclass
class Issued:
    cert: str
    key: str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key(algorithm: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise PKIError(f"unknown key algorithm {algorithm!r} (ecdsa or rsa)")


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _write_pair(directory: str, name: str, key: object, cert: x509.Certificate) -> Issued:
    key_path = os.path.join(directory, f"{name}.key")
    cert_path = os.path.join(directory, f"{name}.crt")
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                               serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(cert_path, key_path)


def _ensure_dir(directory: str) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise PKIError(f"cannot create {directory}: {exc.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise PKIError(f"cannot write to {directory}: permission denied")


def _check_days(days: int) -> None:
    if not 0 < days <= MAX_DAYS:
        raise PKIError(f"--days must be between 1 and {MAX_DAYS}, not {days}")


def _check_name(what: str, value: str) -> None:
    if not 0 < len(value) <= MAX_NAME_LEN or not value.isprintable():
        raise PKIError(f"invalid {what} {value!r} (1 to {MAX_NAME_LEN} printable characters)")


def init_ca(directory: str, force: bool = False, days: int = DEFAULT_CA_DAYS, algorithm: str = "ecdsa",
            common_name: str = "raftkv-ca") -> Issued:
    """Create a self-signed CA as DIR/ca.crt and DIR/ca.key; an existing CA is kept unless `force`."""
    _check_days(days)
    _check_name("common name", common_name)
    _ensure_dir(directory)
    if os.path.exists(os.path.join(directory, "ca.crt")) and not force:
        raise PKIError(f"a CA already exists in {directory} (use --force to replace it)")
    key = _new_key(algorithm)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _write_pair(directory, "ca", key, cert)


def _load_ca(directory: str) -> tuple[x509.Certificate, object]:
    try:
        with open(os.path.join(directory, "ca.crt"), "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        with open(os.path.join(directory, "ca.key"), "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
    except FileNotFoundError:
        raise PKIError(f"no CA in {directory} (run `raftkv pki init {directory}` first)") from None
    except ValueError as exc:
        raise PKIError(f"the CA in {directory} cannot be read: {exc}") from None
    return cert, key


def _sans(hosts: list[str], ips: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
            continue
        except ValueError:
            pass
        if not _HOSTNAME.match(h):
            raise PKIError(f"invalid host name {h!r}")
        out.append(x509.DNSName(h))
    for ip in ips:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise PKIError(f"invalid IP address {ip!r}") from None
    return out


def issue(directory: str, kind: str, name: str, hosts: list[str] | None = None, ips: list[str] | None = None,
          cn: str | None = None, orgs: list[str] | None = None, days: int = DEFAULT_CERT_DAYS,
          algorithm: str = "ecdsa") -> Issued:
    """Issue DIR/NAME.crt and DIR/NAME.key signed by DIR's CA.

    Server and peer certificates need SANs (`hosts` may mix DNS names and IPs) and carry both
    serverAuth and clientAuth, as etcd's peer links use one certificate in both directions.
    Client certificates carry clientAuth only; CN is the user and each O a group.
    """
    _check_days(days)
    if kind not in ("server", "peer", "client"):
        raise PKIError(f"unknown certificate kind {kind!r} (server, peer or client)")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise PKIError(f"invalid file name {name!r} (letters, digits, '.', '_', '-')")
    _check_name("common name", cn or name)
    for org in orgs or []:
        _check_name("organization", org)
    _ensure_dir(directory)
    ca_cert, ca_key = _load_ca(directory)
    sans = _sans(hosts or [], ips or [])
    if kind in ("server", "peer") and not sans:
        raise PKIError(f"a {kind} certificate needs at least one --host or --ip")
    key = _new_key(algorithm)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn or name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in (orgs or [])]
    eku = [ExtendedKeyUsageOID.CLIENT_AUTH] if kind == "client" else [ExtendedKeyUsageOID.SERVER_AUTH,
                                                                      ExtendedKeyUsageOID.CLIENT_AUTH]
    now = _now()
    builder = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                            crl_sign=False, content_commitment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                              critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    return _write_pair(directory, name, key, cert)


def create_local_pki(directory: str, hosts: list[str], force: bool = False) -> dict[str, Issued]:
    """Everything a local cluster needs: CA, server, peer, client `root`, and `admin` (O=system:masters)."""
    out = {"ca": init_ca(directory, force=force)}
    out["server"] = issue(directory, "server", "server", hosts=hosts, cn="raftkv-server")
    out["peer"] = issue(directory, "peer", "peer", hosts=hosts, cn="raftkv-peer")
    out["client"] = issue(directory, "client", "client", cn="root")
    out["admin"] = issue(directory, "client", "admin", cn="admin", orgs=["system:masters"])
    return out


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line like every other error of `raftkv pki`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"raftkv pki: {message} (see `raftkv pki --help`)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="raftkv pki", description="Create a CA and issue certificates.")
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init", help="create a CA in DIR")
    i.add_argument("dir")
    i.add_argument("--force", action="store_true", help="replace an existing CA")
    i.add_argument("--days", type=int, default=DEFAULT_CA_DAYS)
    i.add_argument("--key-algorithm", default="ecdsa", choices=("ecdsa", "rsa"))
    s = sub.add_parser("issue", help="issue a server, peer or client certificate signed by DIR's CA")
    s.add_argument("dir")
    s.add_argument("kind", choices=("server", "peer", "client"))
    s.add_argument("name", help="file name: NAME.crt and NAME.key")
    s.add_argument("--host", action="append", default=[], help="DNS name or IP for the SANs (repeatable)")
    s.add_argument("--ip", action="append", default=[], help="IP address for the SANs (repeatable)")
    s.add_argument("--cn", help="common name (the user, for client certificates); default NAME")
    s.add_argument("--org", action="append", default=[], help="organization (a group; repeatable)")
    s.add_argument("--days", type=int, default=DEFAULT_CERT_DAYS)
    s.add_argument("--key-algorithm", default="ecdsa", choices=("ecdsa", "rsa"))
    b = sub.add_parser("bundle", help="CA + server, peer, client and admin certificates for a local cluster")
    b.add_argument("dir")
    b.add_argument("--hosts", default="127.0.0.1,localhost")
    b.add_argument("--force", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "init":
            out = init_ca(args.dir, force=args.force, days=args.days, algorithm=args.key_algorithm)
            print(f"wrote {out.cert} and {out.key}")
        elif args.cmd == "issue":
            out = issue(args.dir, args.kind, args.name, hosts=args.host, ips=args.ip, cn=args.cn, orgs=args.org,
                        days=args.days, algorithm=args.key_algorithm)
            print(f"wrote {out.cert} and {out.key}")
        else:
            hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
            for name, issued in create_local_pki(args.dir, hosts, force=args.force).items():
                print(f"{name}: {issued.cert}")
    except PKIError as exc:
        print(f"raftkv pki: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"raftkv pki: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
