"""Compact JWS (RFC 7515) signing and verification for ES256 and RS256, on top of ``cryptography``.

Only the two algorithms Kubernetes uses for service account tokens are accepted; ``alg: none`` and any other
value are rejected, and the algorithm must match the key type so an RSA public key can never verify an HMAC.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

MAX_JWT_BYTES = 16 * 1024
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class JWTError(ValueError):
    """A token that is not a well-formed, correctly signed JWT for one of our keys."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise JWTError("malformed base64url segment") from exc


def algorithm_for(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.name != "secp256r1":
            raise JWTError(f"unsupported EC curve {key.curve.name}; only P-256 (ES256)")
        return "ES256"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RS256"
    raise JWTError("unsupported key type")


def key_id(public: PublicKey) -> str:
    """A stable key id: base64url of the SHA-256 of the DER public key (the same recipe as kube-apiserver)."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return b64url(digest.finalize())


def sign(claims: dict[str, Any], key: PrivateKey) -> str:
    alg = algorithm_for(key)
    header = {"alg": alg, "kid": key_id(key.public_key())}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(sig)


def peek_claims(token: str) -> dict[str, Any] | None:
    """The unverified payload, or None when the token is not JWT-shaped. Used only to decide whether a token is
    ours to judge (issuer check) before spending a signature verification on it."""
    if len(token) > MAX_JWT_BYTES or token.count(".") != 2:
        return None
    try:
        payload = json.loads(b64url_decode(token.split(".")[1]))
    except (JWTError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def verify(token: str, keys: list[PublicKey]) -> dict[str, Any]:
    """Returns the claims when any key verifies the signature; raises JWTError otherwise."""
    if len(token) > MAX_JWT_BYTES:
        raise JWTError("token too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTError("not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError as exc:
        raise JWTError("malformed JWT header or payload") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JWTError("malformed JWT header or payload")
    alg = header.get("alg")
    if alg not in ("ES256", "RS256"):
        raise JWTError(f"unsupported signing algorithm {alg!r}")
    signing_input = (parts[0] + "." + parts[1]).encode()
    sig = b64url_decode(parts[2])
    for key in keys:
        if algorithm_for(key) != alg:
            continue
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                if len(sig) != 64:
                    continue
                der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
                key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            else:
                key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return claims
        except InvalidSignature:
            continue
    raise JWTError("invalid signature")


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise JWTError("service account signing key must be RSA or EC P-256")
    algorithm_for(key)
    return key


def load_public_keys(pem: bytes) -> list[PublicKey]:
    """All public keys in a --service-account-key-file: public keys, private keys (their public half) and
    certificates may appear, one or more per file, as kube-apiserver accepts."""
    from cryptography import x509

    keys: list[PublicKey] = []
    blocks = pem.split(b"-----END ")
    for block in blocks[:-1]:
        start = block.find(b"-----BEGIN ")
        if start < 0:
            continue
        label_end = block.find(b"-----", start + 11)
        label = block[start + 11:label_end]
        text = block[start:] + b"-----END " + label + b"-----\n"
        key: Any
        if b"CERTIFICATE" in label:
            key = x509.load_pem_x509_certificate(text).public_key()
        elif b"PRIVATE" in label:
            key = serialization.load_pem_private_key(text, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(text)
        if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            raise JWTError("service account key must be RSA or EC P-256")
        algorithm_for(key)
        keys.append(key)
    if not keys:
        raise JWTError("no public keys found in service account key file")
    return keys
