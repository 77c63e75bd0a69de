"""`RawNode`: the caller's handle on the core, and `Ready`, the batch of work it hands out.

The caller's loop, in this order (each field of `Ready` says its duty):
    rd = node.ready()
    persist rd.hard_state, rd.entries, rd.snapshot (fsync if rd.must_sync)   -- BEFORE sending
    storage.apply_snapshot(rd.snapshot); storage.set_hard_state(...); storage.append(rd.entries)
    send rd.messages
    apply rd.committed_entries (conf changes through node.apply_conf_change)
    serve rd.read_states once applied >= their index
    node.advance(rd)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftkv.raft.coalesce import coalesce
from raftkv.raft.log import InvariantViolation, MemoryStorage
from raftkv.raft.raft import Config, Raft, encode_conf_change
from raftkv.raft.types import (
    NONE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    SoftState,
    StateType,
)


@dataclass
class Ready:
    soft_state: SoftState | None = None
    """Leader or role changed (report only; never persisted)."""
    hard_state: HardState | None = None
    """Persist before sending messages; None if unchanged."""
    entries: list[Entry] = field(default_factory=list)
    """Append to stable storage before sending messages."""
    snapshot: Snapshot | None = None
    """A snapshot received from the leader: persist and install before applying anything else."""
    committed_entries: list[Entry] = field(default_factory=list)
    """Apply in order, after persisting."""
    messages: list[Message] = field(default_factory=list)
    """Send after persisting everything above."""
    read_states: list[ReadState] = field(default_factory=list)
    """Linearizable reads that may be served once the applied index reaches their index."""
    must_sync: bool = False
    """The WAL write for this Ready must be fsynced before anything depending on it."""


@dataclass
class Status:
    id: int
    term: int
    vote: int
    commit: int
    applied: int
    lead: int
    raft_state: StateType
    progress: dict[int, tuple[int, int, str]]
    lead_transferee: int = NONE


class RawNode:
    def __init__(self, cfg: Config, storage: MemoryStorage) -> None:
        self.raft = Raft(cfg, storage)
        self.storage = storage
        self._prev_soft = SoftState(self.raft.lead, self.raft.state)
        hs, _ = storage.initial_state()
        self._prev_hard = HardState(hs.term, hs.vote, hs.commit)

    # ---- inputs
    def bootstrap(self, peers: list[int]) -> None:
        """A brand-new cluster: one committed conf-change entry per peer at term 1."""
        if self.raft.log.last_index() != 0:
            raise InvariantViolation("can't bootstrap a non-empty log")
        if not peers:
            raise ValueError("bootstrap needs at least one peer")
        self.raft.become_follower(1, NONE)
        ents = [Entry(1, i + 1, EntryType.CONF_CHANGE,
                      encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, p))) for i, p in enumerate(peers)]
        self.raft.log.append(ents)
        self.raft.log.committed = len(ents)
        for p in peers:
            self.raft.apply_conf_change(ConfChange(ConfChangeType.ADD_NODE, p))

    def tick(self) -> None:
        self.raft.tick()

    def campaign(self) -> None:
        self.raft.step(Message(type=MessageType.HUP, frm=self.raft.id))

    def propose(self, data: bytes) -> None:
        self.raft.step(Message(type=MessageType.PROP, frm=self.raft.id, entries=[Entry(0, 0, EntryType.NORMAL,
                                                                                        data)]))

    def propose_many(self, datas: list[bytes]) -> None:
        """Several proposals in one step (one append, one broadcast)."""
        if datas:
            self.raft.step(Message(type=MessageType.PROP, frm=self.raft.id,
                                   entries=[Entry(0, 0, EntryType.NORMAL, d) for d in datas]))

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Like `propose`: a follower forwards it to the leader, which may still drop it."""
        self.raft.step(Message(type=MessageType.PROP, frm=self.raft.id,
                               entries=[Entry(0, 0, EntryType.CONF_CHANGE, encode_conf_change(cc))]))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        return self.raft.apply_conf_change(cc)

    def step(self, m: Message) -> None:
        if m.type in (MessageType.HUP, MessageType.BEAT, MessageType.CHECK_QUORUM):
            raise ValueError(f"{m.type.name} is a local message")
        if m.type in (MessageType.APP_RESP, MessageType.VOTE_RESP, MessageType.PRE_VOTE_RESP,
                      MessageType.HEARTBEAT_RESP) and m.frm not in self.raft.prs and m.term <= self.raft.term:
            return  # a response from a node that is not (any longer) a member
        self.raft.step(m)

    def read_index(self, ctx: bytes) -> None:
        self.raft.step(Message(type=MessageType.READ_INDEX, frm=self.raft.id, context=ctx))

    def transfer_leader(self, to: int) -> None:
        self.raft.step(Message(type=MessageType.TRANSFER_LEADER, frm=to, to=self.raft.id))

    def report_unreachable(self, pid: int) -> None:
        if self.raft.state == StateType.LEADER:
            self.raft.step(Message(type=MessageType.UNREACHABLE, frm=pid))

    def report_snapshot(self, pid: int, ok: bool) -> None:
        if self.raft.state == StateType.LEADER:
            self.raft.step(Message(type=MessageType.SNAP_STATUS, frm=pid, reject=not ok))

    # ---- outputs
    @property
    def lead(self) -> int:
        return self.raft.lead

    @property
    def term(self) -> int:
        return self.raft.term

    @property
    def committed(self) -> int:
        return self.raft.log.committed

    @property
    def last_index(self) -> int:
        return self.raft.log.last_index()

    def _hard_state(self) -> HardState:
        r = self.raft
        return HardState(r.term, r.vote, r.log.committed)

    def has_ready(self) -> bool:
        r = self.raft
        if r.msgs or r.read_states or r.log.unstable or r.log.unstable_snapshot is not None:
            return True
        if r.log.has_next_committed():
            return True
        hs = self._prev_hard
        if (r.term, r.vote, r.log.committed) != (hs.term, hs.vote, hs.commit):
            return True
        return (r.lead, r.state) != (self._prev_soft.lead, self._prev_soft.raft_state)

    def ready(self) -> Ready:
        r = self.raft
        rd = Ready(entries=r.log.unstable_entries(), snapshot=r.log.unstable_snapshot,
                   committed_entries=r.log.next_committed_entries(),
                   messages=coalesce(r.msgs, r.cfg.max_size_per_msg), read_states=r.read_states)
        r.msgs = []
        r.read_states = []
        soft = SoftState(r.lead, r.state)
        if soft != self._prev_soft:
            rd.soft_state = soft
            self._prev_soft = soft
        hs = self._hard_state()
        prev = self._prev_hard
        if (hs.term, hs.vote, hs.commit) != (prev.term, prev.vote, prev.commit):
            rd.hard_state = hs
        rd.must_sync = bool(rd.entries) or (rd.hard_state is not None and
                                            (hs.term != prev.term or hs.vote != prev.vote))
        return rd

    def advance(self, rd: Ready) -> None:
        r = self.raft
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        if rd.entries:
            last = rd.entries[-1]
            r.log.stable_to(last.index, last.term)
        if rd.snapshot is not None:
            r.log.stable_snap_to(rd.snapshot.metadata.index)
        if rd.committed_entries:
            r.log.applied_to(rd.committed_entries[-1].index)
        r._release_pending_reads()

    def status(self) -> Status:
        r = self.raft
        return Status(r.id, r.term, r.vote, r.log.committed, r.log.applied, r.lead, r.state,
                      {i: (p.match, p.next, p.state.name) for i, p in r.prs.items()}, r.lead_transferee)
