"""Golden rule sets: Services + EndpointSlices → the iptables-restore text kube-proxy 1.32 writes.

The chain names below are the ones kube-proxy's own tests expect for the same service port names (its hashes), so
a mismatch in hashing, ordering of inputs to the hash or protocol case shows here.
"""

from __future__ import annotations

from typing import Any

from agents.proxy import model, rules

CFG = rules.Config("node1", cluster_cidr="10.0.0.0/8")


def svc(name: str, ip: str, *ports: dict[str, Any], ns: str = "ns1", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip, "ports": list(ports), **spec}}


def eps(svc_name: str, port: dict[str, Any], *endpoints: dict[str, Any], ns: str = "ns1") -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": f"{svc_name}-abc",
                         "labels": {"kubernetes.io/service-name": svc_name}},
            "addressType": "IPv4", "ports": [port], "endpoints": list(endpoints)}


def ep(ip: str, ready: bool = True, node: str = "node1", terminating: bool = False,
       serving: bool | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {"ready": ready, "terminating": terminating}
    if serving is not None:
        cond["serving"] = serving
    return {"addresses": [ip], "conditions": cond, "nodeName": node}


P80 = {"name": "p80", "port": 80, "protocol": "TCP"}


def text(services: list[dict[str, Any]], slices: list[dict[str, Any]], cfg: rules.Config = CFG) -> str:
    return rules.compute(model.build(services, slices), cfg).text


def nat(t: str) -> list[str]:
    return t.split("*nat\n", 1)[1].splitlines()


def filt(t: str) -> list[str]:
    return t.split("*nat\n", 1)[0].splitlines()


GOLDEN_ONE = """\
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
"""


def test_one_service_one_endpoint_golden() -> None:
    assert text([svc("svc1", "172.30.0.41", P80)], [eps("svc1", P80, ep("10.180.0.1"))]) == GOLDEN_ONE


def test_chain_hashes_match_kube_proxy() -> None:
    sp = model.build([svc("svc1", "172.30.0.41", P80)], [eps("svc1", P80, ep("10.180.0.1"))])[0]
    assert rules.svc_chain(sp) == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert rules.ext_chain(sp) == "KUBE-EXT-XPGD46QRK7WJZT7O"
    assert rules.sep_chain(sp, sp.endpoints[0]) == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    udp = model.build([svc("svc1", "172.30.0.41", {**P80, "protocol": "UDP"})], [])[0]
    assert rules.svc_chain(udp) != rules.svc_chain(sp)


def test_random_probability_spreads_over_ready_endpoints_only() -> None:
    t = text([svc("svc1", "172.30.0.41", P80)],
             [eps("svc1", P80, ep("10.180.0.1"), ep("10.180.0.2"), ep("10.180.0.3"), ep("10.180.0.4", ready=False),
                  ep("10.180.0.5", ready=False, terminating=True, serving=True))])
    svc_rules = [r for r in nat(t) if r.startswith("-A KUBE-SVC-") and "->" in r]
    assert [r.split("-> ")[1].split('"')[0] for r in svc_rules] == ["10.180.0.1:80", "10.180.0.2:80", "10.180.0.3:80"]
    assert "--probability 0.3333333333" in svc_rules[0]
    assert "--probability 0.5000000000" in svc_rules[1]
    assert "statistic" not in svc_rules[2]
    assert "10.180.0.4" not in t and "10.180.0.5" not in t


def test_terminating_serving_endpoints_are_the_fallback_when_none_is_ready() -> None:
    t = text([svc("svc1", "172.30.0.41", P80)],
             [eps("svc1", P80, ep("10.180.0.5", ready=False, terminating=True, serving=True),
                  ep("10.180.0.6", ready=False, terminating=True, serving=False))])
    assert "--to-destination 10.180.0.5:80" in t and "10.180.0.6" not in t


def test_no_endpoints_rejects_in_filter_and_writes_no_nat_chains() -> None:
    t = text([svc("svc1", "172.30.0.41", P80, type="NodePort") | {}], [])
    s = svc("svc1", "172.30.0.41", {**P80, "nodePort": 30001}, type="NodePort")
    t = text([s], [])
    assert ('-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.41 '
            '--dport 80 -j REJECT') in filt(t)
    assert ('-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type '
            'LOCAL -m tcp -p tcp --dport 30001 -j REJECT') in filt(t)
    assert not [r for r in nat(t) if "KUBE-SVC-" in r or "KUBE-EXT-" in r]


def test_nodeport_cluster_policy_masquerades_through_ext_chain() -> None:
    s = svc("svc2", "172.30.0.42", {**P80, "nodePort": 3001}, type="NodePort")
    sp = model.build([s], [])[0]
    ext, svcc = rules.ext_chain(sp), rules.svc_chain(sp)
    t = text([s], [eps("svc2", P80, ep("10.180.0.2"))])
    lines = nat(t)
    assert f"-A KUBE-NODEPORTS -m comment --comment ns1/svc2:p80 -m tcp -p tcp --dport 3001 -j {ext}" in lines
    assert (f'-A {ext} -m comment --comment "masquerade traffic for ns1/svc2:p80 external destinations" '
            '-j KUBE-MARK-MASQ') in lines
    assert f"-A {ext} -j {svcc}" in lines


def test_external_traffic_policy_local() -> None:
    s = svc("svc3", "172.30.0.43", {**P80, "nodePort": 3003}, type="NodePort", externalTrafficPolicy="Local")
    sp = model.build([s], [])[0]
    ext, svcc, svl = rules.ext_chain(sp), rules.svc_chain(sp), rules.svl_chain(sp)
    t = text([s], [eps("svc3", P80, ep("10.180.0.3"), ep("10.180.1.3", node="node2"))])
    lines = nat(t)
    assert lines.index(f'-A {ext} -m comment --comment "pod traffic for ns1/svc3:p80 external destinations" '
                       f'-s 10.0.0.0/8 -j {svcc}') < lines.index(f"-A {ext} -j {svl}")
    assert (f'-A {ext} -m comment --comment "masquerade LOCAL traffic for ns1/svc3:p80 external destinations" '
            '-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ') in lines
    assert (f'-A {ext} -m comment --comment "route LOCAL traffic for ns1/svc3:p80 external destinations" '
            f'-m addrtype --src-type LOCAL -j {svcc}') in lines
    svl_rules = [r for r in lines if r.startswith(f"-A {svl} ")]
    assert len(svl_rules) == 1 and "10.180.0.3:80" in svl_rules[0]
    svc_rules = [r for r in lines if r.startswith(f"-A {svcc} ") and "->" in r]
    assert len(svc_rules) == 2
    # no local endpoint: external traffic dropped in filter, the ClusterIP still works
    t2 = text([s], [eps("svc3", P80, ep("10.180.1.3", node="node2"))])
    assert ('-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc3:p80 has no local endpoints" -m addrtype '
            '--dst-type LOCAL -m tcp -p tcp --dport 3003 -j DROP') in filt(t2)
    assert f"-A {ext} -j {svl}" not in nat(t2)
    assert any("cluster IP" in r and r.startswith("-A KUBE-SERVICES") for r in nat(t2))


def test_internal_traffic_policy_local() -> None:
    s = svc("svc4", "172.30.0.44", P80, internalTrafficPolicy="Local")
    sp = model.build([s], [])[0]
    t = text([s], [eps("svc4", P80, ep("10.180.0.4"), ep("10.180.1.4", node="node2"))])
    assert (f'-A KUBE-SERVICES -m comment --comment "ns1/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 '
            f'--dport 80 -j {rules.svl_chain(sp)}') in nat(t)
    assert "10.180.1.4" not in t
    t2 = text([s], [eps("svc4", P80, ep("10.180.1.4", node="node2"))])
    assert ('-A KUBE-SERVICES -m comment --comment "ns1/svc4:p80 has no local endpoints" -m tcp -p tcp '
            '-d 172.30.0.44 --dport 80 -j DROP') in filt(t2)


def test_session_affinity_client_ip() -> None:
    s = svc("svc5", "172.30.0.45", P80, sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}})
    t = text([s], [eps("svc5", P80, ep("10.180.0.5"), ep("10.180.0.6"))])
    sp = model.build([s], [eps("svc5", P80, ep("10.180.0.5"), ep("10.180.0.6"))])[0]
    sep = rules.sep_chain(sp, sp.endpoints[0])
    lines = nat(t)
    check = (f'-A {rules.svc_chain(sp)} -m comment --comment "ns1/svc5:p80 -> 10.180.0.5:80" -m recent --name {sep} '
             f'--rcheck --seconds 600 --reap -j {sep}')
    first_balance = next(i for i, r in enumerate(lines) if "statistic" in r)
    assert lines.index(check) < first_balance
    assert (f"-A {sep} -m comment --comment ns1/svc5:p80 -m recent --name {sep} --set -m tcp -p tcp -j DNAT "
            "--to-destination 10.180.0.5:80") in lines
    default = text([svc("svc5", "172.30.0.45", P80, sessionAffinity="ClientIP")], [eps("svc5", P80, ep("10.1.0.5"))])
    assert "--seconds 10800" in default


def test_hairpin_masquerade_for_each_endpoint() -> None:
    t = text([svc("svc1", "172.30.0.41", P80)], [eps("svc1", P80, ep("10.180.0.1"), ep("10.180.0.2"))])
    assert len([r for r in nat(t) if r.startswith("-A KUBE-SEP-") and "-s 10.180.0." in r and "MARK-MASQ" in r]) == 2


def test_bad_input_keeps_the_other_rules() -> None:
    good = svc("good", "172.30.0.50", P80)
    services = [
        good,
        svc("noselector", "172.30.0.51", P80),                          # selects nothing: no slices at all
        svc("headless", "None", P80),
        {"metadata": {"namespace": "ns1", "name": "ext"}, "spec": {"type": "ExternalName", "externalName": "x.y"}},
        svc("badip", "not-an-ip", P80),
        svc("badport", "172.30.0.52", {"name": "x", "port": 70000}),
        svc("unnamed", "172.30.0.53", {"name": "nope", "port": 81, "protocol": "TCP"}),  # no pod defines "nope"
    ]
    slices = [eps("good", P80, ep("10.180.0.9"), {"addresses": ["999.1.1.1"], "conditions": {"ready": True}},
                  {"addresses": [], "conditions": {}}, "garbage"),  # type: ignore[arg-type]
              eps("unnamed", P80, ep("10.180.0.8"))]
    t = text(services, slices)
    assert "--to-destination 10.180.0.9:80" in t
    assert "999.1.1.1" not in t and "10.180.0.8" not in t
    assert '"ns1/noselector:p80 has no endpoints"' in t and '"ns1/unnamed:nope has no endpoints"' in t
    assert "headless" not in t and "ns1/ext" not in t and "badip" not in t and "badport" not in t


def test_stale_chains_are_flushed_and_deleted_not_ours_kept() -> None:
    rs = rules.compute([], CFG, stale=["KUBE-SVC-AAAAAAAAAAAAAAAA", "KUBE-SEP-BBBBBBBBBBBBBBBB", "MY-CHAIN"])
    lines = nat(rs.text)
    assert ":KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]" in lines and "-X KUBE-SVC-AAAAAAAAAAAAAAAA" in lines
    assert "-X KUBE-SEP-BBBBBBBBBBBBBBBB" in lines and "MY-CHAIN" not in rs.text


def test_nodeport_addresses_and_large_cluster_mode() -> None:
    cfg = rules.Config("node1", nodeport_addresses=("192.168.1.5",), localhost_nodeports=False)
    t = text([svc("svc1", "172.30.0.41", P80)], [eps("svc1", P80, ep("10.180.0.1"))], cfg)
    assert ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule '
            'in this chain" -d 192.168.1.5 -j KUBE-NODEPORTS') in nat(t)
    assert "KUBE-FIREWALL" not in t and "! -s 10.0.0.0/8" not in t
    many = [ep(f"10.1.{i // 250}.{i % 250 + 1}") for i in range(1001)]
    big = text([svc("svc1", "172.30.0.41", P80)], [eps("svc1", P80, *many)])
    assert not [r for r in nat(big) if r.startswith("-A KUBE-SEP-") and "comment" in r]


def test_partial_sync_rewrites_only_changed_services() -> None:
    services = [svc("svc1", "172.30.0.41", P80), svc("svc2", "172.30.0.42", P80)]
    before = model.build(services, [eps("svc1", P80, ep("10.180.0.1")), eps("svc2", P80, ep("10.180.0.2"))])
    after = model.build(services, [eps("svc1", P80, ep("10.180.0.1")), eps("svc2", P80, ep("10.180.0.3"))])
    full_before = rules.compute(before, CFG)
    partial = rules.compute(after, CFG, stale=full_before.nat_chains, unchanged=frozenset(before) & frozenset(after))
    lines = nat(partial.text)
    svc1 = [sp for sp in after if sp.name == "svc1"][0]
    assert f":{rules.svc_chain(svc1)} - [0:0]" not in lines          # untouched: kept by --noflush
    assert any(r.startswith("-A KUBE-SERVICES") and "ns1/svc1:p80 cluster IP" in r for r in lines)
    assert "--to-destination 10.180.0.3:80" in partial.text
    old_sep = rules.sep_chain(before[1], before[1].endpoints[0])
    assert f"-X {old_sep}" in lines                                 # the gone endpoint's chain is deleted
    assert rules.svc_chain(svc1) in partial.nat_chains and f"-X {rules.svc_chain(svc1)}" not in lines


def test_memo_gives_the_same_text_and_forgets_gone_ports() -> None:
    services = [svc("svc1", "172.30.0.41", P80), svc("svc2", "172.30.0.42", P80, sessionAffinity="ClientIP")]
    slices = [eps("svc1", P80, ep("10.180.0.1")), eps("svc2", P80, ep("10.180.0.2"), ep("10.180.0.3"))]
    ports = model.build(services, slices)
    memo: rules.Memo = {}
    assert rules.compute(ports, CFG, memo=memo).text == rules.compute(ports, CFG).text
    assert rules.compute(ports, CFG, memo=memo).text == rules.compute(ports, CFG).text  # from the memo
    assert len(memo) == 2
    rules.compute(ports[:1], CFG, memo=memo)
    assert len(memo) == 1
