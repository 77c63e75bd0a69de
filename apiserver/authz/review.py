"""Pure answers to authorization.k8s.io/v1 review bodies: SubjectAccessReview (and Local/Self variants) and
SelfSubjectRulesReview. The HTTP layer decodes the body, calls these, and encodes the returned dict."""

from __future__ import annotations

from typing import Any

from apiserver.authn.types import UserInfo
from apiserver.authz.rbac import RuleResolver
from apiserver.authz.types import Attributes, Authorizer, Decision

API = "authorization.k8s.io/v1"
Obj = dict[str, Any]


class ReviewError(ValueError):
    """A malformed review body; the HTTP layer answers 400 BadRequest / 422 Invalid with this message."""

    http_code = 422
    reason = "Invalid"


def _attributes(spec: Obj, user: UserInfo) -> Attributes:
    res, nonres = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if res and nonres:
        raise ReviewError("spec.nonResourceAttributes: Invalid value: \"\": cannot be specified in combination "
                          "with resourceAttributes")
    if res:
        return Attributes(user, res.get("verb", ""), res.get("group", ""), res.get("resource", ""),
                          res.get("subresource", ""), res.get("namespace", ""), res.get("name", ""), True,
                          api_version=res.get("version", "*") or "*")
    if nonres:
        return Attributes(user, nonres.get("verb", ""), is_resource_request=False, path=nonres.get("path", ""))
    raise ReviewError("spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or "
                      "resourceAttributes must be specified")


def _answer(kind: str, body: Obj, spec: Obj, attrs: Attributes, authorizer: Authorizer) -> Obj:
    decision, reason = authorizer.authorize(attrs)
    status: Obj = {"allowed": decision == Decision.ALLOW}
    if decision == Decision.DENY:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return {"apiVersion": API, "kind": kind, "metadata": dict(body.get("metadata") or {}), "spec": spec,
            "status": status}


def subject_access_review(body: Obj, authorizer: Authorizer, namespace: str | None = None) -> Obj:
    """SubjectAccessReview, or LocalSubjectAccessReview when ``namespace`` (from the URL) is given."""
    spec = dict(body.get("spec") or {})
    if not spec.get("user") and not spec.get("groups"):
        raise ReviewError("spec.user: Invalid value: \"\": at least one of user or group must be specified")
    extra = {k: tuple(v) for k, v in (spec.get("extra") or {}).items()}
    user = UserInfo(spec.get("user", ""), spec.get("uid", ""), tuple(spec.get("groups") or []), extra)
    attrs = _attributes(spec, user)
    kind = "SubjectAccessReview"
    if namespace is not None:
        kind = "LocalSubjectAccessReview"
        if attrs.namespace != namespace:
            raise ReviewError(f"spec.resourceAttributes.namespace: Invalid value: \"{attrs.namespace}\": must "
                              f"match metadata.namespace")
    return _answer(kind, body, spec, attrs, authorizer)


def self_subject_access_review(body: Obj, user: UserInfo, authorizer: Authorizer) -> Obj:
    spec = dict(body.get("spec") or {})
    return _answer("SelfSubjectAccessReview", body, spec, _attributes(spec, user), authorizer)


def self_subject_rules_review(body: Obj, user: UserInfo, resolver: RuleResolver, incomplete: bool = False) -> Obj:
    """The caller's RBAC rules in ``spec.namespace``. ``incomplete`` is set when other authorizers (Node, webhook)
    are in the chain and cannot enumerate their rules, as kube-apiserver does."""
    spec = dict(body.get("spec") or {})
    namespace = spec.get("namespace", "")
    resource_rules, non_resource_rules = [], []
    for r in resolver.rules_for(user, namespace):
        if r.get("nonResourceURLs"):
            non_resource_rules.append({"verbs": list(r.get("verbs") or []),
                                       "nonResourceURLs": list(r["nonResourceURLs"])})
        else:
            out = {"verbs": list(r.get("verbs") or []), "apiGroups": list(r.get("apiGroups") or []),
                   "resources": list(r.get("resources") or [])}
            if r.get("resourceNames"):
                out["resourceNames"] = list(r["resourceNames"])
            resource_rules.append(out)
    return {"apiVersion": API, "kind": "SelfSubjectRulesReview", "metadata": dict(body.get("metadata") or {}),
            "spec": spec, "status": {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                                     "incomplete": incomplete}}
