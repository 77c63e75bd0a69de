"""A run's report: metrics and verdict derived purely from the history, the nemesis record and the checkers.

No I/O here: `build_report` takes everything as values (times in the loop's clock) and returns a `RunReport`
whose `to_dict` is report.json and whose `render` is what `raftkv chaos run` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raftkv.chaos.checkers.history import FAIL, INDETERMINATE, OK, WATCH, Op, Result

PASS = "pass"
VIOLATION = "FAIL"
UNAVAILABLE = "not available"


@dataclass(frozen=True)
class Window:
    seconds: float
    ok_ops: int

    @property
    def rate(self) -> float:
        return self.ok_ops / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RunReport:
    scenario: str
    impl: str
    members: int
    seed: int
    duration_s: float
    election_timeout_s: float
    target: str  # "local cluster" or the endpoints
    faults: list[tuple[float, str]] = field(default_factory=list)
    ops: dict[str, int] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)
    recovery_s: float | None = None
    recovery_bound_s: float = 0.0
    checkers: list[Result] = field(default_factory=list)
    criteria: list[tuple[str, bool, str]] = field(default_factory=list)  # name, held, detail
    notes: list[str] = field(default_factory=list)
    unavailable: str | None = None

    @property
    def verdict(self) -> str:
        if self.unavailable is not None:
            return UNAVAILABLE
        ok = all(r.valid is True for r in self.checkers) and all(held for _, held, _ in self.criteria)
        return PASS if ok and self.checkers else VIOLATION

    @property
    def exit_code(self) -> int:
        return {PASS: 0, VIOLATION: 1}.get(self.verdict, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "impl": self.impl, "members": self.members, "seed": self.seed,
            "duration_s": self.duration_s, "election_timeout_s": self.election_timeout_s, "target": self.target,
            "verdict": self.verdict, "unavailable": self.unavailable,
            "faults": [{"t": round(t, 3), "what": w} for t, w in self.faults],
            "ops": self.ops,
            "throughput_ops_s": {k: round(w.rate, 1) for k, w in self.windows.items()},
            "windows_s": {k: round(w.seconds, 3) for k, w in self.windows.items()},
            "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 3),
            "recovery_bound_s": round(self.recovery_bound_s, 3),
            "checkers": [{"checker": r.checker, "valid": r.valid, "info": r.info,
                          "violations": [str(v) for v in r.violations[:50]]} for r in self.checkers],
            "criteria": [{"criterion": n, "held": h, "detail": d} for n, h, d in self.criteria],
            "notes": self.notes,
        }

    def render(self) -> str:
        lines = [f"scenario {self.scenario} on {self.impl} ({self.members} members, {self.target}), "
                 f"seed {self.seed}, fault phase {self.duration_s:g} s, election timeout "
                 f"{self.election_timeout_s * 1000:g} ms"]
        if self.unavailable is not None:
            return "\n".join([*lines, f"verdict: not available: {self.unavailable}"])
        lines.append("faults:")
        lines += [f"  +{t:6.2f}s  {w}" for t, w in self.faults] or ["  (none)"]
        o = self.ops
        lines.append(f"ops: {o.get('total', 0)} total, {o.get('ok', 0)} ok, {o.get('failed', 0)} failed, "
                     f"{o.get('indeterminate', 0)} indeterminate; watchers {o.get('watchers', 0)}")
        lines.append("throughput (ok ops/s): " + ", ".join(f"{k} {w.rate:.0f} over {w.seconds:.1f} s"
                                                            for k, w in self.windows.items()))
        rec = "never (no write acknowledged after the heal)" if self.recovery_s is None else f"{self.recovery_s:.2f} s"
        lines.append(f"recovery after the final heal: {rec} (bound {self.recovery_bound_s:.2f} s)")
        lines.append("checkers:")
        for r in self.checkers:
            verdict = "ok" if r.valid else "UNKNOWN" if r.valid is None else "FAIL"
            lines.append(f"  {r.checker:12s} {verdict:8s} {r.info}")
            lines += [f"      {v}" for v in r.violations[:10]]
            if len(r.violations) > 10:
                lines.append(f"      ... {len(r.violations) - 10} more in report.json")
        lines.append("criteria:")
        lines += [f"  {'ok  ' if h else 'FAIL'} {n}: {d}" for n, h, d in self.criteria]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)


def _count(ops: list[Op], lo: float, hi: float) -> Window:
    return Window(max(0.0, hi - lo), sum(1 for op in ops if op.outcome == OK and lo <= op.complete < hi))


def build_report(base: RunReport, history: list[Op], t0: float, end: float, fault_times: list[float],
                 heal_at: float | None, failed_actions: list[str], refused: dict[str, str], refusal_allowed: bool,
                 progress_required: bool, max_recovery_et: float, op_timeout_s: float) -> RunReport:
    """Fill the metrics and criteria of `base` (loop times: t0 = workload start, end = workload stop;
    fault_times = when each fault was injected; heal_at = when the final heal completed)."""
    r = base
    ops = [op for op in history if op.kind != WATCH]
    r.ops = {"total": len(ops), "ok": sum(op.outcome == OK for op in ops),
             "failed": sum(op.outcome == FAIL for op in ops),
             "indeterminate": sum(op.outcome == INDETERMINATE for op in ops),
             "watchers": sum(1 for op in history if op.kind == WATCH)}
    first_fault = min(fault_times, default=None)
    if first_fault is None:
        r.windows = {"whole run": _count(ops, t0, end)}
    else:
        healed = heal_at if heal_at is not None else end
        r.windows = {"before faults": _count(ops, t0, first_fault), "during faults": _count(ops, first_fault, healed),
                     "after heal": _count(ops, healed, end)}
    r.recovery_bound_s = max_recovery_et * r.election_timeout_s + op_timeout_s
    if heal_at is not None:
        acked = [op.complete for op in ops if op.outcome == OK and op.is_write and op.complete >= heal_at]
        r.recovery_s = (min(acked) - heal_at) if acked else None
        held = r.recovery_s is not None and r.recovery_s <= r.recovery_bound_s
        r.criteria.append(("serves again after heal", held,
                           f"first acknowledged write {'never' if r.recovery_s is None else f'{r.recovery_s:.2f} s'}"
                           f" after the heal; bound {max_recovery_et:g} election timeouts + one op timeout = "
                           f"{r.recovery_bound_s:.2f} s"))
    elif fault_times:
        r.criteria.append(("serves again after heal", False, "the final heal never completed"))
    if fault_times or failed_actions:
        r.criteria.append(("every fault injected", not failed_actions,
                           "; ".join(failed_actions) if failed_actions else f"{len(fault_times)} faults"))
    if progress_required and first_fault is not None:
        w = r.windows["during faults"]
        writes = sum(1 for op in ops if op.outcome == OK and op.is_write
                     and first_fault <= op.complete < (heal_at if heal_at is not None else end))
        r.criteria.append(("a majority kept serving during the faults", writes > 0,
                           f"{writes} writes acknowledged, {w.rate:.0f} ok ops/s"))
    if refused:
        detail = "; ".join(f"{n}: {why}" for n, why in sorted(refused.items()))
        r.criteria.append(("damaged member repaired itself or refused to start",
                           refusal_allowed, ("refused (allowed): " if refusal_allowed else "") + detail))
    return r
