"""The Raft consensus state machine: roles, elections, replication, ReadIndex, transfers, membership.

Rules of this file: no I/O, no clock, no randomness but the injected `rng`. Every input is a
`Message` given to `step` (a local campaign is MsgHup, a proposal MsgProp, a heartbeat tick
MsgBeat), so term handling happens in one place. Output piles up in `msgs` and
`read_states`; `RawNode` packs it into a `Ready` for the caller.

Theory of operation (Ongaro's thesis; etcd-io/raft is the model for structure and names):
- Terms: any message from a higher term makes us a follower of it — except votes a node
  ignores while it believes a leader is alive (check-quorum lease), and pre-votes, which
  never change terms. Messages from lower terms are ignored (an append/heartbeat from a stale
  leader is answered so that it learns the new term and steps down).
- Pre-vote (thesis 9.6): a node first asks "would you vote for me at term+1?" and only bumps
  its term after a quorum says yes; a partitioned node rejoining cannot depose a leader.
- Check-quorum: a leader that has not heard from a quorum within an election timeout steps
  down, so a minority leader stops serving.
- Commit (Figure 8 rule): the leader commits the highest index replicated on a quorum only
  if that entry is from its own term; it appends an empty entry on election to get there.
- ReadIndex (thesis 6.4): a read records the commit index, the leader confirms it is still
  leader with a heartbeat round acknowledged by a quorum, then the read may be served once
  that index is applied. Rounds are batched: each heartbeat round carries one context.
- Membership: one change at a time (single-server changes), proposed only after the leader
  has committed an entry of its term, and only once the previous change is applied.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from raftkv.raft.log import Compacted, InvariantViolation, MemoryStorage, RaftLog, Unavailable
from raftkv.raft.progress import Progress, ProgressState
from raftkv.raft.types import (
    NONE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    StateType,
)

CAMPAIGN_TRANSFER = b"CampaignTransfer"
_CC = struct.Struct(">BQQ")


class ProposalDropped(Exception):
    """The proposal cannot be accepted now (no leader, leader transfer, a pending conf change)."""


class StepPeerNotFound(Exception):
    """A response from a node that is not a member."""


class RNG(Protocol):
    def randrange(self, start: int, stop: int) -> int: ...


def encode_conf_change(cc: ConfChange) -> bytes:
    return _CC.pack(int(cc.type), cc.node_id, cc.id) + cc.context


def decode_conf_change(data: bytes) -> ConfChange:
    if len(data) < _CC.size:
        raise ValueError("conf change entry too short")
    t, node_id, cid = _CC.unpack_from(data)
    return ConfChange(type=ConfChangeType(t), node_id=node_id, context=bytes(data[_CC.size:]), id=cid)


@dataclass
class Config:
    id: int
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_size_per_msg: int = 1 << 20
    max_inflight_msgs: int = 256
    applied: int = 0
    rng: Any = None
    lease_read: bool = False
    """Serve ReadIndex from the leader's lease without a heartbeat round. Safe only if clocks
    on all members advance at the same rate within the election timeout (bounded drift), and
    only with check_quorum; off by default."""

    def validate(self) -> None:
        if self.id == NONE:
            raise ValueError("cannot use none as id")
        if self.heartbeat_tick <= 0:
            raise ValueError("heartbeat tick must be greater than 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("election tick must be greater than heartbeat tick")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max inflight messages must be greater than 0")
        if self.lease_read and not self.check_quorum:
            raise ValueError("lease_read requires check_quorum")
        if self.rng is None:
            raise ValueError("rng is required (the core has no randomness of its own)")


@dataclass
class _ReadRequest:
    index: int
    frm: int
    ctx: bytes
    acks: set[int] = field(default_factory=set)


class Raft:
    def __init__(self, cfg: Config, storage: MemoryStorage) -> None:
        cfg.validate()
        self.id = cfg.id
        self.cfg = cfg
        self.rng = cfg.rng
        self.log = RaftLog(storage, cfg.applied)
        hs, cs = storage.initial_state()
        self.term = hs.term
        self.vote = hs.vote
        self.lead = NONE
        self.state = StateType.FOLLOWER
        self.prs: dict[int, Progress] = {}
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.votes: dict[int, bool] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = cfg.election_tick
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        self._reads: dict[bytes, _ReadRequest] = {}
        self._read_queue: list[bytes] = []
        self._pending_reads: list[Message] = []
        for v in cs.voters:
            self.prs[v] = Progress(self.log.last_index() + 1, cfg.max_inflight_msgs)
        for learner in cs.learners:
            self.prs[learner] = Progress(self.log.last_index() + 1, cfg.max_inflight_msgs, True)
        self._step: Callable[[Message], None] = self._step_follower
        self._tick: Callable[[], None] = self._tick_election
        self.become_follower(self.term, NONE)

    # ------------------------------------------------------------------ membership views
    def voters(self) -> list[int]:
        return [i for i, p in self.prs.items() if not p.is_learner]

    def quorum(self) -> int:
        return len(self.voters()) // 2 + 1

    def promotable(self) -> bool:
        pr = self.prs.get(self.id)
        return pr is not None and not pr.is_learner and not self.log.unstable_snapshot

    # ------------------------------------------------------------------ sending
    def send(self, m: Message) -> None:
        if m.frm == NONE:
            m.frm = self.id
        if m.type in (MessageType.VOTE, MessageType.VOTE_RESP, MessageType.PRE_VOTE, MessageType.PRE_VOTE_RESP):
            if m.term == 0:
                raise InvariantViolation(f"term should be set when sending {m.type.name}")
        elif m.type not in (MessageType.PROP, MessageType.READ_INDEX):
            m.term = self.term
        self.msgs.append(m)

    def maybe_send_append(self, to: int, send_if_empty: bool = True) -> bool:
        pr = self.prs[to]
        if pr.is_paused():
            return False
        try:
            log_term = self.log.term(pr.next - 1)
            ents = self.log.entries_from(pr.next, self.cfg.max_size_per_msg)
        except Compacted:
            return self._send_snapshot(to, pr)
        except Unavailable:
            return False
        if not ents and not send_if_empty:
            return False
        self.send(Message(type=MessageType.APP, to=to, index=pr.next - 1, log_term=log_term, entries=ents,
                          commit=self.log.committed))
        if ents:
            pr.sent_entries(ents[-1].index)
        elif pr.state == ProgressState.PROBE:
            pr.probe_sent = True
        return True

    def _send_snapshot(self, to: int, pr: Progress) -> bool:
        if not pr.recent_active:
            return False
        snap = self.log.snapshot()
        if snap.is_empty():
            raise InvariantViolation("need non-empty snapshot")
        pr.become_snapshot(snap.metadata.index)
        self.send(Message(type=MessageType.SNAP, to=to, snapshot=snap))
        return True

    def bcast_append(self) -> None:
        for pid in self.prs:
            if pid != self.id:
                self.maybe_send_append(pid)

    def bcast_heartbeat(self, ctx: bytes = b"") -> None:
        for pid, pr in self.prs.items():
            if pid != self.id:
                self.send(Message(type=MessageType.HEARTBEAT, to=pid, commit=min(pr.match, self.log.committed),
                                  context=ctx))

    # ------------------------------------------------------------------ role changes
    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.cfg.election_tick + self.rng.randrange(0, self.cfg.election_tick)
        self.lead_transferee = NONE
        self.votes = {}
        last = self.log.last_index()
        for pid, pr in self.prs.items():
            learner = pr.is_learner
            np = Progress(last + 1, self.cfg.max_inflight_msgs, learner)
            if pid == self.id:
                np.match = last
            self.prs[pid] = np
        self.pending_conf_index = 0
        self._reads.clear()
        self._read_queue.clear()

    def become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self._step = self._step_follower
        self._tick = self._tick_election
        self.lead = lead
        self.state = StateType.FOLLOWER

    def become_pre_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise InvariantViolation("invalid transition [leader -> pre-candidate]")
        self._step = self._step_candidate
        self._tick = self._tick_election
        self.votes = {}
        self.lead = NONE
        self.state = StateType.PRE_CANDIDATE

    def become_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise InvariantViolation("invalid transition [leader -> candidate]")
        self._reset(self.term + 1)
        self._step = self._step_candidate
        self._tick = self._tick_election
        self.vote = self.id
        self.state = StateType.CANDIDATE

    def become_leader(self) -> None:
        if self.state == StateType.FOLLOWER:
            raise InvariantViolation("invalid transition [follower -> leader]")
        self._reset(self.term)
        self._step = self._step_leader
        self._tick = self._tick_heartbeat
        self.lead = self.id
        self.state = StateType.LEADER
        self.prs[self.id].become_replicate()
        self.prs[self.id].recent_active = True
        self.pending_conf_index = self.log.last_index()
        self._append([Entry(term=0, index=0)])

    # ------------------------------------------------------------------ ticks
    def tick(self) -> None:
        self._tick()

    def _past_election_timeout(self) -> bool:
        return self.election_elapsed >= self.randomized_election_timeout

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self._past_election_timeout():
            self.election_elapsed = 0
            self.step(Message(type=MessageType.HUP, frm=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_tick:
            self.election_elapsed = 0
            if self.cfg.check_quorum:
                self.step(Message(type=MessageType.CHECK_QUORUM, frm=self.id))
            if self.state == StateType.LEADER and self.lead_transferee != NONE:
                self.lead_transferee = NONE  # transfer did not finish within an election timeout
        if self.state != StateType.LEADER:
            return
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick:
            self.heartbeat_elapsed = 0
            self.step(Message(type=MessageType.BEAT, frm=self.id))

    # ------------------------------------------------------------------ elections
    def campaign(self, transfer: bool = False, pre_vote: bool | None = None) -> None:
        """Start an election: a pre-vote round first unless `pre_vote` is False or this is a transfer."""
        if not self.promotable():
            return
        if pre_vote is None:
            pre_vote = self.cfg.pre_vote and not transfer
        if pre_vote:
            self.become_pre_candidate()
            vote_type, term = MessageType.PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            vote_type, term = MessageType.VOTE, self.term
        if self._poll(self.id, vote_type, True) == 1:
            if vote_type == MessageType.PRE_VOTE:
                self.campaign(pre_vote=False)
            else:
                self.become_leader()
            return
        ctx = CAMPAIGN_TRANSFER if transfer else b""
        for pid in self.voters():
            if pid == self.id:
                continue
            self.send(Message(type=vote_type, to=pid, term=term, index=self.log.last_index(),
                              log_term=self.log.last_term(), context=ctx))

    def _poll(self, pid: int, t: MessageType, granted: bool) -> int:
        """Record a vote; 1 = won, -1 = lost, 0 = pending."""
        if pid not in self.votes:
            self.votes[pid] = granted
        voters = self.voters()
        yes = sum(1 for v in voters if self.votes.get(v) is True)
        no = sum(1 for v in voters if self.votes.get(v) is False)
        q = len(voters) // 2 + 1
        if yes >= q:
            return 1
        if no > len(voters) - q:
            return -1
        return 0

    # ------------------------------------------------------------------ step
    def step(self, m: Message) -> None:
        if m.term == 0:
            pass
        elif m.term > self.term:
            if m.type in (MessageType.VOTE, MessageType.PRE_VOTE):
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (self.cfg.check_quorum and self.lead != NONE
                            and self.election_elapsed < self.cfg.election_tick)
                if not force and in_lease:
                    return  # a leader is alive as far as we know: do not disrupt it
            if m.type == MessageType.PRE_VOTE:
                pass  # never change our term on a pre-vote
            elif m.type == MessageType.PRE_VOTE_RESP and not m.reject:
                pass  # the pre-candidate bumps its term when it wins
            elif m.type in (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP):
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.cfg.check_quorum or self.cfg.pre_vote) and m.type in (MessageType.HEARTBEAT, MessageType.APP):
                self.send(Message(type=MessageType.APP_RESP, to=m.frm))
            elif m.type == MessageType.PRE_VOTE:
                self.send(Message(type=MessageType.PRE_VOTE_RESP, to=m.frm, term=self.term, reject=True))
            return

        t = m.type
        if t == MessageType.HUP:
            if self.state != StateType.LEADER:
                self._hup(transfer=False)
        elif t in (MessageType.VOTE, MessageType.PRE_VOTE):
            can_vote = (self.vote == m.frm or (self.vote == NONE and self.lead == NONE)
                        or (t == MessageType.PRE_VOTE and m.term > self.term))
            resp = MessageType.VOTE_RESP if t == MessageType.VOTE else MessageType.PRE_VOTE_RESP
            if can_vote and self.log.is_up_to_date(m.index, m.log_term) and self.id in self.prs \
                    and not self.prs[self.id].is_learner:
                self.send(Message(type=resp, to=m.frm, term=m.term))
                if t == MessageType.VOTE:
                    self.election_elapsed = 0
                    self.vote = m.frm
            elif self.term:  # a node that has never seen a term (a fresh joiner) has nothing to say
                self.send(Message(type=resp, to=m.frm, term=self.term, reject=True))
        else:
            self._step(m)

    def _hup(self, transfer: bool) -> None:
        if not self.promotable():
            return
        # do not campaign while conf changes are committed but not applied: we may not be a voter
        if self.log.committed > self.log.applied:
            try:
                pending = self.log.slice(self.log.applied + 1, self.log.committed + 1)
            except Compacted:
                pending = []
            if any(e.type == EntryType.CONF_CHANGE for e in pending):
                return
        self.campaign(transfer)

    # ------------------------------------------------------------------ leader
    def _append(self, ents: list[Entry]) -> None:
        li = self.log.last_index()
        for i, e in enumerate(ents):
            e.term = self.term
            e.index = li + 1 + i
        li = self.log.append(ents)
        me = self.prs.get(self.id)
        if me is not None:
            me.maybe_update(li)
        self._maybe_commit()

    def _maybe_commit(self) -> bool:
        matches = sorted((p.match for p in self.prs.values() if not p.is_learner), reverse=True)
        if not matches:
            return False
        mci = matches[self.quorum() - 1]
        if self.log.maybe_commit(mci, self.term):
            self._release_pending_reads()
            return True
        return False

    def committed_in_current_term(self) -> bool:
        return self.log.term_or_zero(self.log.committed) == self.term

    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == MessageType.BEAT:
            self.bcast_heartbeat(self._read_queue[-1] if self._read_queue else b"")
            return
        if t == MessageType.CHECK_QUORUM:
            active = sum(1 for pid, p in self.prs.items() if not p.is_learner and (pid == self.id or p.recent_active))
            if active < self.quorum():
                self.become_follower(self.term, NONE)
                return
            for pid, p in self.prs.items():
                if pid != self.id:
                    p.recent_active = False
            return
        if t == MessageType.PROP:
            if not m.entries:
                raise InvariantViolation("stepped empty MsgProp")
            if self.id not in self.prs:
                raise ProposalDropped("this node was removed from the configuration")
            if self.lead_transferee != NONE:
                raise ProposalDropped("leader transfer in progress")
            for e in m.entries:
                if e.type == EntryType.CONF_CHANGE:
                    if self.pending_conf_index > self.log.applied or not self.committed_in_current_term():
                        raise ProposalDropped("a configuration change is pending or the leader is not ready")
                    self.pending_conf_index = self.log.last_index() + 1
            self._append([Entry(0, 0, e.type, e.data) for e in m.entries])
            self.bcast_append()
            return
        if t == MessageType.READ_INDEX:
            self._leader_read_index(m)
            return

        pr = self.prs.get(m.frm)
        if pr is None:
            return
        if t == MessageType.APP_RESP:
            pr.recent_active = True
            if m.reject:
                hint = m.reject_hint
                if m.log_term > 0:
                    hint = self.log.find_conflict_by_term(m.reject_hint, m.log_term)[0]
                if pr.maybe_decr_to(m.index, hint):
                    if pr.state == ProgressState.REPLICATE:
                        pr.become_probe()
                    self.maybe_send_append(m.frm)
                return
            old_paused = pr.is_paused()
            if pr.maybe_update(m.index):
                if pr.state == ProgressState.PROBE:
                    pr.become_replicate()
                elif pr.state == ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
                    pr.become_probe()
                    pr.become_replicate()
                elif pr.state == ProgressState.REPLICATE:
                    pr.free_le(m.index)
                if self._maybe_commit():
                    self.bcast_append()
                elif old_paused:
                    self.maybe_send_append(m.frm)
                while self.maybe_send_append(m.frm, send_if_empty=False):
                    pass
                if m.frm == self.lead_transferee and pr.match == self.log.last_index():
                    self.send(Message(type=MessageType.TIMEOUT_NOW, to=m.frm))
        elif t == MessageType.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state == ProgressState.REPLICATE and len(pr.inflights) >= pr.max_inflight and pr.inflights:
                pr.inflights.popleft()
            if pr.match < self.log.last_index():
                self.maybe_send_append(m.frm)
            if m.context:
                self._read_ack(m.frm, m.context)
        elif t == MessageType.SNAP_STATUS:
            if pr.state != ProgressState.SNAPSHOT:
                return
            if m.reject:
                pr.pending_snapshot = 0
            pr.become_probe()
            pr.probe_sent = True  # wait for a heartbeat response before probing again
        elif t == MessageType.UNREACHABLE:
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()
        elif t == MessageType.TRANSFER_LEADER:
            if pr.is_learner:
                return
            target = m.frm
            if target == self.id or self.lead_transferee == target:
                return
            self.lead_transferee = target
            self.election_elapsed = 0
            if pr.match == self.log.last_index():
                self.send(Message(type=MessageType.TIMEOUT_NOW, to=target))
            else:
                self.maybe_send_append(target)

    # ------------------------------------------------------------------ ReadIndex
    def _leader_read_index(self, m: Message) -> None:
        if len(self.voters()) == 1 or (self.cfg.lease_read and self.committed_in_current_term()):
            self._answer_read(m.frm, self.log.committed, m.context)
            return
        if not self.committed_in_current_term():
            self._pending_reads.append(m)  # answered once an entry of this term commits
            return
        self._start_read(m)

    def _start_read(self, m: Message) -> None:
        ctx = m.context
        if ctx in self._reads:
            return
        self._reads[ctx] = _ReadRequest(self.log.committed, m.frm, ctx, {self.id})
        self._read_queue.append(ctx)
        self.bcast_heartbeat(ctx)

    def _release_pending_reads(self) -> None:
        if self._pending_reads and self.committed_in_current_term():
            pending, self._pending_reads = self._pending_reads, []
            for m in pending:
                self._leader_read_index(m)

    def _read_ack(self, frm: int, ctx: bytes) -> None:
        req = self._reads.get(ctx)
        if req is None:
            return
        req.acks.add(frm)
        if sum(1 for v in self.voters() if v in req.acks) < self.quorum():
            return
        # every request queued before ctx is confirmed by the same round
        upto = self._read_queue.index(ctx)
        done, self._read_queue = self._read_queue[:upto + 1], self._read_queue[upto + 1:]
        for c in done:
            r = self._reads.pop(c)
            self._answer_read(r.frm, r.index, r.ctx)

    def _answer_read(self, frm: int, index: int, ctx: bytes) -> None:
        if frm in (NONE, self.id):
            self.read_states.append(ReadState(index, ctx))
        else:
            self.send(Message(type=MessageType.READ_INDEX_RESP, to=frm, index=index, context=ctx))

    # ------------------------------------------------------------------ candidate / follower
    def _step_candidate(self, m: Message) -> None:
        my_resp = MessageType.PRE_VOTE_RESP if self.state == StateType.PRE_CANDIDATE else MessageType.VOTE_RESP
        t = m.type
        if t == MessageType.PROP:
            raise ProposalDropped("no leader")
        if t in (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP):
            self.become_follower(m.term, m.frm)
            self._step_follower(m)
        elif t == my_resp:
            r = self._poll(m.frm, t, not m.reject)
            if r == 1:
                if self.state == StateType.PRE_CANDIDATE:
                    self.campaign(pre_vote=False)
                else:
                    self.become_leader()
                    self.bcast_append()
            elif r == -1:
                self.become_follower(self.term, NONE)
        elif t == MessageType.READ_INDEX:
            raise ProposalDropped("no leader")

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MessageType.PROP:
            if self.lead == NONE:
                raise ProposalDropped("no leader")
            m.to = self.lead
            self.send(m)
        elif t == MessageType.APP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_append(m)
        elif t == MessageType.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.frm
            self.log.commit_to(min(m.commit, self.log.last_index()))
            self.send(Message(type=MessageType.HEARTBEAT_RESP, to=m.frm, context=m.context))
        elif t == MessageType.SNAP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t == MessageType.TRANSFER_LEADER:
            if self.lead != NONE:
                m.to = self.lead
                self.send(m)
        elif t == MessageType.TIMEOUT_NOW:
            self._hup(transfer=True)
        elif t == MessageType.READ_INDEX:
            if self.lead == NONE:
                raise ProposalDropped("no leader")
            m.to = self.lead
            self.send(m)
        elif t == MessageType.READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))

    def _handle_append(self, m: Message) -> None:
        if m.index < self.log.committed:
            self.send(Message(type=MessageType.APP_RESP, to=m.frm, index=self.log.committed))
            return
        lastnewi = self.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if lastnewi is not None:
            self.send(Message(type=MessageType.APP_RESP, to=m.frm, index=lastnewi))
            return
        hint_index, hint_term = self.log.find_conflict_by_term(min(m.index, self.log.last_index()), m.log_term)
        self.send(Message(type=MessageType.APP_RESP, to=m.frm, index=m.index, reject=True,
                          reject_hint=hint_index, log_term=hint_term))

    def _handle_snapshot(self, m: Message) -> None:
        assert m.snapshot is not None
        if self._restore(m.snapshot):
            self.send(Message(type=MessageType.APP_RESP, to=m.frm, index=self.log.last_index()))
        else:
            self.send(Message(type=MessageType.APP_RESP, to=m.frm, index=self.log.committed))

    def _restore(self, s: Snapshot) -> bool:
        meta = s.metadata
        if meta.index <= self.log.committed:
            return False
        if self.state != StateType.FOLLOWER:
            self.become_follower(self.term + 1, NONE)
            return False
        if self.log.match_term(meta.index, meta.term):
            self.log.commit_to(meta.index)  # we already have it: fast-forward
            return False
        self.log.restore(s)
        self._set_conf_state(meta.conf_state)
        return True

    # ------------------------------------------------------------------ configuration
    def _set_conf_state(self, cs: ConfState) -> None:
        last = self.log.last_index()
        self.prs = {}
        for v in cs.voters:
            self.prs[v] = Progress(last + 1, self.cfg.max_inflight_msgs)
        for learner in cs.learners:
            self.prs[learner] = Progress(last + 1, self.cfg.max_inflight_msgs, True)
        if self.id in self.prs:
            self.prs[self.id].match = last

    def conf_state(self) -> ConfState:
        return ConfState(voters=sorted(self.voters()),
                         learners=sorted(i for i, p in self.prs.items() if p.is_learner))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        last = self.log.last_index()
        pid = cc.node_id
        if cc.type == ConfChangeType.ADD_NODE:
            pr = self.prs.get(pid)
            if pr is None:
                self.prs[pid] = Progress(last + 1, self.cfg.max_inflight_msgs)
                self.prs[pid].recent_active = True
            else:
                pr.is_learner = False
        elif cc.type == ConfChangeType.ADD_LEARNER_NODE:
            if pid not in self.prs:
                self.prs[pid] = Progress(last + 1, self.cfg.max_inflight_msgs, True)
                self.prs[pid].recent_active = True
        elif cc.type == ConfChangeType.REMOVE_NODE:
            self.prs.pop(pid, None)
            if self.lead_transferee == pid:
                self.lead_transferee = NONE
        if pid == self.id and pid in self.prs and cc.type != ConfChangeType.REMOVE_NODE:
            self.prs[pid].match = max(self.prs[pid].match, 0)
        if self.state == StateType.LEADER and self.prs:
            if self.id not in self.prs:
                return self.conf_state()  # removed ourselves: keep serving until stopped
            if self._maybe_commit():
                self.bcast_append()
        return self.conf_state()
