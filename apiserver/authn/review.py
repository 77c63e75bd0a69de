"""Pure answers to authentication.k8s.io/v1 TokenReview and SelfSubjectReview bodies (``kubectl auth whoami``)."""

from __future__ import annotations

from typing import Any

from apiserver.authn.types import Authenticator, AuthRequest, UserInfo

API = "authentication.k8s.io/v1"
Obj = dict[str, Any]


class TokenReviewError(ValueError):
    http_code = 422
    reason = "Invalid"


def token_review(body: Obj, authenticator: Authenticator, now: float) -> Obj:
    """Runs ``spec.token`` through the bearer-token authenticators. An unauthenticated result carries
    ``status.error`` but never the token itself."""
    spec = dict(body.get("spec") or {})
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise TokenReviewError('TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value')
    user, ok, err = authenticator.authenticate(AuthRequest(headers={"Authorization": f"Bearer {token}"}), now)
    status: Obj = {"authenticated": bool(ok and user is not None), "user": {}}
    if ok and user is not None:
        status["user"] = user.to_dict()
        if spec.get("audiences"):
            status["audiences"] = list(spec["audiences"])
    elif err is not None:
        status["error"] = str(err)
    out_spec = {k: v for k, v in spec.items() if k != "token"}
    return {"apiVersion": API, "kind": "TokenReview", "metadata": dict(body.get("metadata") or {}),
            "spec": out_spec, "status": status}


def self_subject_review(user: UserInfo) -> Obj:
    return {"apiVersion": API, "kind": "SelfSubjectReview", "metadata": {"creationTimestamp": None},
            "status": {"userInfo": user.to_dict()}}
