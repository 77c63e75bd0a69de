"""The scenario catalogue, as data: name -> what to break, when to heal, what the cluster needs, what must hold.

A `Scenario` holds no code to run: a pure `plan()` turns it into timed `Action`s for a fault phase of a given
length, and `availability()` says (from facts about the machine passed in) whether its fault can be injected
here. A scenario that cannot be injected is listed with the reason and never reported as passing.

Every scenario's pass criteria: no violation and no unknown from any checker (linearizability by revision
witness and WGL search, watch guarantees, no acknowledged write lost, HashKV equal after heal, revisions
monotonic, no traceback/panic in member logs), every fault actually injected, and the cluster acknowledging a
write within `max_recovery_et` election timeouts (+ one client op timeout, the client's detection delay)
after the final heal. Some add: progress during the fault (a majority stayed connected).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftkv.chaos.actions import Action, act

HEAL = (act("resume"), act("heal-network"), act("free-disk"), act("quota-recover"), act("restart", heals=True))


# Backend bytes the workload fills in ~1-2 s: etcd's bbolt starts near 20 KiB and grows ~110 B per revision;
# raftkv's figure counts the SQLite file and its WAL (~33 KiB at start, ~400 B per revision until a checkpoint).
QUOTA_BYTES = {"etcd": 64 * 1024, "raftkv": 256 * 1024}


@dataclass(frozen=True)
class Criteria:
    max_recovery_et: float = 2.0  # election timeouts from the final heal to the next acknowledged write
    progress_during_fault: bool = False  # some write must be acknowledged while the fault is on
    refusal_allowed: bool = False  # a damaged member may refuse to start (with a clear error, no traceback)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    faults: tuple[tuple[Action, ...], ...]  # one group per period, taken in turn
    recover: tuple[Action, ...] = ()  # after hold_s of every fault group
    period_s: float = 3.0
    hold_s: float = 1.5
    once: bool = False  # inject the first group only once
    needs_proxy: bool = False
    needs_process: bool = True
    needs: tuple[str, ...] = ()  # machine facts: "root" (mount a tmpfs), "faketime" (libfaketime present),
    #                               "fuse" (root, /dev/fuse, libfuse2 and fusepy: lazyfs)
    flags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # impl -> extra member flags
    tmpfs_member_bytes: int = 0  # data dir of the last member on a tmpfs of this size
    lazyfs: bool = False  # every member's data dir on a lazyfs (FUSE) mount: un-fsynced data lost, fsync errors
    faketime_member: bool = False  # the last member runs under libfaketime (spec file rewritten by `clock`)
    criteria: Criteria = Criteria()
    impl_notes: dict[str, str] = field(default_factory=dict)  # impl -> a caveat printed with the report
    not_covered: str = ""  # parts of the scenario this one does not inject (said in `list`)


def _periodic(name: str, summary: str, fault: Action, recover: Action, **kw: object) -> Scenario:
    return Scenario(name, summary, ((fault,),), (recover,), **kw)  # type: ignore[arg-type]


CATALOGUE: dict[str, Scenario] = {s.name: s for s in [
    _periodic("leader-isolated", "cut the leader off from every peer (clients still reach it), heal, repeat",
              act("partition", pattern="isolate-leader"), act("heal-network", heals=True), needs_proxy=True,
              criteria=Criteria(progress_during_fault=True)),
    _periodic("split", "minority (with the leader) | majority split, clients on both sides, heal, repeat",
              act("partition", pattern="split"), act("heal-network", heals=True), needs_proxy=True,
              criteria=Criteria(progress_during_fault=True)),
    _periodic("one-way", "the leader can send but receives nothing from its peers, heal, repeat",
              act("partition", pattern="one-way-leader-in"), act("heal-network", heals=True), needs_proxy=True,
              criteria=Criteria(progress_during_fault=True)),
    _periodic("bridge", "two halves joined only through one bridge member (3: a-b-c, 5: ab-c-de), heal, repeat",
              act("partition", pattern="bridge"), act("heal-network", heals=True), needs_proxy=True, hold_s=2.0),
    _periodic("ring", "majorities ring: every member talks only to its ring neighbours, so each sees a majority but "
                      "no two the same one (3 members: a path, as bridge), heal, repeat",
              act("partition", pattern="ring"), act("heal-network", heals=True), needs_proxy=True, hold_s=2.0),
    Scenario("flapping", "a new random partition (none/isolate/split/one-way) every 300 ms, healed at the end",
             ((act("partition", pattern="random"),),), period_s=0.3, needs_proxy=True),
    Scenario("latency-loss", "every peer link delayed 75±50 ms with 10% of chunks held one 200 ms RTO",
             ((act("delay", ms=75, jitter_ms=50, loss=0.1),),), once=True, needs_proxy=True,
             criteria=Criteria(progress_during_fault=True),
             not_covered="loss is modelled as TCP retransmission delay in the proxy (no netem here)"),
    _periodic("kill-leader", "kill -9 the leader, restart it after 1 s, repeat",
              act("kill", target="leader"), act("restart", heals=True), hold_s=1.0,
              criteria=Criteria(progress_during_fault=True)),
    _periodic("kill-random", "kill -9 a random 1..n members (quorum may go), restart after 1 s, repeat",
              act("kill", target="random"), act("restart", heals=True), hold_s=1.0),
    _periodic("pause-leader", "SIGSTOP the leader for 1.5 s (3 election timeouts), SIGCONT, repeat",
              act("pause"), act("resume", heals=True), criteria=Criteria(progress_during_fault=True)),
    Scenario("rolling-restart", "SIGTERM each member in turn under load, wait until it serves again",
             ((act("restart-next", heals=True),),), period_s=2.0),
    Scenario("membership", "remove a follower via MemberRemove, add a fresh member as a learner, promote it",
             ((act("member-replace", heals=True),),), period_s=8.0),
    Scenario("snapshot-catchup",
             "kill -9 a follower; the others write past --snapshot-count (100) and compact their Raft log; "
             "restart it: it must catch up (by snapshot on raftkv) and hash equal",
             ((act("kill", target="follower"),),), once=True,
             flags={"raftkv": ("--snapshot-count", "100", "--experimental-snapshot-catchup-entries", "20"),
                    "etcd": ("--snapshot-count", "100")},
             impl_notes={"etcd": "etcd 3.4 keeps 5000 entries for catch-up (not configurable): short runs catch "
                                 "up from the log, not by snapshot"},
             not_covered="compacts the Raft log, not the MVCC history (the log-of-record watch reads from revision 1)"),
    Scenario("kill-all", "kill -9 every member at once, restart all after 0.5 s, repeat: no acked write lost",
             ((act("kill", target="all"),),), (act("restart", heals=True),), period_s=4.0, hold_s=0.5,
             criteria=Criteria(max_recovery_et=4.0),
             not_covered="un-fsynced data is kept (the page cache survives a process kill): see kill-all-lazyfs"),
    Scenario("kill-all-lazyfs", "every data dir on lazyfs: kill -9 every member at once, drop every byte not "
                                "fsynced (a power failure), restart all: no acked write lost",
             ((act("kill", target="all"), act("lose-unsynced")),), (act("restart", heals=True),), period_s=4.0,
             hold_s=0.5, needs=("fuse",), lazyfs=True, criteria=Criteria(max_recovery_et=4.0),
             not_covered="directory entries are durable at once (lazyfs drops file data only)"),
    Scenario("kill-all-fsync-error", "every data dir on lazyfs: the leader's fsyncs fail with EIO; it must stop "
                                     "and acknowledge nothing invoked after the failure; then kill -9 all, drop "
                                     "un-fsynced data, restart all on healthy disks: no acked write lost",
             ((act("fsync-fail", target="leader"), act("kill", target="all"), act("fsync-ok"),
               act("lose-unsynced")),), (act("restart", heals=True),), period_s=6.0, hold_s=0.5,
             needs=("fuse",), lazyfs=True, criteria=Criteria(max_recovery_et=4.0)),
    Scenario("corrupt", "kill -9 a follower, truncate (then bit-flip) its WAL tail, restart: it must repair the "
                        "torn tail or refuse to start with a clear error, never serve wrong data; one that refuses is "
                        "replaced (removed, re-added fresh), as an operator would",
             ((act("kill", target="follower"), act("corrupt-wal", mode="truncate")),
              (act("kill", target="follower"), act("corrupt-wal", mode="bitflip"))),
             (act("restart", heals=True), act("replace-refused")), period_s=4.0, hold_s=0.5,
             criteria=Criteria(refusal_allowed=True, progress_during_fault=True)),
    Scenario("disk-full", "one member's data dir on a 256 MiB tmpfs, filled to ENOSPC under load; freed after "
                          "1.5 s and the member restarted if it stopped: no corruption, majority serves",
             ((act("fill-disk"),),), (act("free-disk"), act("restart", heals=True)), period_s=4.0,
             needs=("root",), tmpfs_member_bytes=256 * 1024 * 1024, criteria=Criteria(progress_during_fault=True),
             not_covered="the --quota-backend-bytes NOSPACE-alarm variant is not run"),
    Scenario("disk-full-quota", "a tiny --quota-backend-bytes: the workload fills it, the NOSPACE alarm is raised, "
                                "puts are refused with 'database space exceeded' while reads work; after compact + "
                                "defrag + alarm disarm writes work again (repeat); HashKV equal",
             ((act("await-nospace", hold_s=1.0),),), (act("quota-recover", heals=True),), period_s=3.0, hold_s=1.0,
             flags={"raftkv": ("--quota-backend-bytes", str(QUOTA_BYTES["raftkv"])),
                    "etcd": ("--quota-backend-bytes", str(QUOTA_BYTES["etcd"]))},
             criteria=Criteria(max_recovery_et=4.0)),
    Scenario("clock", "one member under libfaketime: wall clock +10 min, then -10 min with its clocks at 2x "
                      "rate, then normal again",
             ((act("clock", spec="+600 x1"),), (act("clock", spec="-600 x2"),)), (act("clock", spec="+0 x1"),),
             period_s=3.0, hold_s=2.0, needs=("faketime",), faketime_member=True,
             impl_notes={"etcd": "etcd is a Go binary: Go reads clocks through the vDSO, so libfaketime does not "
                                 "reach it"}),
]}

UNAVAILABLE_FOR_IMPL = {("clock", "etcd"): "libfaketime cannot reach a Go binary (clock reads go through the vDSO)"}


@dataclass(frozen=True)
class Machine:
    """Facts about where the scenario would run, gathered by the adapter (the catalogue does no I/O)."""

    root: bool
    faketime: bool
    endpoints_only: bool = False  # pointed at an existing cluster: no process control, no proxies
    fuse: bool = False  # a lazyfs (FUSE) can be mounted: root, /dev/fuse, libfuse2, fusepy


def availability(s: Scenario, impl: str, machine: Machine) -> str | None:
    """None when the scenario can run here, else why not ("not available: ...")."""
    if machine.endpoints_only and (s.needs_process or s.needs_proxy):
        what = "process control (signals, restarts, data files)" if s.needs_process else "peer-link proxies"
        return f"needs {what} of members this command starts; with --endpoints only `baseline` runs"
    if (s.name, impl) in UNAVAILABLE_FOR_IMPL:
        return UNAVAILABLE_FOR_IMPL[(s.name, impl)]
    if "root" in s.needs and not machine.root:
        return "needs root (mounts a tmpfs for the member's data dir)"
    if "fuse" in s.needs and not machine.fuse:
        return "needs FUSE for lazyfs (root, /dev/fuse, apt install libfuse2, pip install fusepy)"
    if "faketime" in s.needs and not machine.faketime:
        return "needs libfaketime (apt install faketime)"
    return None


BASELINE = Scenario("baseline", "no faults: the workload and every checker (also against --endpoints)", (),
                    needs_process=False, criteria=Criteria(progress_during_fault=False))
CATALOGUE[BASELINE.name] = BASELINE


def plan(s: Scenario, fault_phase_s: float) -> list[tuple[float, Action]]:
    """Timed actions for a fault phase of `fault_phase_s` seconds; the final heal is at its end."""
    steps: list[tuple[float, Action]] = []
    if not s.faults:
        return steps
    end = fault_phase_s
    t = min(1.0, 0.15 * end)
    i = 0
    while t < end:
        steps += [(t, a) for a in s.faults[i % len(s.faults)]]
        if s.recover:
            steps += [(min(t + s.hold_s, end), a) for a in s.recover]
        i += 1
        if s.once:
            break
        t += max(s.period_s, s.hold_s + 0.2 if s.recover else s.period_s)
    steps += [(end, a) for a in HEAL]
    return steps
