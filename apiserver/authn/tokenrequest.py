"""The ``serviceaccounts/<name>/token`` subresource (TokenRequest, ``kubectl create token``) as a pure function:
request body + stored ServiceAccount (+ bound object) + issuer + ``now`` → response body with a signed token."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from apiserver.authn.serviceaccount import (
    MAX_EXPIRATION_SECONDS,
    MIN_EXPIRATION_SECONDS,
    BoundObject,
    Lookup,
    TokenIssuer,
)

Obj = dict[str, Any]
API = "authentication.k8s.io/v1"
DEFAULT_EXPIRATION_SECONDS = 3600
BOUND_KINDS = {"Pod": "pods", "Secret": "secrets"}


class TokenRequestError(ValueError):
    """Carries the HTTP code and reason the HTTP layer must answer with."""

    def __init__(self, message: str, http_code: int, reason: str) -> None:
        super().__init__(message)
        self.http_code = http_code
        self.reason = reason


def rfc3339(ts: float) -> str:
    return datetime.datetime.fromtimestamp(int(ts), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_request(body: Obj, service_account: Obj, issuer: TokenIssuer, lookup: Lookup, now: float,
                  api_audiences: Sequence[str]) -> Obj:
    meta = service_account.get("metadata") or {}
    namespace, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", "")
    spec = dict(body.get("spec") or {})
    seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
    if not isinstance(seconds, int) or seconds < MIN_EXPIRATION_SECONDS:
        raise TokenRequestError(f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
                                f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
                                422, "Invalid")
    if seconds > MAX_EXPIRATION_SECONDS:
        raise TokenRequestError(f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
                                f"Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds",
                                422, "Invalid")
    audiences = list(spec.get("audiences") or api_audiences)
    bound: BoundObject | None = None
    ref = spec.get("boundObjectRef")
    if ref:
        kind = ref.get("kind", "")
        if kind not in BOUND_KINDS:
            raise TokenRequestError(f'TokenRequest.authentication.k8s.io "{name}" is invalid: '
                                    f'spec.boundObjectRef.kind: Unsupported value: "{kind}": supported values: '
                                    f'"Pod", "Secret"', 422, "Invalid")
        obj = lookup(BOUND_KINDS[kind], namespace, ref.get("name", ""))
        if obj is None:
            raise TokenRequestError(f'{BOUND_KINDS[kind]} "{ref.get("name", "")}" not found', 404, "NotFound")
        actual_uid = (obj.get("metadata") or {}).get("uid", "")
        if ref.get("uid") and ref["uid"] != actual_uid:
            raise TokenRequestError(f"Operation cannot be fulfilled on {BOUND_KINDS[kind]} "
                                    f'"{ref.get("name", "")}": the UID in the bound object reference '
                                    f"({ref['uid']}) does not match the UID in record. The object might have been "
                                    f"deleted and then recreated", 409, "Conflict")
        bound = BoundObject(kind, ref.get("name", ""), actual_uid)
        spec["boundObjectRef"] = {**ref, "uid": actual_uid}
    token = issuer.bound_token(namespace, name, uid, audiences, now, seconds, bound)
    spec["audiences"] = audiences
    spec["expirationSeconds"] = seconds
    return {"apiVersion": API, "kind": "TokenRequest",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": spec, "status": {"token": token, "expirationTimestamp": rfc3339(now + seconds)}}
