import pytest

from apiserver.errors import APIError
from apiserver.selectors import (
    format_selector,
    parse_field_selector,
    parse_label_selector,
    selector_from_spec,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("selector,labels,match", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("app in (web,db)", {"app": "db"}, True),
    ("app in (web,db)", {}, False),
    ("app notin (web,db)", {}, True),
    ("app notin (web,db)", {"app": "web"}, False),
    ("app", {"app": ""}, True),
    ("!app", {"app": "x"}, False),
    ("app in (web,db),!gone", {"app": "web", "gone": "1"}, False),
    ("app in (web,db),!gone", {"app": "web"}, True),
    ("example.com/tier=front, env = prod", {"example.com/tier": "front", "env": "prod"}, True),
    ("", {"anything": "x"}, True),
])
def test_label_selector_matching(selector, labels, match):
    assert parse_label_selector(selector).matches(labels) is match


@pytest.mark.parametrize("bad", ["app in (web", "a=b)", "-bad=1", "app=" + "x" * 64, "a,,b"])
def test_label_selector_errors(bad):
    with pytest.raises(APIError) as e:
        parse_label_selector(bad)
    assert e.value.code == 400


def test_spec_selector_and_format_round_trip():
    sel = selector_from_spec({"matchLabels": {"app": "web"},
                              "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                                   {"key": "x", "operator": "DoesNotExist"}]})
    assert format_selector(sel) == "app=web,tier in (a,b),!x"
    assert parse_label_selector(format_selector(sel)) == sel


def test_field_selector():
    supported = {"metadata.name", "spec.nodeName", "status.phase"}.__contains__
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Failed", supported)
    assert sel.matches({"spec.nodeName": "n1", "status.phase": "Running"})
    assert not sel.matches({"spec.nodeName": "n1", "status.phase": "Failed"})
    assert not sel.matches({"spec.nodeName": "n2", "status.phase": "Running"})
    assert parse_field_selector("metadata.name==x", supported).exact_name() == "x"


def test_unsupported_field_is_bad_request():
    with pytest.raises(APIError) as e:
        parse_field_selector("spec.bogus=1", {"metadata.name"}.__contains__)
    assert e.value.message == "field label not supported: spec.bogus"
