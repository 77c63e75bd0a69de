"""A deterministic whole-cluster simulation of the Raft core: simulated network, clock and disks.

Every node is a `RawNode` driven exactly as the server drives it (persist, then send, apply,
advance). The network delays, drops, duplicates and reorders messages and can be
partitioned (also one-way); nodes crash (losing everything not persisted) and restart from
their "disk". One seeded RNG decides everything, so a seed replays a run exactly.
Safety properties are checked after every step; a violation raises `SafetyViolation` with
the seed and the tail of the trace.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from raftkv.raft import Config, MemoryStorage, ProposalDropped, RawNode, decode_conf_change
from raftkv.raft.types import (
    NONE,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    StateType,
)


class SafetyViolation(AssertionError):
    pass


@dataclass
class Disk:
    """What a node persisted: hard state, entries, snapshot (the caller's WAL + snap files)."""

    hard_state: HardState = field(default_factory=HardState)
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None

    def append(self, ents: list[Entry]) -> None:
        if not ents:
            return
        first = ents[0].index
        self.entries = [e for e in self.entries if e.index < first] + [Entry(e.term, e.index, e.type, e.data)
                                                                      for e in ents]


@dataclass
class SimNode:
    id: int
    disk: Disk
    node: RawNode | None = None
    storage: MemoryStorage | None = None
    applied: list[Entry] = field(default_factory=list)
    applied_index: int = 0
    conf: ConfState = field(default_factory=ConfState)
    reads: list[tuple[ReadState, int]] = field(default_factory=list)


@dataclass(order=True)
class _InFlight:
    deliver_at: int
    seq: int
    msg: Message = field(compare=False)


class Simulation:
    def __init__(self, seed: int, size: int = 3, *, drop: float = 0.0, dup: float = 0.0, max_delay: int = 1,
                 snapshot_every: int = 0, pre_vote: bool = True, check_quorum: bool = True) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.drop, self.dup, self.max_delay = drop, dup, max_delay
        self.snapshot_every = snapshot_every
        self.pre_vote, self.check_quorum = pre_vote, check_quorum
        self.now = 0
        self.seq = 0
        self.net: list[_InFlight] = []
        self.cut: set[tuple[int, int]] = set()
        self.trace: list[str] = []
        self.nodes: dict[int, SimNode] = {}
        self.leaders_by_term: dict[int, int] = {}
        self.committed_log: dict[int, Entry] = {}
        self.commit_term: dict[int, int] = {}  # a term at or after the one in which the entry committed
        self.acked: dict[bytes, int] = {}
        self.proposed = 0
        ids = list(range(1, size + 1))
        for i in ids:
            self.nodes[i] = SimNode(i, Disk())
            self._boot(self.nodes[i], bootstrap=ids)

    # ---- lifecycle
    def _boot(self, sn: SimNode, bootstrap: list[int] | None = None) -> None:
        st = MemoryStorage()
        applied = 0
        if sn.disk.snapshot is not None:
            st.apply_snapshot(sn.disk.snapshot)
            applied = sn.disk.snapshot.metadata.index
        st.set_hard_state(sn.disk.hard_state)
        st.append([e for e in sn.disk.entries if e.index > st.last_index()])
        cfg = Config(id=sn.id, election_tick=10, heartbeat_tick=1, pre_vote=self.pre_vote,
                     check_quorum=self.check_quorum, max_inflight_msgs=16, max_size_per_msg=4096, applied=applied,
                     rng=random.Random(self.rng.random()))
        sn.storage = st
        sn.node = RawNode(cfg, st)
        sn.applied = [e for e in sn.applied if e.index <= applied]
        sn.applied_index = applied
        sn.conf = sn.disk.snapshot.metadata.conf_state if sn.disk.snapshot else ConfState()
        sn.reads = []
        if bootstrap:
            sn.node.bootstrap(bootstrap)

    def crash(self, i: int) -> None:
        self.log(f"crash {i}")
        self.nodes[i].node = None

    def restart(self, i: int) -> None:
        self.log(f"restart {i}")
        self._boot(self.nodes[i])

    def alive(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.node is not None]

    # ---- network
    def partition(self, *groups: set[int]) -> None:
        self.log(f"partition {groups}")
        self.cut = {(a, b) for g in groups for a in g for h in groups if h is not g for b in h}

    def cut_one_way(self, frm: int, to: int) -> None:
        self.log(f"cut {frm}->{to}")
        self.cut.add((frm, to))

    def heal(self) -> None:
        self.log("heal")
        self.cut = set()

    def _send(self, m: Message) -> None:
        if (m.frm, m.to) in self.cut or self.rng.random() < self.drop:
            if m.type == MessageType.SNAP:  # the transport tells the leader the snapshot did not arrive
                sender = self.nodes[m.frm].node
                if sender is not None:
                    sender.report_snapshot(m.to, False)
            return
        copies = 2 if self.rng.random() < self.dup else 1
        for _ in range(copies):
            self.seq += 1
            self.net.append(_InFlight(self.now + self.rng.randint(0, self.max_delay), self.seq, m))

    # ---- driving
    def log(self, line: str) -> None:
        self.trace.append(f"t={self.now} {line}")
        if len(self.trace) > 400:
            del self.trace[:200]

    def leader(self) -> SimNode | None:
        for n in self.alive():
            assert n.node is not None
            if n.node.raft.state == StateType.LEADER:
                return n
        return None

    def propose(self, data: bytes) -> bool:
        ld = self.leader()
        if ld is None or ld.node is None:
            return False
        try:
            ld.node.propose(data)
        except ProposalDropped:
            return False
        self.proposed += 1
        return True

    def step(self) -> None:
        self.now += 1
        due = [f for f in self.net if f.deliver_at <= self.now]
        self.net = [f for f in self.net if f.deliver_at > self.now]
        self.rng.shuffle(due)
        for f in due:
            n = self.nodes.get(f.msg.to)
            if n is None or n.node is None:
                if f.msg.type == MessageType.SNAP:  # the transport reports the failed stream
                    sender = self.nodes[f.msg.frm].node
                    if sender is not None:
                        sender.report_snapshot(f.msg.to, False)
                continue
            try:
                n.node.step(f.msg)
            except ProposalDropped:
                pass
            if f.msg.type == MessageType.SNAP:
                sender = self.nodes[f.msg.frm].node
                if sender is not None:
                    sender.report_snapshot(f.msg.to, True)
        for n in self.alive():
            assert n.node is not None
            n.node.tick()
        for n in self.alive():
            self._process_ready(n)
        self.check()

    def _process_ready(self, sn: SimNode) -> None:
        node = sn.node
        assert node is not None and sn.storage is not None
        while node.has_ready():
            rd = node.ready()
            if rd.soft_state is not None:
                self.log(f"{sn.id} {rd.soft_state.raft_state.name} lead={rd.soft_state.lead} term={node.term}")
            if rd.snapshot is not None:
                sn.disk.snapshot = rd.snapshot
                sn.disk.entries = [e for e in sn.disk.entries if e.index > rd.snapshot.metadata.index]
            if rd.hard_state is not None:
                sn.disk.hard_state = rd.hard_state
            sn.disk.append(rd.entries)
            if rd.snapshot is not None:
                sn.storage.apply_snapshot(rd.snapshot)
                self._install(sn, rd.snapshot)
            if rd.hard_state is not None:
                sn.storage.set_hard_state(rd.hard_state)
            if rd.entries:
                sn.storage.append(rd.entries)
            for m in rd.messages:
                self._send(m)
            for e in rd.committed_entries:
                self._apply(sn, e)
            for rs in rd.read_states:
                sn.reads.append((rs, self.committed_upper_bound()))
            node.advance(rd)
            if self.snapshot_every and sn.applied_index - sn.storage.first_index() > self.snapshot_every:
                snap = sn.storage.create_snapshot(sn.applied_index, sn.conf, b"")
                sn.storage.compact(sn.applied_index)
                sn.disk.snapshot = snap
                sn.disk.entries = [e for e in sn.disk.entries if e.index > sn.applied_index]

    def _install(self, sn: SimNode, snap: Snapshot) -> None:
        # the state machine image is what every member applied up to the snapshot index
        idx = snap.metadata.index
        sn.applied = [self.committed_log[i] for i in range(1, idx + 1) if i in self.committed_log]
        sn.applied_index = idx
        sn.conf = snap.metadata.conf_state

    def _apply(self, sn: SimNode, e: Entry) -> None:
        assert sn.node is not None
        if e.index != sn.applied_index + 1:
            raise self.violation(f"node {sn.id} applied {e.index} after {sn.applied_index}")
        if e.type == EntryType.CONF_CHANGE:
            sn.conf = sn.node.apply_conf_change(decode_conf_change(e.data))
        prev = self.committed_log.get(e.index)
        if prev is not None and (prev.term, prev.data) != (e.term, e.data):
            raise self.violation(f"state machine safety: index {e.index} applied as {prev} and {e}")
        if e.index not in self.committed_log:
            self.commit_term[e.index] = max(self.leaders_by_term, default=0)
        self.committed_log[e.index] = Entry(e.term, e.index, e.type, e.data)
        sn.applied.append(e)
        sn.applied_index = e.index
        if e.data and e.type == EntryType.NORMAL:
            self.acked.setdefault(e.data, e.index)

    def committed_upper_bound(self) -> int:
        return max(self.committed_log, default=0)

    def violation(self, what: str) -> SafetyViolation:
        return SafetyViolation(f"seed={self.seed}: {what}\n" + "\n".join(self.trace[-60:]))

    def check(self) -> None:
        for n in self.alive():
            assert n.node is not None
            r = n.node.raft
            if r.state == StateType.LEADER:
                prev = self.leaders_by_term.setdefault(r.term, n.id)
                if prev != n.id:
                    raise self.violation(f"election safety: {prev} and {n.id} both lead term {r.term}")
                # leader completeness: the leader holds every committed entry
                for idx, e in self.committed_log.items():
                    if r.term <= self.commit_term[idx]:
                        continue  # a stale leader from before the entry committed need not have it
                    if idx >= r.log.first_index() and r.log.term_or_zero(idx) != e.term:
                        raise self.violation(f"leader completeness: leader {n.id} term {r.term} lacks {idx}")
        # log matching on the committed prefix of live nodes
        for n in self.alive():
            assert n.node is not None
            lg = n.node.raft.log
            for idx in range(max(lg.first_index(), 1), lg.committed + 1):
                e = self.committed_log.get(idx)
                if e is not None and lg.term_or_zero(idx) not in (0, e.term):
                    raise self.violation(f"log matching: node {n.id} has term {lg.term_or_zero(idx)} at {idx}")
        # a ReadIndex answer never points below what was committed before it was asked... checked per read
        for n in self.alive():
            for rs, upper in n.reads:
                if rs.index > upper + 1_000_000:
                    raise self.violation("read index beyond any commit")

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            self.step()

    def settle(self, max_ticks: int = 2000) -> None:
        """Heal and run until one leader is elected and every live node applied everything committed."""
        self.heal()
        for _ in range(max_ticks):
            self.step()
            ld = self.leader()
            if ld is None or ld.node is None:
                continue
            target = ld.node.raft.log.last_index()
            if all(n.applied_index >= target for n in self.alive()
                   if n.node is not None and n.id in ld.node.raft.prs):
                return
        raise self.violation(f"liveness: no stable leader with every node caught up after {max_ticks} ticks")

    def voters(self) -> list[int]:
        ld = self.leader()
        return sorted(ld.node.raft.voters()) if ld and ld.node else []

    def add_node(self, i: int, learner: bool = False) -> None:
        from raftkv.raft.types import ConfChange

        ld = self.leader()
        if ld is None or ld.node is None:
            return
        if i not in self.nodes:
            self.nodes[i] = SimNode(i, Disk())
            self._boot(self.nodes[i])
        try:
            ld.node.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER_NODE if learner
                                                   else ConfChangeType.ADD_NODE, i))
            self.log(f"propose add {i} learner={learner}")
        except ProposalDropped:
            pass

    def remove_node(self, i: int) -> None:
        from raftkv.raft.types import ConfChange

        ld = self.leader()
        if ld is None or ld.node is None or i == ld.id:
            return
        try:
            ld.node.propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, i))
            self.log(f"propose remove {i}")
        except ProposalDropped:
            pass


__all__ = ["NONE", "MessageType", "SafetyViolation", "Simulation"]
