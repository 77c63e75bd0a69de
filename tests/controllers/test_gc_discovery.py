"""Discovery documents -> the resources the garbage collector and the namespace controller work on (pure)."""

from __future__ import annotations

import pytest

from controllers.garbagecollector.discovery import Discovered, Discovery, parse, preferred_versions
from controllers.machinery.resources import NAMESPACES, PODS, REPLICASETS, Resource

pytestmark = pytest.mark.unit

CORE = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    {"name": "pods", "namespaced": True, "kind": "Pod",
     "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
    {"name": "pods/status", "namespaced": True, "kind": "Pod", "verbs": ["get", "patch", "update"]},
    {"name": "namespaces", "namespaced": False, "kind": "Namespace",
     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
    {"name": "bindings", "namespaced": True, "kind": "Binding", "verbs": ["create"]},
]}
APPS = {"groupVersion": "apps/v1", "resources": [
    {"name": "replicasets", "namespaced": True, "kind": "ReplicaSet", "verbs": ["delete", "get", "list", "watch"]},
    {"name": "replicasets/scale", "namespaced": True, "kind": "Scale", "verbs": ["get", "patch", "update"]}]}


def test_parse_keeps_top_level_resources_with_their_verbs():
    core = parse("v1", CORE)
    assert [d.resource for d in core] == [PODS, NAMESPACES, Resource("", "v1", "bindings", "Binding")]
    assert core[2].verbs == frozenset({"create"})
    assert [d.resource for d in parse("apps/v1", APPS)] == [REPLICASETS]


def test_filters_for_the_collector_and_the_namespace_controller():
    d = Discovery(parse("v1", CORE) + parse("apps/v1", APPS))
    assert d.supporting(("delete", "list", "watch")) == [PODS, NAMESPACES, REPLICASETS]
    assert d.supporting(("list", "delete"), namespaced=True) == [PODS, REPLICASETS]
    assert d.by_kind()[("apps", "ReplicaSet")] == REPLICASETS and d.by_kind()[("", "Pod")] == PODS


def test_preferred_versions():
    groups = {"groups": [{"name": "apps", "preferredVersion": {"groupVersion": "apps/v1"}},
                         {"name": "x.io", "versions": [{"groupVersion": "x.io/v2"}, {"groupVersion": "x.io/v1"}]},
                         {"name": "empty"}]}
    assert preferred_versions(groups) == ["apps/v1", "x.io/v2"]
    assert Discovered(PODS, frozenset()) == Discovered(PODS, frozenset())
