"""The wire handler in process: cached answers keep the asker's ID and name case, follow index changes, and garbage
gets FORMERR without touching the cache."""

from __future__ import annotations

import asyncio

import dns.flags
import dns.message
import dns.rcode

from agents.dns import records, resolver, server


def idx(ip: str) -> records.Index:
    return records.build([{"metadata": {"namespace": "a", "name": "b"},
                           "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80}]}}], [])


def test_cache_keeps_id_and_case_and_follows_the_index() -> None:
    current = [idx("10.0.0.5")]
    h = server.Handler(lambda: current[0], resolver.Settings(), lambda: 1, [])

    async def ask(name: str) -> dns.message.Message:
        q = dns.message.make_query(name, "A")
        out = await h.answer(q.to_wire(), tcp=False)
        assert out is not None
        r = dns.message.from_wire(out)
        assert r.id == q.id
        return r

    async def main() -> None:
        first = await ask("b.a.svc.cluster.local.")
        again = await ask("B.A.svc.cluster.local.")
        assert len(h._cache) == 1
        assert first.answer[0].to_text() == "b.a.svc.cluster.local. 5 IN A 10.0.0.5"
        assert again.answer[0].to_text() == "B.A.svc.cluster.local. 5 IN A 10.0.0.5"
        current[0] = idx("10.0.0.6")
        assert (await ask("b.a.svc.cluster.local.")).answer[0].to_text().endswith("10.0.0.6")
        assert (await ask("nope.a.svc.cluster.local.")).rcode() == dns.rcode.NXDOMAIN
        bad = await h.answer(b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", tcp=False)
        assert bad is not None and bad[:2] == b"\x00\x07" and bad[3] & 0x0F == dns.rcode.FORMERR
    asyncio.run(main())


def test_too_large_for_udp_is_truncated() -> None:
    slices = [{"metadata": {"namespace": "a", "name": "hl-x", "labels": {"kubernetes.io/service-name": "hl"}},
               "addressType": "IPv4", "ports": [{"name": "http", "port": 80}],
               "endpoints": [{"addresses": [f"10.244.0.{i}"], "conditions": {"ready": True}} for i in range(1, 200)]}]
    index = records.build([{"metadata": {"namespace": "a", "name": "hl"},
                            "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}}], slices)
    h = server.Handler(lambda: index, resolver.Settings(), lambda: 1, [])
    q = dns.message.make_query("hl.a.svc.cluster.local.", "A")
    udp = dns.message.from_wire(asyncio.run(h.answer(q.to_wire(), tcp=False)) or b"")
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = dns.message.from_wire(asyncio.run(h.answer(q.to_wire(), tcp=True)) or b"")
    assert len(tcp.answer[0]) == 199


def test_forwarding_to_a_real_upstream_over_udp_and_tcp() -> None:
    """A second handler on loopback plays the upstream: names outside the zone go there and come back."""
    async def main() -> None:
        upstream_index = records.build([{"metadata": {"namespace": "x", "name": "y"},
                                         "spec": {"clusterIP": "10.9.9.9", "ports": [{"port": 80}]}}], [])
        up = server.Handler(lambda: upstream_index, resolver.Settings(zone="example.test."), lambda: 1, [])
        listeners = await server.listen(up, "127.0.0.1", 0)
        try:
            h = server.Handler(lambda: idx("10.0.0.5"), resolver.Settings(), lambda: 1, ["127.0.0.1"],
                               forward_timeout=2, upstream_port=listeners.port)
            for over_tcp in (False, True):
                q = dns.message.make_query("y.x.svc.example.test.", "A")
                r = dns.message.from_wire(await h.answer(q.to_wire(), tcp=over_tcp) or b"")
                assert r.answer[0].to_text() == "y.x.svc.example.test. 5 IN A 10.9.9.9"
            assert not h._cache and h.stats.forwarded == 2  # forwarded answers are not kept
        finally:
            listeners.close()
    asyncio.run(main())
