"""`raftkv status`: one line per component — PID, health (its readiness check now), leader, RSS and CPU (% of
one core over a sample, 1 s or --sample S, and the total) — then the totals, the resource budget of issue #18."""

from __future__ import annotations

import time

from raftkv.up import procs
from raftkv.up.checks import Probe
from raftkv.up.layout import Layout
from raftkv.up.plan import Plan, apiserver_urls

LEASES = {"controller-manager": "kube-controller-manager", "scheduler": "kube-scheduler"}
SAMPLE_S = 1.0
SUPERVISOR = "raftkv-up (supervisor)"


def _current_run(log: str) -> str:
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    return text[text.rfind("--- raftkv up: starting"):]


def leaders(layout: Layout, plan: Plan, state: procs.State, probe: Probe) -> dict[str, str]:
    """Component name -> what it leads. Members: the Raft leader by member id. Controller managers and
    schedulers: the one whose current run acquired the role's Lease while the Lease has a holder."""
    out: dict[str, str] = {}
    ids: dict[int, str] = {}
    leader_id = 0
    for m in layout.members:
        try:
            st = probe.member_status(f"127.0.0.1:{m['client']}")
        except Exception:  # noqa: BLE001 - a member that does not answer leads nothing
            continue
        if st is not None:
            ids[st.header.member_id] = m["name"]
            leader_id = st.leader
    if leader_id in ids:
        out[ids[leader_id]] = "raft leader"
    servers = apiserver_urls(layout)
    for role, lease in LEASES.items():
        body = probe.api(servers, f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
        if not body or not body.get("spec", {}).get("holderIdentity"):
            continue
        for p in plan.procs:
            rec = state.procs.get(p.name)
            if p.role == role and rec and procs.alive(rec) and \
                    f"successfully acquired lease kube-system/{lease}" in _current_run(p.log):
                out[p.name] = f"lease {lease}"
    return out


def render(d: str, layout: Layout, plan: Plan, state: procs.State, probe: Probe, sample: float = SAMPLE_S) -> str:
    recs = {p.name: state.procs.get(p.name) for p in plan.procs}
    if state.supervisor is not None:
        recs[SUPERVISOR] = state.supervisor
    live = {n: r for n, r in recs.items() if r is not None and procs.alive(r)}
    shims = [pid for pid in procs.cmdline_mentions(f"{d}/nodes/") if pid not in {r.pid for r in live.values()}]
    before = {n: procs.cpu_seconds(r.pid) for n, r in live.items()}
    shim_before = sum(procs.cpu_seconds(p) for p in shims)
    time.sleep(sample)
    cpu = {n: (procs.cpu_seconds(r.pid) - before[n]) / sample * 100 for n, r in live.items()}
    shim_cpu = (sum(procs.cpu_seconds(p) for p in shims) - shim_before) / sample * 100
    lead = leaders(layout, plan, state, probe)
    sup = state.supervisor
    lines = [f"cluster {d}: supervisor " + (f"`raftkv up` PID {sup.pid}" if sup and procs.alive(sup)
                                             else "not running (components restart only with `raftkv up`)"),
             f"{'COMPONENT':<26} {'PID':>7} {'HEALTH':<9} {'LEADER':<28} {'RSS':>8} {'CPU':>6} {'CPU TIME':>9}"]
    total_rss = 0
    total_cpu = 0.0
    for p in [*plan.procs, None]:
        if p is None:  # the supervisor: part of the budget, no check of its own
            r = live.get(SUPERVISOR)
            if r is not None:
                rss = procs.rss_kib(r.pid)
                total_rss += rss
                total_cpu += cpu[SUPERVISOR]
                lines.append(f"{SUPERVISOR:<26} {r.pid:>7} {'ok':<9} {'':<28} {rss / 1024:>6.0f}Mi "
                             f"{cpu[SUPERVISOR]:>5.1f}% {procs.cpu_seconds(r.pid):>8.1f}s")
            continue
        r = live.get(p.name)
        if r is None:
            lines.append(f"{p.name:<26} {'-':>7} {'down':<9}")
            continue
        healthy = probe.check(p.check, p.log, 0) if p.check.kind != "log" else True
        rss = procs.rss_kib(r.pid)
        total_rss += rss
        total_cpu += cpu[p.name]
        lines.append(f"{p.name:<26} {r.pid:>7} {'ok' if healthy else 'unhealthy':<9} {lead.get(p.name, ''):<28} "
                     f"{rss / 1024:>6.0f}Mi {cpu[p.name]:>5.1f}% {procs.cpu_seconds(r.pid):>8.1f}s")
    if shims:
        rss = sum(procs.rss_kib(pid) for pid in shims)
        total_rss += rss
        total_cpu += shim_cpu
        lines.append(f"{'containers (' + str(len(shims)) + ' shims)':<26} {'':>7} {'':<9} {'':<28} "
                     f"{rss / 1024:>6.0f}Mi {shim_cpu:>5.1f}%")
    lines.append(f"{'total':<26} {len(live):>7} {'':<9} {'':<28} {total_rss / 1024:>6.0f}Mi {total_cpu:>5.1f}%")
    return "\n".join(lines)
