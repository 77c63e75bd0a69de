"""The cache: an assumed pod counts on its node at once; the informer's bound pod confirms it, a failed bind forgets
it, an unconfirmed assumption expires after its binding finished."""

from __future__ import annotations

import dataclasses

import pytest

from controllers.scheduler.cache import Cache, CacheError
from tests.scheduler.builders import info, node, pod

pytestmark = pytest.mark.unit


def requested_cpu(cache: Cache, name: str) -> int:
    return cache.nodes[name].requested.get("cpu", 0)


def test_assume_counts_at_once_and_forget_releases() -> None:
    cache = Cache()
    cache.add_node(node("n"))
    p = info(pod("p", cpu="1"))
    cache.assume(dataclasses.replace(p, node_name="n"), "n")
    assert requested_cpu(cache, "n") == 1000 and cache.is_assumed(p.uid)
    with pytest.raises(CacheError):
        cache.assume(p, "n")
    cache.forget(p.uid)
    assert requested_cpu(cache, "n") == 0 and not cache.is_assumed(p.uid)


def test_informer_confirms_an_assumption_on_the_node_the_api_server_reports() -> None:
    cache = Cache()
    cache.add_node(node("a"))
    cache.add_node(node("b"))
    p = info(pod("p", cpu="1"))
    cache.assume(p, "a")
    cache.add_pod(info(pod("p", cpu="1", node_name="b")))
    assert not cache.is_assumed(p.uid)
    assert requested_cpu(cache, "a") == 0 and requested_cpu(cache, "b") == 1000
    cache.forget(p.uid)  # a confirmed pod is not forgotten
    assert requested_cpu(cache, "b") == 1000
    cache.remove_pod(p.uid)
    assert requested_cpu(cache, "b") == 0


def test_assumption_expires_only_after_binding_finished() -> None:
    cache = Cache(assumed_ttl=30)
    cache.add_node(node("n"))
    p = info(pod("p", cpu="1"))
    cache.assume(p, "n")
    assert cache.cleanup_expired(10_000) == []  # binding still in flight
    cache.finish_binding(p.uid, 100)
    assert cache.cleanup_expired(129) == []
    assert cache.cleanup_expired(131) == [p.uid]
    assert requested_cpu(cache, "n") == 0


def test_node_removed_and_readded_keeps_its_pods() -> None:
    cache = Cache()
    cache.add_node(node("n"))
    cache.add_pod(info(pod("p", cpu="1", node_name="n")))
    cache.remove_node("n")
    assert [n.name for n in cache.snapshot().nodes] == []
    cache.add_node(node("n"))
    assert requested_cpu(cache, "n") == 1000


def test_snapshot_is_rebuilt_when_nodes_change() -> None:
    cache = Cache()
    cache.add_node(node("b"))
    cache.add_node(node("a", images=[{"names": ["img:1"], "sizeBytes": 1}]))
    snap = cache.snapshot()
    assert [n.name for n in snap.nodes] == ["a", "b"] and snap.image_nodes == {"img:1": 1}
    assert cache.snapshot() is snap
    cache.update_node(node("b", images=[{"names": ["img:1"], "sizeBytes": 1}]))
    assert cache.snapshot().image_nodes == {"img:1": 2}
