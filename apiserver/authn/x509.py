"""Client certificate authentication: user = subject CN, groups = every subject O.

The TLS adapter has already verified the chain against --client-ca-file; this only maps the certificate to a
user, and rejects certificates without a CN or outside their validity window at ``now``.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from apiserver.authn.types import AuthenticationError, AuthRequest, Result, UserInfo


def _load(cert: Any) -> x509.Certificate:
    if isinstance(cert, x509.Certificate):
        return cert
    if isinstance(cert, (bytes, bytearray)):
        try:
            return x509.load_der_x509_certificate(bytes(cert))
        except ValueError as exc:
            raise AuthenticationError("x509: malformed client certificate") from exc
    raise AuthenticationError("x509: unsupported client certificate type")


class X509Authenticator:
    def authenticate(self, request: AuthRequest, now: float) -> Result:
        if request.peer_certificate is None:
            return None, False, None
        try:
            cert = _load(request.peer_certificate)
        except AuthenticationError as err:
            return None, False, err
        not_before = cert.not_valid_before_utc.timestamp()
        not_after = cert.not_valid_after_utc.timestamp()
        if now < not_before or now > not_after:
            return None, False, AuthenticationError("x509: certificate has expired or is not yet valid")
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not cns or not str(cns[0].value):
            return None, False, AuthenticationError("x509: subject with cn= is required")
        groups = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        return UserInfo(str(cns[0].value), "", groups), True, None
