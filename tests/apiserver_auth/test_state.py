"""The auth state cache (Lister), the quota accounting helpers and the protobuf review bodies: pure, in process."""

from __future__ import annotations

import pytest

from apiserver import errors
from apiserver.admission.resource_quota import tracked_resources
from apiserver.admission.types import Forbidden
from apiserver.authn.types import AuthenticationError
from apiserver.authz.bootstrap import cluster_roles
from apiserver.protobuf import MAGIC, decode_object
from apiserver.storage.lister import Lister
from tests.apiserver_auth.fixtures import pod

pytestmark = pytest.mark.unit


def test_an_older_revision_never_overwrites_a_newer_one() -> None:
    lister = Lister(["pods"])
    assert lister.apply("pods", "ns", "p", pod("p", "ns", node="n1"), 5)
    assert not lister.apply("pods", "ns", "p", pod("p", "ns", node="n0"), 4)  # a late watch event
    assert lister.get("pods", "ns", "p")["spec"]["nodeName"] == "n1"
    assert lister.apply("pods", "ns", "p", None, 7)  # deleted
    assert not lister.apply("pods", "ns", "p", pod("p", "ns"), 6), "a tombstone keeps an older put out"
    assert lister.get("pods", "ns", "p") is None
    assert not lister.apply("secrets", "ns", "s", {"metadata": {}}, 1), "untracked resources are ignored"


def test_pods_are_indexed_by_node_through_moves_and_deletes() -> None:
    lister = Lister(["pods"])
    lister.apply("pods", "ns", "a", pod("a", "ns", node="n1"), 1)
    lister.apply("pods", "ns", "b", pod("b", "ns", node="n1"), 2)
    lister.apply("pods", "ns", "a", pod("a", "ns", node="n2"), 3)
    assert [p["metadata"]["name"] for p in lister.pods_on_node("n1")] == ["b"]
    assert [p["metadata"]["name"] for p in lister.pods_on_node("n2")] == ["a"]
    lister.apply("pods", "ns", "b", None, 4)
    assert lister.pods_on_node("n1") == [] and lister.pods_on_node("") == []


def test_replace_drops_what_a_fresh_list_no_longer_has() -> None:
    lister = Lister(["secrets"])
    lister.apply("secrets", "ns", "old", {"metadata": {"name": "old"}}, 3)
    lister.replace("secrets", [("ns", "new", {"metadata": {"name": "new"}}, 9)])
    assert lister.get("secrets", "ns", "old") is None and lister.get("secrets", "ns", "new") is not None


def test_aggregated_roles_follow_new_labelled_cluster_roles() -> None:
    lister = Lister(["clusterroles"])
    for i, role in enumerate(cluster_roles()):
        lister.apply("clusterroles", "", role["metadata"]["name"], role, i + 1)
    extra = {"kind": "ClusterRole", "metadata": {"name": "crontabs-edit", "labels": {
        "rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
        "rules": [{"apiGroups": ["stable.example.com"], "resources": ["crontabs"], "verbs": ["create"]}]}
    before = lister.get_cluster_role("admin")
    assert before is not None and extra["rules"][0] not in before["rules"]
    lister.apply("clusterroles", "", "crontabs-edit", extra, 100)
    for name in ("edit", "admin"):  # admin aggregates edit, which now aggregates the new role
        role = lister.get_cluster_role(name)
        assert role is not None and extra["rules"][0] in role["rules"], name
    view = lister.get_cluster_role("view")
    assert view is not None and extra["rules"][0] not in view["rules"]


def test_quota_names_what_it_counts() -> None:
    """What the quota controller lists and watches to compute status.used (the usage itself is its job now)."""
    assert tracked_resources({"pods": "3", "requests.cpu": "2", "count/configmaps": "5"}) == {
        ("", "pods"), ("", "configmaps")}


def test_domain_errors_become_status_through_one_table() -> None:
    err = errors.from_domain(Forbidden('pods "p" is forbidden: no', details={"name": "p", "kind": "pods"}))
    assert (err.code, err.reason, err.name) == (403, "Forbidden", "p")
    hidden = errors.from_domain(AuthenticationError("invalid bearer token, token has expired"))
    assert hidden.to_status()["message"] == "Unauthorized", "why a credential failed is never told"


def _field(num: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([num << 3 | 2, len(payload)]) + payload


def test_protobuf_self_subject_access_review_as_kubectl_sends_it() -> None:
    attrs = _field(1, b"team") + _field(2, b"list") + _field(5, b"pods")
    spec = _field(1, attrs)
    status = b"\x08\x00" + _field(2, b"") + _field(3, b"")  # the zero values Go writes
    raw = _field(1, b"") + _field(2, spec) + _field(3, status)
    type_meta = _field(1, b"authorization.k8s.io/v1") + _field(2, b"SelfSubjectAccessReview")
    body = MAGIC + _field(1, type_meta) + bytes([2 << 3 | 2, len(raw)]) + raw
    assert decode_object(body) == {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                   "metadata": {}, "spec": {"resourceAttributes": {
                                       "namespace": "team", "verb": "list", "resource": "pods"}},
                                   "status": {"allowed": False}}  # Go writes `allowed` (no omitempty)
