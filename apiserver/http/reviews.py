"""The virtual resources, answered by the same authenticators and authorizers that guard every request:
authorization.k8s.io/v1 SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview,
SelfSubjectRulesReview (``kubectl auth can-i [--list]``), authentication.k8s.io/v1 TokenReview, SelfSubjectReview
(``kubectl auth whoami``), and the ``serviceaccounts/<name>/token`` subresource (``kubectl create token``).
Nothing here is stored; the pure answers live in apiserver.authn.review, apiserver.authz.review and
apiserver.authn.tokenrequest, and their typed errors become Status bodies through apiserver.errors."""

from __future__ import annotations

from typing import Any

from apiserver import errors
from apiserver.api.resources import Resource
from apiserver.authn.review import TokenReviewError, self_subject_review, token_review
from apiserver.authn.tokenrequest import TokenRequestError
from apiserver.authn.tokenrequest import token_request as make_token
from apiserver.authn.types import UserInfo
from apiserver.authz.rbac import RuleResolver
from apiserver.authz.review import (
    ReviewError,
    self_subject_access_review,
    self_subject_rules_review,
    subject_access_review,
)
from apiserver.http.security import Security
from apiserver.request_info import RequestInfo

Obj = dict[str, Any]


def _body(resource: Resource, body: Any) -> Obj:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind and kind != resource.kind:
        raise errors.bad_request(f"the kind {kind!r} does not match the resource {resource.kind!r}")
    if api_version and api_version != resource.group_version:
        raise errors.bad_request(f"the API version {api_version!r} does not match {resource.group_version!r}")
    return body


def answer(security: Security, resource: Resource, info: RequestInfo, user: UserInfo, body: Any) -> Obj:
    body = _body(resource, body)
    try:
        if resource.plural == "selfsubjectaccessreviews":
            return self_subject_access_review(body, user, security.authorizer)
        if resource.plural == "subjectaccessreviews":
            return subject_access_review(body, security.authorizer)
        if resource.plural == "localsubjectaccessreviews":
            spec = body.get("spec") or {}
            attrs = spec.get("resourceAttributes")
            if isinstance(attrs, dict) and not attrs.get("namespace"):
                body = {**body, "spec": {**spec, "resourceAttributes": {**attrs, "namespace": info.namespace}}}
            return subject_access_review(body, security.authorizer, namespace=info.namespace)
        if resource.plural == "selfsubjectrulesreviews":
            if not (body.get("spec") or {}).get("namespace"):
                raise ReviewError("spec.namespace: Required value: no namespace on request")
            return self_subject_rules_review(body, user, RuleResolver(security.lister),
                                             incomplete=not security.rules_complete)
        if resource.plural == "tokenreviews":
            return token_review(body, security.token_authenticator, security.clock())
        if resource.plural == "selfsubjectreviews":
            return self_subject_review(user)
    except (ReviewError, TokenReviewError) as e:
        raise errors.APIError(f'{resource.kind}.{resource.group} "" is invalid: {e}'
                              if not str(e).startswith(resource.kind) else str(e), e.reason, e.http_code,
                              group=resource.group, kind=resource.kind) from e
    raise errors.APIError("the server could not find the requested resource", "NotFound", 404)


def token_request(security: Security, service_account: Obj, body: Any) -> Obj:
    if security.issuer is None:
        raise errors.APIError("the server has no --service-account-signing-key-file; it cannot issue tokens",
                              "ServiceUnavailable", 503)
    if body is None:
        body = {}
    if not isinstance(body, dict) or body.get("kind") not in (None, "TokenRequest"):
        raise errors.bad_request("the request body must be a TokenRequest")
    try:
        return make_token(body, service_account, security.issuer, security.lister.lookup, security.clock(),
                          security.api_audiences)
    except TokenRequestError as e:
        raise errors.from_domain(e) from e
