"""The service account issuer's discovery documents: /.well-known/openid-configuration and /openid/v1/jwks."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apiserver.authn import jwt

JWKS_PATH = "/openid/v1/jwks"


def _b64_int(n: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (n.bit_length() + 7) // 8)
    return jwt.b64url(n.to_bytes(size, "big"))


def jwk(key: jwt.PublicKey) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePublicKey):
        nums = key.public_numbers()
        return {"use": "sig", "kty": "EC", "kid": jwt.key_id(key), "crv": "P-256", "alg": "ES256",
                "x": _b64_int(nums.x, 32), "y": _b64_int(nums.y, 32)}
    if isinstance(key, rsa.RSAPublicKey):
        rnums = key.public_numbers()
        return {"use": "sig", "kty": "RSA", "kid": jwt.key_id(key), "alg": "RS256",
                "n": _b64_int(rnums.n), "e": _b64_int(rnums.e)}
    raise jwt.JWTError("unsupported key type")


def jwks(keys: list[jwt.PublicKey]) -> dict[str, Any]:
    return {"keys": [jwk(k) for k in keys]}


def openid_configuration(issuer: str, jwks_uri: str | None = None,
                         keys: list[jwt.PublicKey] | None = None) -> dict[str, Any]:
    """``jwks_uri`` defaults to ``<issuer>/openid/v1/jwks`` (set --service-account-jwks-uri to override)."""
    algs = sorted({jwt.algorithm_for(k) for k in keys or []}) or ["RS256"]
    return {"issuer": issuer, "jwks_uri": jwks_uri or issuer.rstrip("/") + JWKS_PATH,
            "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs}
