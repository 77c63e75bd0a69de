"""Property: the escalation check and the authorizer agree. If a requested role is "covered" by the owner's rules,
every request the requested rules allow is also allowed by the owner's rules (no escalation slips through)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiserver.authn.types import UserInfo
from apiserver.authz.rbac import rule_allows, uncovered_rules
from apiserver.authz.types import Attributes

pytestmark = pytest.mark.unit
VERBS = ["get", "list", "create", "*"]
GROUPS = ["", "apps", "*"]
RESOURCES = ["pods", "pods/log", "deployments", "deployments/scale", "*/scale", "*"]
NAMES = ["a", "b"]
URLS = ["/healthz", "/api/*", "/api/v1", "*"]


@st.composite
def rules(draw: Any) -> dict[str, Any]:
    verbs = draw(st.lists(st.sampled_from(VERBS), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()) and draw(st.booleans()):
        return {"verbs": verbs, "nonResourceURLs": draw(st.lists(st.sampled_from(URLS), min_size=1, max_size=2,
                                                                 unique=True))}
    rule: dict[str, Any] = {"verbs": verbs,
                            "apiGroups": draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=2, unique=True)),
                            "resources": draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2,
                                                       unique=True))}
    names = draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True))
    if names:
        rule["resourceNames"] = names
    return rule


def all_requests() -> list[Attributes]:
    user = UserInfo("u")
    out = []
    for verb in ["get", "list", "create", "delete"]:
        for group in ["", "apps", "batch"]:
            for res in ["pods", "deployments", "jobs"]:
                for sub in ["", "log", "scale"]:
                    for name in ["", "a", "b", "c"]:
                        out.append(Attributes(user, verb, group, res, sub, "ns", name))
        for path in ["/healthz", "/api", "/api/v1", "/api/v1/x", "/metrics"]:
            out.append(Attributes(user, verb, is_resource_request=False, path=path))
    return out


REQUESTS = all_requests()


@settings(max_examples=150, deadline=None)
@given(owner=st.lists(rules(), max_size=3), requested=st.lists(rules(), min_size=1, max_size=2))
def test_covered_roles_grant_nothing_new(owner: list[dict[str, Any]], requested: list[dict[str, Any]]) -> None:
    if uncovered_rules(owner, requested):
        return
    for attrs in REQUESTS:
        if any(rule_allows(attrs, r) for r in requested):
            assert any(rule_allows(attrs, r) for r in owner), (attrs, owner, requested)


@settings(max_examples=150, deadline=None)
@given(owner=st.lists(rules(), max_size=3))
def test_a_role_always_covers_itself(owner: list[dict[str, Any]]) -> None:
    assert uncovered_rules(owner, owner) == []
