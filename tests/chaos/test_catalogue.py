"""Pure pieces of `raftkv chaos`: which links a partition cuts, proxy rules, the catalogue's plans and
availability, /proc socket parsing, the report verdict, and resolving timed-out writes from the log."""

from __future__ import annotations

import random

import pytest

from raftkv.chaos.catalogue import CATALOGUE, HEAL, Machine, availability, plan
from raftkv.chaos.checkers import KV, Log, Result, check_wgl
from raftkv.chaos.checkers.history import FAIL, INDETERMINATE, OK, PUT, Op
from raftkv.chaos.checkers.wgl import resolve_indeterminate
from raftkv.chaos.nemesis.sockets import parse_proc_net_tcp, socket_inodes
from raftkv.chaos.partition import (
    PartitionError,
    between,
    bridge,
    cuts_for,
    describe,
    isolate,
    one_way_in,
    proxy_rules,
    random_partition,
    ring,
    split,
)
from raftkv.chaos.report import PASS, UNAVAILABLE, VIOLATION, RunReport, build_report

pytestmark = pytest.mark.unit
M3 = ["m1", "m2", "m3"]
M5 = ["m1", "m2", "m3", "m4", "m5"]


def connected(cut: frozenset[tuple[str, str]], a: str, b: str) -> bool:
    return (a, b) not in cut and (b, a) not in cut


def test_isolate_cuts_both_directions_between_the_target_and_everyone() -> None:
    cut = isolate("m2", M3)
    assert cut == {("m2", "m1"), ("m1", "m2"), ("m2", "m3"), ("m3", "m2")}
    assert connected(cut, "m1", "m3")


def test_one_way_in_blocks_only_what_the_target_receives() -> None:
    cut = one_way_in("m1", M3)
    assert cut == {("m2", "m1"), ("m3", "m1")}
    assert ("m1", "m2") not in cut and describe(cut) == "cut m2->m1, m3->m1"


@pytest.mark.parametrize("members", [M3, M5])
@pytest.mark.parametrize("seed", range(5))
def test_split_puts_the_leader_in_a_minority_cut_from_the_majority(members: list[str], seed: int) -> None:
    cut, minority, majority = split(members, "m2", random.Random(seed))
    assert "m2" in minority and len(minority) == (len(members) - 1) // 2
    assert sorted(minority + majority) == sorted(members)
    for a in minority:
        for b in majority:
            assert (a, b) in cut and (b, a) in cut
    for side in (minority, majority):
        assert all(connected(cut, a, b) for a in side for b in side)


@pytest.mark.parametrize("members", [M3, M5])
@pytest.mark.parametrize("seed", range(5))
def test_bridge_joins_two_halves_through_one_member_never_the_leader(members: list[str], seed: int) -> None:
    cut, middle = bridge(members, "m1", random.Random(seed))
    assert middle != "m1"
    assert all(connected(cut, middle, m) for m in members)
    others = [m for m in members if m != middle]
    cut_pairs = [(a, b) for a in others for b in others if a < b and not connected(cut, a, b)]
    assert cut_pairs, "the halves must not talk directly"
    # each half plus the bridge is a majority: a leader can serve in bridge
    assert len(cut) == 2 * (len(others) // 2) * (len(others) - len(others) // 2)


@pytest.mark.parametrize("seed", range(5))
def test_ring_of_five_gives_every_member_a_different_majority(seed: int) -> None:
    cut, order = ring(M5, random.Random(seed))
    assert sorted(order) == M5
    views = {m: frozenset({m} | {o for o in M5 if o != m and connected(cut, m, o)}) for m in M5}
    assert all(len(v) == 3 for v in views.values()), views  # itself and its two neighbours: a majority of 5
    assert len(set(views.values())) == 5  # no two members see the same majority
    assert all((a, b) in cut for a in M5 for b in M5 if a != b and not connected(cut, a, b))
    assert ("ring " + order[0]) in cuts_for("ring", M5, "m1", random.Random(seed))[1]


def test_ring_of_three_is_a_path() -> None:
    cut, order = ring(M3, random.Random(1))
    assert len(cut) == 2 and not connected(cut, order[0], order[2])
    assert connected(cut, order[0], order[1]) and connected(cut, order[1], order[2])


def test_patterns_are_reproducible_from_the_seed_and_refuse_nonsense() -> None:
    a = [random_partition(M5, random.Random(7)) for _ in range(3)]
    b = [random_partition(M5, random.Random(7)) for _ in range(3)]
    assert a == b
    shapes = {len(random_partition(M5, random.Random(s))) for s in range(40)}
    assert 0 in shapes and len(shapes) > 2
    with pytest.raises(PartitionError):
        cuts_for("isolate-leader", M3, None, random.Random(0))
    with pytest.raises(PartitionError):
        cuts_for("split", M3, "m9", random.Random(0))
    with pytest.raises(PartitionError):
        cuts_for("ring-of-fire", M3, "m1", random.Random(0))
    with pytest.raises(PartitionError):
        split(["m1"], None, random.Random(0))


def test_proxy_rules_depend_on_which_connection_carries_messages() -> None:
    cut = one_way_in("m1", M3)  # m2->m1 and m3->m1 held
    raftkv = proxy_rules(cut, M3, responses_carry_messages=False)
    assert raftkv["m1"] == ({"m2", "m3"}, frozenset())  # bytes m2/m3 dialled into m1
    assert raftkv["m2"] == (frozenset(), frozenset())
    etcd = proxy_rules(cut, M3, responses_carry_messages=True)
    assert etcd["m1"] == ({"m2", "m3"}, frozenset())
    # etcd: m2 streams to m1 on the reply of a connection m1 dialled to m2
    assert etcd["m2"] == (frozenset(), {"m1"}) and etcd["m3"] == (frozenset(), {"m1"})
    assert between(["a"], ["a"]) == frozenset()


PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 123456 1 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0
   2: garbage
"""


def test_proc_net_tcp_maps_port_pairs_to_inodes() -> None:
    table = parse_proc_net_tcp(PROC_NET_TCP)
    assert table[(0xA1B2, 0x1F90)] == 123456
    assert table[(0x1F90, 0)] == 999
    assert socket_inodes({"3": "socket:[123456]", "4": "/dev/null", "5": "pipe:[7]"}) == {123456}


def test_every_scenario_plans_its_faults_inside_the_phase_and_heals_at_the_end() -> None:
    for name, s in CATALOGUE.items():
        steps = plan(s, 3.0)
        if not s.faults:
            assert steps == [] and name == "baseline"
            continue
        assert all(0 < at <= 3.0 for at, _ in steps), name
        assert [a for at, a in steps if at == 3.0][-len(HEAL):] == list(HEAL), name
        fault_kinds = {a.kind for g in s.faults for a in g}
        assert any(a.kind in fault_kinds for _, a in steps), name
    flapping = plan(CATALOGUE["flapping"], 3.0)
    assert sum(a.kind == "partition" for _, a in flapping) >= 8
    kill = plan(CATALOGUE["kill-leader"], 30.0)
    kills = [at for at, a in kill if a.kind == "kill"]
    restarts = [at for at, a in kill if a.kind == "restart" and at < 30.0]
    assert len(kills) >= 9 and all(r - k == pytest.approx(1.0) for k, r in zip(kills, restarts, strict=False))
    assert len([a for _, a in plan(CATALOGUE["snapshot-catchup"], 60.0) if a.kind == "kill"]) == 1


def test_availability_says_why_and_endpoints_allow_only_client_side_scenarios() -> None:
    here = Machine(root=True, faketime=True, fuse=True)
    assert all(availability(s, "raftkv", here) is None for s in CATALOGUE.values())
    assert all(availability(s, "etcd", here) is None for n, s in CATALOGUE.items() if n != "clock")
    assert "FUSE" in (availability(CATALOGUE["kill-all-lazyfs"], "etcd", Machine(True, True)) or "")
    assert "FUSE" in (availability(CATALOGUE["kill-all-fsync-error"], "raftkv", Machine(True, True)) or "")
    assert "libfaketime" in (availability(CATALOGUE["clock"], "raftkv", Machine(True, False)) or "")
    assert "root" in (availability(CATALOGUE["disk-full"], "raftkv", Machine(False, True)) or "")
    assert "Go" in (availability(CATALOGUE["clock"], "etcd", here) or "")
    remote = Machine(True, True, endpoints_only=True)
    assert [n for n, s in CATALOGUE.items() if availability(s, "raftkv", remote) is None] == ["baseline"]
    assert "process control" in (availability(CATALOGUE["kill-leader"], "raftkv", remote) or "")


def _op(c: int, kind: str, t: tuple[float, float], outcome: str, rev: int = 0, value: str = "") -> Op:
    return Op(c, kind, ("/k",), t[0], t[1], outcome, value=value or None, revision=rev)


def test_report_verdict_recovery_and_progress() -> None:
    base = RunReport("kill-leader", "raftkv", 3, 1, 3.0, 0.5, "local cluster")
    ops = [_op(1, PUT, (0.1, 0.2), OK, 2, "a"), _op(1, PUT, (1.1, 1.2), OK, 3, "b"),
           _op(2, PUT, (1.5, 2.5), INDETERMINATE, 0, "c"), _op(1, PUT, (3.1, 3.4), OK, 4, "d")]
    r = build_report(base, ops, t0=0.0, end=4.0, fault_times=[1.0], heal_at=3.0, failed_actions=[], refused={},
                     refusal_allowed=False, progress_required=True, max_recovery_et=2.0, op_timeout_s=1.0)
    r.checkers = [Result("witness", True)]
    assert r.recovery_s == pytest.approx(0.4) and r.recovery_bound_s == pytest.approx(2.0)
    assert r.ops == {"total": 4, "ok": 3, "failed": 0, "indeterminate": 1, "watchers": 0}
    assert r.windows["during faults"].ok_ops == 1 and r.verdict == PASS and r.exit_code == 0
    assert "recovery after the final heal: 0.40 s" in r.render()
    r.checkers.append(Result("wgl", None))
    assert r.verdict == VIOLATION and r.exit_code == 1  # unknown is never a pass
    never = build_report(RunReport("x", "raftkv", 3, 1, 3.0, 0.5, "local"), ops[:2], 0.0, 4.0, [1.0], 2.0, [],
                         {}, False, True, 2.0, 1.0)
    never.checkers = [Result("witness", True)]
    held = {n: h for n, h, _ in never.criteria}
    assert held["serves again after heal"] is False and held["a majority kept serving during the faults"] is True
    assert never.recovery_s is None and never.verdict == VIOLATION
    stuck = build_report(RunReport("x", "raftkv", 3, 1, 3.0, 0.5, "local"), ops[:2], 0.0, 4.0, [1.0], 2.0,
                         ["kill FAILED: boom"], {"m2": "exited 1"}, False, True, 2.0, 1.0)
    stuck.checkers = [Result("witness", True)]
    held = {n: h for n, h, _ in stuck.criteria}
    assert not held["serves again after heal"] and not held["every fault injected"]
    assert not held["damaged member repaired itself or refused to start"] and stuck.verdict == VIOLATION
    gone = RunReport("clock", "etcd", 3, 1, 3.0, 0.5, "local", unavailable="no")
    assert gone.verdict == UNAVAILABLE and gone.exit_code == 2 and "not available" in gone.render()


def test_timed_out_writes_are_resolved_from_the_log_or_dropped() -> None:
    ops = [_op(1, PUT, (0.0, 1.0), OK, 2, "a"),
           _op(2, PUT, (0.5, 9.0), INDETERMINATE, 0, "b"),  # in the log at 3
           _op(3, PUT, (0.6, 9.0), INDETERMINATE, 0, "x"),  # never applied
           _op(1, PUT, (2.0, 2.5), OK, 4, "c"),  # first response at revision >= 3 completes at 2.5
           _op(4, PUT, (0.7, 0.8), FAIL, 0, "y")]
    log = Log({2: [("/k", "a")], 3: [("/k", "b")], 4: [("/k", "c")]})
    out, removed, resolved = resolve_indeterminate(ops, log)
    assert (removed, resolved) == (1, 1)
    b = next(op for op in out if op.value == "b")
    assert b.outcome == OK and b.revision == 3 and b.complete == 2.5
    assert check_wgl(ops, log=log).valid is True
    # a read of a value no write ever wrote still fails with the log in hand
    bad = [*ops, Op(5, "get", ("/k",), 3.0, 3.1, OK, revision=4,
                    reads=(KV("/k", "x", 3),))]
    assert check_wgl(bad, log=log).valid is False
