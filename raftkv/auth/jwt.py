"""JSON Web Tokens signed and verified with `cryptography`: the few algorithms etcd's `--auth-token jwt` takes.

Pure apart from the keys handed in. Only compact JWS (header.payload.signature, base64url without padding)
is produced or accepted; the header's `alg` must be the configured one (etcd refuses any other), which
also shuts out `alg: none` and key-confusion tricks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384,
                                                  "512": hashes.SHA512}
_EC_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
METHODS = tuple(f"{family}{bits}" for family in ("RS", "PS", "ES", "HS") for bits in _HASHES) + ("EdDSA",)


class JwtError(Exception):
    """A token that is malformed, signed with another algorithm or key, or not a JSON object."""


class BadKey(Exception):
    """A key file that does not hold a key for the sign method, or a public key not matching the private one."""


@dataclass(frozen=True)
class JwtSigner:
    """One algorithm and its keys. `private` is None for a verify-only member (etcd: public key alone)."""

    method: str
    private: Any
    public: Any

    @property
    def verify_only(self) -> bool:
        return self.private is None

    def sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": self.method, "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        signing_input = f"{header}.{payload}".encode()
        return f"{header}.{payload}.{_b64(self._signature(signing_input))}"

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this signer's key signed with this method; JwtError otherwise."""
        try:
            header_b64, payload_b64, sig_b64 = token.split(".")
            header = json.loads(_unb64(header_b64))
            claims = json.loads(_unb64(payload_b64))
            signature = _unb64(sig_b64)
        except (ValueError, UnicodeDecodeError) as exc:
            raise JwtError("malformed token") from exc
        if not isinstance(header, dict) or header.get("alg") != self.method:
            raise JwtError("invalid signing method")
        if not self._valid(f"{header_b64}.{payload_b64}".encode(), signature):
            raise JwtError("signature is invalid")
        if not isinstance(claims, dict):
            raise JwtError("claims are not an object")
        return claims

    def _signature(self, data: bytes) -> bytes:
        family, bits = self.method[:2], self.method[2:]
        key = self.private
        if self.method == "EdDSA":
            return bytes(key.sign(data))
        if family == "HS":
            return hmac.new(key, data, getattr(hashlib, "sha" + bits)).digest()
        h = _HASHES[bits]()
        if family == "RS":
            return bytes(key.sign(data, padding.PKCS1v15(), h))
        if family == "PS":  # golang-jwt signs with a salt as long as the hash
            return bytes(key.sign(data, padding.PSS(padding.MGF1(h), h.digest_size), h))
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")  # JWS: fixed-width r || s, not DER

    def _valid(self, data: bytes, sig: bytes) -> bool:
        family, bits = self.method[:2], self.method[2:]
        key = self.public
        try:
            if self.method == "EdDSA":
                key.verify(sig, data)
            elif family == "HS":
                return hmac.compare_digest(sig, hmac.new(key, data, getattr(hashlib, "sha" + bits)).digest())
            elif family == "RS":
                key.verify(sig, data, padding.PKCS1v15(), _HASHES[bits]())
            elif family == "PS":
                h = _HASHES[bits]()
                key.verify(sig, data, padding.PSS(padding.MGF1(h), padding.PSS.AUTO), h)
            else:
                size = (key.curve.key_size + 7) // 8
                if len(sig) != 2 * size:
                    return False
                der = encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))
                key.verify(der, data, ec.ECDSA(_HASHES[bits]()))
        except InvalidSignature:
            return False
        return True


def load_signer(method: str, private_pem: bytes | None, public_pem: bytes | None) -> JwtSigner:
    """A signer from PEM key files (HS*: the private file's bytes are the secret), checked as etcd does:
    at least one key, both of the method's kind, and a public key matching the private one."""
    if method not in METHODS:
        raise ValueError(method)
    if method.startswith("HS"):
        if not private_pem:
            raise BadKey("missing key")
        return JwtSigner(method, private_pem, private_pem)
    kind: type | tuple[type, ...] = {"RS": rsa.RSAPrivateKey, "PS": rsa.RSAPrivateKey, "ES": ec.EllipticCurvePrivateKey,
                                     "Ed": ed25519.Ed25519PrivateKey}[method[:2]]
    priv = pub = None
    try:
        if private_pem:
            priv = serialization.load_pem_private_key(private_pem, password=None)
        if public_pem:
            pub = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError) as exc:
        raise BadKey(f"cannot parse the key: {exc}") from exc
    if priv is not None and not isinstance(priv, kind):
        raise BadKey(f"the private key is not a key for {method}")
    if priv is None and pub is None:
        raise BadKey("missing key")
    derived = priv.public_key() if priv is not None else None
    if pub is None:
        pub = derived
    if not isinstance(pub, _public_kind(method)):
        raise BadKey(f"the public key is not a key for {method}")
    if method.startswith("ES") and not isinstance(pub.curve, _EC_CURVES[method]):  # type: ignore[union-attr]
        raise BadKey(f"{method} needs a {_EC_CURVES[method].name} key")
    if derived is not None and _raw(derived) != _raw(pub):
        raise BadKey("the public key does not match the private key")
    return JwtSigner(method, priv, pub)


def _public_kind(method: str) -> type:
    return {"RS": rsa.RSAPublicKey, "PS": rsa.RSAPublicKey, "ES": ec.EllipticCurvePublicKey,
            "Ed": ed25519.Ed25519PublicKey}[method[:2]]


def _raw(pub: Any) -> bytes:
    return bytes(pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if any(c in text for c in "=+/"):
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
