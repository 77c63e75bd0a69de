"""Watch fan-out through the real server: many watchers of one resource share one store watch and one encoding per
event, and each still receives exactly its own stream (every matching event once, in revision order, in its format).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import tempfile
from typing import Any

import aiohttp
import pytest

from tests.apiserver.fixtures import apiserver, etcd

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not shutil.which("etcd"), reason="needs etcd")]
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def test_many_watchers_each_get_their_exact_stream_from_the_shared_encoding():
    seed = int(os.environ.get("WATCH_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="apiserver-fanout-")
    try:
        with etcd(tmp) as url, apiserver(tmp, url) as srv:
            asyncio.run(_scenario(srv.url, srv.ssl_context(), rng))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _scenario(url: str, ctx: Any, rng: random.Random) -> None:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=0), timeout=timeout) as s:
        for ns in ("fa", "fb"):
            async with s.post(f"{url}/api/v1/namespaces", json={"metadata": {"name": ns}}) as r:
                assert r.status == 201, await r.text()
        async with s.get(f"{url}/api/v1/namespaces/fa/configmaps") as r:
            rv = int((await r.json())["metadata"]["resourceVersion"])
        # Watchers of every kind the index tells apart: all namespaces, one namespace, one object (by field
        # selector and by the watch path of one name), a label selector, and a Table watcher (its own encoding).
        kinds = {"all": "/api/v1/configmaps?", "ns": "/api/v1/namespaces/fa/configmaps?",
                 "one": "/api/v1/namespaces/fa/configmaps?fieldSelector=metadata.name%3Dc0&",
                 "path": "/api/v1/watch/namespaces/fb/configmaps/c1?",
                 "label": "/api/v1/configmaps?labelSelector=tier%3Dweb&",
                 "table": "/api/v1/namespaces/fb/configmaps?"}
        watchers = [(kind, n) for kind in kinds for n in range(12)]
        Event = tuple[str, str, str, int, str]  # type, namespace, name, revision, label tier
        streams: dict[tuple[str, int], list[Event]] = {w: [] for w in watchers}
        opened, changed = asyncio.Event(), asyncio.Event()
        count = 0

        async def watch(kind: str, n: int) -> None:
            nonlocal count
            headers = {"Accept": TABLE} if kind == "table" else {}
            q = f"{kinds[kind]}watch=true&resourceVersion={rv}&timeoutSeconds=100"
            async with s.get(url + q, headers=headers) as r:
                assert r.status == 200
                count += 1
                if count == len(watchers):
                    opened.set()
                async for line in r.content:
                    ev = json.loads(line)
                    obj = ev["object"]
                    if kind == "table":
                        assert obj["kind"] == "Table" and len(obj["rows"]) == 1
                        obj = obj["rows"][0]["object"]
                    md = obj["metadata"]
                    streams[(kind, n)].append((ev["type"], md["namespace"], md["name"], int(md["resourceVersion"]),
                                               (md.get("labels") or {}).get("tier", "")))
                    changed.set()

        tasks = [asyncio.create_task(watch(kind, n)) for kind, n in watchers]
        await asyncio.wait_for(opened.wait(), 60)
        # Writes from concurrent clients: creates, label changes (a configmap starts and stops matching the label
        # selector), deletes; the same keys are written again and again, so encodings are looked up per version.
        exists: set[tuple[str, str]] = set()
        written: list[int] = []

        async def write(ns: str, name: str, tier: str, marker: str = "") -> int:
            path = f"{url}/api/v1/namespaces/{ns}/configmaps"
            labels = {"tier": tier, "marker": marker} if marker else {"tier": tier}
            if (ns, name) not in exists:
                async with s.post(path, json={"metadata": {"name": name, "labels": labels}}) as r:
                    assert r.status == 201, await r.text()
                    exists.add((ns, name))
                    version = int((await r.json())["metadata"]["resourceVersion"])
            elif not marker and rng.random() < 0.2:
                async with s.delete(f"{path}/{name}") as r:
                    assert r.status == 200, await r.text()
                exists.discard((ns, name))
                return 0  # a delete's revision is not in its response
            else:
                async with s.patch(f"{path}/{name}", data=json.dumps({"metadata": {"labels": labels}}),
                                   headers={"Content-Type": "application/merge-patch+json"}) as r:
                    assert r.status == 200, await r.text()
                    version = int((await r.json())["metadata"]["resourceVersion"])
            written.append(version)
            return version

        names = [(ns, f"c{i}") for ns in ("fa", "fb") for i in range(4)]
        for _ in range(30):
            await asyncio.gather(*(write(ns, name, rng.choice(["web", "db"])) for ns, name in rng.sample(names, 4)))
        # Markers, one after the other (a label no other write sets, so each is a real change): the last event each
        # kind of watcher can see.
        m1 = await write("fa", "c0", "web", marker="1")
        m2 = await write("fb", "c1", "web", marker="2")
        last = {"all": m2, "ns": m1, "one": m1, "path": m2, "label": m2, "table": m2}

        def complete() -> bool:
            return all(st and st[-1][3] == last[kind] for (kind, _), st in streams.items())

        async def until_complete() -> None:
            while not complete():
                await changed.wait()
                changed.clear()
        try:
            await asyncio.wait_for(until_complete(), 60)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        # The truth is an "all" stream, checked against the writes; every other stream must be exactly its view.
        truth = streams[("all", 0)]
        revs = [e[3] for e in truth]
        assert revs == sorted(set(revs)), "strictly increasing revisions, no duplicates"
        # (a patch that changes nothing answers the revision it already had: no event)
        assert [e[3] for e in truth if e[0] != "DELETED"] == sorted(set(written)), "every write seen once, no gap"
        assert all(e[0] in ("ADDED", "MODIFIED", "DELETED") for e in truth)

        def view(kind: str) -> list[Event]:
            out: list[Event] = []
            tier: dict[tuple[str, str], str] = {}
            for e in truth:
                t, ns, name, _, now_tier = e
                was_tier = tier.pop((ns, name), None)
                if t != "DELETED":
                    tier[(ns, name)] = now_tier
                if kind == "label":
                    was, now = was_tier == "web", t != "DELETED" and now_tier == "web"
                    if now:
                        out.append(("MODIFIED" if was else "ADDED", *e[1:]))  # type: ignore[arg-type]
                    elif was:
                        out.append(("DELETED", *e[1:]))  # type: ignore[arg-type]
                elif {"all": True, "ns": ns == "fa", "one": (ns, name) == ("fa", "c0"),
                      "path": (ns, name) == ("fb", "c1"), "table": ns == "fb"}[kind]:
                    out.append(e)
            return [e for e in out if e[3] <= last[kind]]

        for (kind, n), got in streams.items():
            assert got == view(kind), f"watcher {kind}/{n}"
        assert sum(1 for e in truth if e[0] == "DELETED") > 0 and sum(len(v) for v in streams.values()) > 1000
