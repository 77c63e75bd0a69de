"""Label selectors: metav1.LabelSelector and map selectors, with apimachinery's nil/empty rules."""

from __future__ import annotations

import pytest

from controllers.machinery import labels
from controllers.machinery.labels import SelectorError, from_label_selector, from_set

pytestmark = pytest.mark.unit

WEB = {"app": "web", "tier": "front"}


@pytest.mark.parametrize("selector, pod_labels, want", [
    ({"matchLabels": {"app": "web"}}, WEB, True),
    ({"matchLabels": {"app": "web", "tier": "back"}}, WEB, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}, WEB, False),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "gone", "operator": "NotIn", "values": ["x"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, WEB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, WEB, True),
    ({"matchExpressions": [{"key": "gone", "operator": "Exists"}]}, WEB, False),
    ({"matchExpressions": [{"key": "gone", "operator": "DoesNotExist"}]}, WEB, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, WEB, False),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]}, WEB, False),
    ({}, WEB, True),
    ({}, {}, True),
    (None, WEB, False),
])
def test_label_selector_matching(selector: dict | None, pod_labels: dict, want: bool) -> None:
    assert from_label_selector(selector).matches(pod_labels) is want


def test_map_selectors_as_replication_controllers_use_them() -> None:
    assert from_set({"app": "web"}).matches(WEB)
    assert not from_set({"app": "web", "x": "y"}).matches(WEB)
    assert from_set({}).matches(WEB) and from_set({}).empty()


def test_invalid_selectors_are_refused() -> None:
    for expr in ({"key": "a", "operator": "Equals", "values": ["x"]}, {"key": "a", "operator": "In"},
                 {"key": "a", "operator": "Exists", "values": ["x"]}):
        with pytest.raises(SelectorError):
            from_label_selector({"matchExpressions": [expr]})


def test_string_form_is_the_label_selector_query() -> None:
    sel = from_label_selector({"matchLabels": {"b": "2", "a": "1"},
                               "matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["y", "x"]},
                                                    {"key": "d", "operator": "Exists"},
                                                    {"key": "e", "operator": "DoesNotExist"}]})
    assert str(sel) == "a=1,b=2,c notin (x,y),d,!e"


def test_matches_reads_an_objects_labels() -> None:
    assert labels.matches({"matchLabels": {"app": "web"}}, {"metadata": {"labels": WEB}})
    assert not labels.matches({"matchLabels": {"app": "web"}}, {"metadata": {}})
