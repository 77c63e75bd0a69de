"""The informer's dispatch rules without a server: relist diffs, bookmarks, ERROR events, trimming, replay."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.machinery.client import APIError
from controllers.machinery.informer import Informer, meta_namespace_key, split_key, trim_object
from controllers.machinery.resources import PODS

pytestmark = pytest.mark.unit


def pod(name: str, rv: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, **extra}}


def informer() -> tuple[Informer, list[tuple[str, str]]]:
    inf = Informer(None, PODS)  # type: ignore[arg-type]  # never started: no client needed
    calls: list[tuple[str, str]] = []
    inf.add_handlers(on_add=lambda o: calls.append(("add", o["metadata"]["name"])),
                     on_update=lambda old, new: calls.append(("update", new["metadata"]["name"])),
                     on_delete=lambda o: calls.append(("delete", o["metadata"]["name"])))
    return inf, calls


def test_relist_reports_only_differences() -> None:
    inf, calls = informer()
    inf.replace([pod("a", "1"), pod("b", "2"), pod("c", "3")], "3")
    assert calls == [("add", "a"), ("add", "b"), ("add", "c")] and inf.has_synced()
    calls.clear()
    inf.replace([pod("a", "1"), pod("b", "5"), pod("d", "6")], "6")
    assert sorted(calls) == [("add", "d"), ("delete", "c"), ("update", "b")], "a is unchanged: no event"
    assert inf.last_sync_resource_version == "6"


def test_watch_events_bookmarks_and_errors() -> None:
    inf, calls = informer()
    inf.replace([], "1")
    inf.handle_event("ADDED", pod("a", "2"))
    inf.handle_event("MODIFIED", pod("a", "3"))
    inf.handle_event("BOOKMARK", {"kind": "Pod", "metadata": {"resourceVersion": "9"}})
    assert inf.last_sync_resource_version == "9" and calls == [("add", "a"), ("update", "a")]
    inf.handle_event("DELETED", pod("a", "10"))
    assert calls[-1] == ("delete", "a") and inf.store.get("ns/a") is None
    with pytest.raises(APIError) as gone:
        inf.handle_event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})
    assert gone.value.expired


def test_cache_drops_managed_fields_and_shares_strings() -> None:
    a = trim_object(pod("a", "1", managedFields=[{"manager": "m"}], labels={"app": "web" + "-x"}))
    b = trim_object(pod("b", "2", labels={"app": "".join(["web", "-x"])}))
    assert "managedFields" not in a["metadata"]
    assert a["metadata"]["labels"]["app"] is b["metadata"]["labels"]["app"]


def test_late_handlers_get_the_cache_replayed_as_adds() -> None:
    inf, _ = informer()
    inf.replace([pod("a", "1")], "1")
    late: list[str] = []
    inf.add_handlers(on_add=lambda o: late.append(o["metadata"]["name"]))
    assert late == ["a"]


def test_keys() -> None:
    assert meta_namespace_key(pod("a", "1")) == "ns/a"
    assert meta_namespace_key({"metadata": {"name": "node1"}}) == "node1"
    assert split_key("ns/a") == ("ns", "a") and split_key("node1") == (None, "node1")


def test_a_handler_with_a_resync_period_sees_every_object_again() -> None:
    import asyncio

    async def main() -> list[str]:
        inf = Informer(None, PODS)  # type: ignore[arg-type]
        inf.replace([pod("a", "1"), pod("b", "2")], "2")
        seen: list[str] = []
        inf.add_handlers(on_update=lambda old, new: seen.append(new["metadata"]["name"]) if old is new else None,
                         resync_period=0.05)
        inf._start_resync(inf.handlers[-1])  # what start() does, without a reflector
        while len(seen) < 4:
            await asyncio.sleep(0.01)
        await inf.stop()
        return seen
    assert sorted(asyncio.run(main())[:4]) == ["a", "a", "b", "b"]
