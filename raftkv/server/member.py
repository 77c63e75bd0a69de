"""The member loop: joins the Raft core, the WAL, the MVCC store and the lessor.

Order of work per Raft `Ready` (the contract of `raftkv.raft`):
  1. persist hard state + entries (+ snapshot marker) in ONE WAL write and ONE fsync,
  2. then hand them to the in-memory Raft log and send the messages (nothing that depends on
     unpersisted state leaves this process; a leader's appends and heartbeats are the exception the
     Raft thesis allows: they leave before its fsync, so followers write in parallel with it),
  3. apply committed entries to the store, resolve the clients waiting on them,
  4. serve read states whose index is applied, advance.
Everything runs on one asyncio loop; the core is only touched from it. Proposals and peer
messages that arrive while a Ready is handled join the next one: that is the group commit.

The backend (MVCC store) is committed in batches, not per entry; it records the last
applied index (`consistent_index`), and on restart entries at or below it are skipped. A
committed conf change is always handed to the core again on replay (it is idempotent), so
the core's view of the voters is rebuilt from the log.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import grpc

from raftkv import errors
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.raftpb import raft_pb2 as rpb
from raftkv.auth import AuthStore
from raftkv.lease import Lessor, min_lease_ttl
from raftkv.mvcc import Applier, open_store
from raftkv.mvcc.apply import request_cost
from raftkv.raft import (
    Config,
    MemoryStorage,
    ProposalDropped,
    RawNode,
    decode_conf_change,
)
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
from raftkv.server import codec
from raftkv.server.batching import BatchPolicy, proposals_due, read_round_due
from raftkv.server.codec import Op
from raftkv.server.config import ServerConfig, cluster_id, member_id
from raftkv.server.join import find_self
from raftkv.server.membership import Member as MemberInfo
from raftkv.server.membership import Membership, member_context, member_from_context
from raftkv.server.reconfig import LeaderView, check_add, check_promote, check_remove, check_update
from raftkv.server.transport import PeerTransport
from raftkv.storage import WAL, SnapshotReceiver, Snapshotter

# What a leader may send before its own WAL fsync (see _handle_ready).
_LEADER_EARLY = frozenset((MessageType.APP, MessageType.HEARTBEAT))

log = logging.getLogger("raftkv.member")

MAX_LEASE_TTL = 9_000_000_000
BACKEND_COMMIT_INTERVAL_S = 0.1
LEASE_EXPIRY_CHECK_S = 0.5
LEASE_EXPIRY_FLOOR_S = 0.02  # the expiry timer's shortest sleep: leases expiring this close go in one scan
SNAPSHOT_SEND_CHUNK = 1 << 20
MEMBERSHIP_META = "membership"
AUTH_META = "auth"  # the users and roles, as JSON, beside the keys (so in every snapshot)


@dataclass
class _ReadRound:
    ctx: bytes
    waiters: list[asyncio.Future[None]]
    started: float


@dataclass
class Change:
    """A Cluster API change as the leader receives it (JSON on the peer link, never pickle)."""

    op: str  # "add" | "remove" | "promote" | "update"
    member_id: int = 0
    peer_urls: list[str] = field(default_factory=list)
    is_learner: bool = False

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Change:
        d = json.loads(data)
        return cls(str(d["op"]), int(d.get("member_id", 0)), [str(u) for u in d.get("peer_urls", [])],
                   bool(d.get("is_learner", False)))


def _domain_error(name: str, message: str) -> errors.RaftKVError:
    """The leader's refusal, as the same error class here (so the client sees etcd's code and text)."""
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.RaftKVError):
        return cls(message)
    return errors.RaftKVError(message)


class RaftMember:
    """One raftkv member: state and the loop that drives it. gRPC services call its methods."""

    def __init__(self, cfg: ServerConfig, joined: Membership | None = None) -> None:
        """`joined`: for a new member of an existing cluster, the membership fetched from a peer
        (raftkv.server.join); it holds this member's id, which its flags cannot tell."""
        self.cfg = cfg
        self.token = cfg.initial_cluster_token
        self._joined = joined
        self.id = (find_self(joined, cfg.initial_advertise_peer_urls).id if joined is not None
                   else member_id(cfg.initial_advertise_peer_urls, self.token))
        self.loop = asyncio.get_event_loop()
        self.member_dir = os.path.join(cfg.data_dir, "member")
        self.wal_dir = wal_dir(cfg)
        self.snap_dir = os.path.join(self.member_dir, "snap")
        self.db_dir = os.path.join(self.member_dir, "db")
        self.cluster_file = os.path.join(self.member_dir, "cluster.json")
        self.request_timeout = 5.0 + 2 * cfg.election_timeout / 1000
        self._ids = itertools.count(1)
        self._id_prefix = (self.id & 0xFFFFFF) << 40
        self.waits: dict[int, asyncio.Future[Any]] = {}
        # proposals since the loop last ran, stepped into Raft as one batch (one append, one broadcast)
        self._proposals: list[bytes] = []
        self._proposal_ids: list[int] = []
        self.batch_policy = BatchPolicy()
        self._proposals_stepped_at = 0.0
        self._last_batch = 0
        self._proposals_stepped_to = 0  # the leader's last log index after its latest batch
        self._proposal_timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._read_pending: list[asyncio.Future[None]] = []
        self._read_rounds: dict[bytes, _ReadRound] = {}
        self._read_timer: asyncio.TimerHandle | None = None
        self._last_round_reads = 0
        self._last_round_started = 0.0
        self._apply_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._received_images: dict[int, str] = {}
        self._revoking: set[int] = set()
        self.lead = NONE
        self.term = 0
        self.is_leader = False
        self.leader_changes = 0
        self.proposals_failed = 0
        self.applied_index = 0
        self.snapshot_index = 0
        self.conf_state = ConfState()
        self.alarms: set[tuple[int, int]] = set()
        self.fatal: BaseException | None = None
        self.on_leader_change: list[Callable[[int], None]] = []
        self.joining_cluster = False
        self._wal_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal")
        self._raising_nospace = False

    # ------------------------------------------------------------------ start / stop
    def open(self) -> None:
        """Open or create everything on disk and build the Raft node (no I/O tasks yet)."""
        os.makedirs(self.member_dir, exist_ok=True)
        for d in (self.snap_dir, self.db_dir):
            os.makedirs(d, exist_ok=True)
        self.store = open_store(self.db_dir)
        self.auth = AuthStore.from_json(self.store.b.get_meta(AUTH_META))
        self.store.restore_listeners.append(self._reload_auth)
        self.lessor = Lessor(min_ttl=min_lease_ttl(self.cfg.election_timeout, self.cfg.heartbeat_interval))
        self.applier = Applier(self.store, self.lessor, max_txn_ops=self.cfg.max_txn_ops,
                               quota_bytes=self.cfg.quota_backend_bytes)
        self.snapshotter = Snapshotter(self.snap_dir)
        self.raft_storage = MemoryStorage()
        initial = self.cfg.initial_members()
        fresh = not WAL.exists(self.wal_dir)
        if fresh:
            if self._joined is not None:
                self.membership = Membership.from_json(self._joined.to_json())
            else:
                ids = {name: member_id(urls, self.token) for name, urls in initial.items()}
                self.membership = Membership(cluster_id=cluster_id(list(ids.values()), self.token))
                for name, urls in initial.items():
                    self.membership.add(MemberInfo(ids[name], name, urls, [], False))
            self.joining_cluster = self.cfg.initial_cluster_state == "existing"
            meta = f'{{"member_id": {self.id}, "cluster_id": {self.membership.cluster_id}}}'.encode()
            self.wal = WAL.create(self.wal_dir, meta)
            self._save_membership()
            applied = 0
        else:
            self.wal, state = WAL.open(self.wal_dir)
            self._adopt_id(json.loads(state.metadata or b"{}").get("member_id", self.id))
            self.membership = self._load_membership()
            if state.snapshot is not None and state.snapshot.index > 0:
                found = self.snapshotter.load_newest()
                data = b""
                if found is not None and found[0].index == state.snapshot.index:
                    with open(found[1], "rb") as fh:
                        data = fh.read()
                    self.membership = Membership.from_json(data)
                self.raft_storage.apply_snapshot(Snapshot(data=data, metadata=state.snapshot))
                self.snapshot_index = state.snapshot.index
                self.conf_state = state.snapshot.conf_state
            if not state.hard_state.is_empty():
                self.raft_storage.set_hard_state(state.hard_state)
            if state.entries:
                self.raft_storage.append(state.entries)
            applied = self.snapshot_index
        self.cluster_id = self.membership.cluster_id
        self.applied_index = applied
        rng = random.Random(self.id ^ int(time.time() * 1e6))
        self.node = RawNode(Config(id=self.id, election_tick=self.cfg.election_ticks, heartbeat_tick=1,
                                   pre_vote=True, check_quorum=True, max_size_per_msg=1 << 20,
                                   max_inflight_msgs=256, applied=applied, rng=rng), self.raft_storage)
        if fresh and not self.joining_cluster:
            self.node.bootstrap(sorted(m.id for m in self.membership.members.values()))
        self.term = self.node.term  # Readies report only changes: start from the stored term

    def _adopt_id(self, mid: int) -> None:
        """The id this member was created with (kept in the WAL's metadata): an added member's id is not
        derivable from its flags."""
        self.id = int(mid)
        self._id_prefix = (self.id & 0xFFFFFF) << 40

    def transport_credentials(self) -> grpc.ChannelCredentials | None:
        return peer_channel_credentials(self.cfg)

    async def start(self) -> None:
        self.transport = PeerTransport(self.id, self.cluster_id, self.transport_credentials(),
                                       self._report_unreachable, self._report_snapshot, self._snapshot_chunks)
        self._refresh_peers()
        for coro in (self._raft_loop(), self._ticker(), self._backend_committer(), self._lease_expirer(),
                     self._watch_syncer(), self._publish_attributes(), self._read_timeouts()):
            self._tasks.append(self.loop.create_task(coro))
        self._wake.set()

    async def stop(self, transfer_leadership: bool = True) -> None:
        if transfer_leadership and self.is_leader and len(self.conf_state.voters) > 1:
            target = max((p for p in self.conf_state.voters if p != self.id and self.transport.active.get(p)),
                         default=NONE)
            if target:
                try:
                    await self.move_leader(target, timeout=self.cfg.election_timeout * 3 / 1000)
                except errors.RaftKVError:
                    pass
        self._stopped.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()
        for fut in self.waits.values():
            if not fut.done():
                fut.set_exception(errors.Stopped())
        self._fail_reads(errors.Stopped())
        self._wal_thread.shutdown(wait=True)

    def close(self) -> None:
        """Close the store and the WAL: after `stop`, once nothing serves clients any more (a watch stream
        or a read still in the gRPC server would otherwise touch a closed database)."""
        try:
            self.store.close(commit=self.fatal is None)
            self.wal.close()
        except (OSError, sqlite3.Error) as exc:  # the disk that failed the member fails its shutdown too
            log.error("member %x: closing its data failed: %s (the WAL replays what the store lacks)", self.id, exc)

    # ------------------------------------------------------------------ membership persistence
    def _save_membership(self) -> None:
        """To its own file (read at start) and into the store beside the keys, so that a state image sent to a
        follower carries the membership as of the image, not as of the older snapshot index."""
        data = self.membership.to_json()
        self.store.b.set_meta(MEMBERSHIP_META, data)
        tmp = self.cluster_file + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.cluster_file)

    def _load_membership(self) -> Membership:
        with open(self.cluster_file, "rb") as fh:
            return Membership.from_json(fh.read())

    def _refresh_peers(self) -> None:
        self.transport.set_peers({m.id: m.peer_urls for m in self.membership.members.values()})

    def accept_cluster(self, cid: int) -> bool:
        """Frames must carry our cluster id. A member joining an existing cluster cannot compute that id
        from its flags (the cluster was formed without it): it adopts the id of the first peer that talks to it."""
        if self.joining_cluster and self.applied_index == 0 and cid:
            if cid != self.cluster_id:
                log.info("member %x joins cluster %x", self.id, cid)
                self.cluster_id = self.membership.cluster_id = cid
                self.transport.cluster_id = cid
                self._save_membership()
            return True
        return cid == self.cluster_id

    # ------------------------------------------------------------------ the Raft loop
    def receive(self, messages: list[Message]) -> None:
        for m in messages:
            if m.type == MessageType.SNAP:
                continue  # snapshots only arrive through receive_snapshot, with their image
            try:
                self.node.step(m)
            except Exception as exc:  # a message from a removed or unknown peer
                log.debug("dropped message %s from %x: %s", m.type.name, m.frm, exc)
        self._wake.set()

    async def _ticker(self) -> None:
        interval = self.cfg.heartbeat_interval / 1000
        while True:
            await asyncio.sleep(interval)
            self.node.tick()
            self._wake.set()

    async def _raft_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._step_proposals()
                while self.node.has_ready():
                    await self._handle_ready()
                    await asyncio.sleep(0)
                    self._step_proposals()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a failed fsync or a broken invariant: stop serving, never ack
            self._fail(exc)
            raise

    def _fail(self, exc: BaseException) -> None:
        """Stop serving for good: nothing more is acknowledged, every waiting request gets Stopped.

        A disk that cannot be written (ENOSPC, EIO, SQLite's "disk is full") is the machine's fault, not
        a bug: one clear line, no traceback. Anything else is a bug and is logged with its traceback.
        """
        if self.fatal is not None:
            return
        if isinstance(exc, (OSError, sqlite3.OperationalError)):
            log.critical("member %x stopping: cannot write its data (%s); nothing unsynced was acknowledged",
                         self.id, exc)
        else:
            log.critical("member loop failed, stopping: %r", exc, exc_info=exc)
        self.fatal = exc
        self._stopped.set()
        for fut in self.waits.values():
            if not fut.done():
                fut.set_exception(errors.Stopped())

    async def _handle_ready(self) -> None:
        rd = self.node.ready()
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state.lead, rd.soft_state.raft_state)
        if rd.hard_state is not None:
            self.term = rd.hard_state.term
        if rd.snapshot is not None and not rd.snapshot.is_empty():
            self._save_snapshot_files(rd.snapshot)
        messages = rd.messages
        if rd.must_sync:
            if messages and self.is_leader and self._keeps_term_and_vote(rd):
                # A leader's appends and heartbeats may leave before its own fsync (Raft thesis 10.2.1, as
                # etcd does): followers persist in parallel with the leader, so a commit costs one fsync of
                # latency instead of two. Safe because nothing that reveals the new commit index (the next
                # Ready, applies, client answers) comes out before this Ready's fsync has returned.
                early = [m for m in messages if m.type in _LEADER_EARLY]
                if early:
                    self.transport.send(early)
                    messages = [m for m in messages if m.type not in _LEADER_EARLY]
            # fsync in the WAL thread: proposals and peer messages keep arriving meanwhile and are
            # batched into the next Ready (group commit). Nothing else of `rd` is sent or applied before this
            # returns.
            await self.loop.run_in_executor(self._wal_thread, self.wal.save, rd.hard_state, rd.entries, True)
        elif rd.hard_state is not None or rd.entries:
            self.wal.save(rd.hard_state, rd.entries, sync=False)
        if rd.snapshot is not None and not rd.snapshot.is_empty():
            self.raft_storage.apply_snapshot(rd.snapshot)
            self._install_snapshot(rd.snapshot)
        if rd.hard_state is not None:
            self.raft_storage.set_hard_state(rd.hard_state)
        if rd.entries:
            self.raft_storage.append(rd.entries)
        if messages:
            self.transport.send(messages)
        if rd.committed_entries:
            self._apply(rd.committed_entries)
        for rs in rd.read_states:
            self._on_read_state(rs)
        self.node.advance(rd)
        if self.applied_index - self.snapshot_index >= self.cfg.snapshot_count:
            self._take_snapshot()

    def _keeps_term_and_vote(self, rd: Any) -> bool:
        """The Ready persists no new term or vote (those must be durable before any message leaves)."""
        hs, persisted = rd.hard_state, self.raft_storage.hard_state
        return hs is None or (hs.term == persisted.term and hs.vote == persisted.vote)

    def _on_soft_state(self, lead: int, state: StateType) -> None:
        was_leader = self.is_leader
        if lead != self.lead:
            if lead != NONE:
                self.leader_changes += 1
            log.info("member %x: leader is now %x", self.id, lead)
            self.lead = lead
            for cb in self.on_leader_change:
                cb(lead)
            if lead == NONE:
                self._fail_reads(errors.NoLeader())
        self.is_leader = state == StateType.LEADER
        if self.is_leader and not was_leader:
            self.lessor.promote(time.monotonic(), self.cfg.election_timeout / 1000)
        elif was_leader and not self.is_leader:
            self.lessor.demote()
            self._revoking.clear()

    # ------------------------------------------------------------------ apply
    def _apply(self, entries: list[Entry]) -> None:
        store = self.store
        for e in entries:
            if e.type == EntryType.CONF_CHANGE:
                self._apply_conf_change(e)
            elif e.data and e.index > store.consistent_index:
                self._apply_request(e.data)
            self.applied_index = e.index
        if entries and entries[-1].index > store.consistent_index:
            store.set_consistent_index(entries[-1].index)
        waiters = self._apply_waiters
        if waiters:
            keep = []
            for idx, fut in waiters:
                if idx <= self.applied_index:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    keep.append((idx, fut))
            self._apply_waiters = keep

    def _apply_request(self, data: bytes) -> None:
        try:
            rid, op, payload = codec.decode_request(data)
        except ValueError as exc:
            log.error("skipping undecodable log entry: %s", exc)
            return
        result: Any
        try:
            result = self._dispatch(op, payload)
        except errors.RaftKVError as err:
            result = err
        fut = self.waits.pop(rid, None)
        if fut is not None and not fut.done():
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    def _dispatch(self, op: Op, payload: bytes) -> Any:
        a = self.applier
        if op == Op.PUT:
            return a.put(pb.PutRequest.FromString(payload))
        if op == Op.TXN:
            return a.txn(pb.TxnRequest.FromString(payload))
        if op == Op.DELETE_RANGE:
            return a.delete_range(pb.DeleteRangeRequest.FromString(payload))
        if op == Op.COMPACTION:
            return a.compact(pb.CompactionRequest.FromString(payload))
        if op == Op.LEASE_GRANT:
            req = pb.LeaseGrantRequest.FromString(payload)
            resp = a.lease_grant(req.ID, req.TTL)
            if self.is_leader:  # the primary lessor starts the new lease's clock now
                self.lessor.renew(req.ID, time.monotonic())
            return resp
        if op == Op.LEASE_REVOKE:
            req = pb.LeaseRevokeRequest.FromString(payload)
            self._revoking.discard(req.ID)
            return a.lease_revoke(req.ID)
        if op == Op.ALARM:
            req = pb.AlarmRequest.FromString(payload)
            return self._apply_alarm(req)
        if op == Op.AUTH:
            self.auth.apply(json.loads(payload))
            self.store.b.set_meta(AUTH_META, self.auth.to_json())
            return self.auth.revision
        if op == Op.MEMBER_ATTR:
            m = member_from_context(payload)
            self.membership.set_attributes(m.id, m.name, m.client_urls)
            self._save_membership()
            return None
        if op == Op.MEMBER_UPDATE:
            m = member_from_context(payload)
            self.membership.update_peer_urls(m.id, m.peer_urls)
            self._save_membership()
            self._refresh_peers()
            return None
        raise errors.InvalidArgument(f"etcdserver: unknown log entry operation {op}")

    def _reload_auth(self) -> None:
        """After a snapshot replaced the store: its users and roles came with it."""
        self.auth = AuthStore.from_json(self.store.b.get_meta(AUTH_META))

    def _apply_alarm(self, req: pb.AlarmRequest) -> pb.AlarmResponse:
        resp = pb.AlarmResponse()
        key = (req.memberID, int(req.alarm))
        if req.action == pb.AlarmRequest.ACTIVATE:
            if req.alarm != pb.NONE:
                self.alarms.add(key)
                resp.alarms.add(memberID=req.memberID, alarm=req.alarm)
        elif req.action == pb.AlarmRequest.DEACTIVATE:
            if key in self.alarms:
                self.alarms.discard(key)
                resp.alarms.add(memberID=req.memberID, alarm=req.alarm)
        self.applier.set_nospace(any(a == pb.NOSPACE for _, a in self.alarms))
        return resp

    def _apply_conf_change(self, e: Entry) -> None:
        cc = decode_conf_change(e.data)
        self.conf_state = self.node.apply_conf_change(cc)
        if cc.type in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER_NODE):
            if cc.context:
                m = member_from_context(cc.context)
                m.is_learner = cc.type == ConfChangeType.ADD_LEARNER_NODE
                self.membership.add(m)
                if cc.type == ConfChangeType.ADD_NODE and cc.node_id in self.membership.members:
                    self.membership.promote(cc.node_id)
        elif cc.type == ConfChangeType.REMOVE_NODE:
            self.membership.remove(cc.node_id)
        self._save_membership()
        self._refresh_peers()
        fut = self.waits.pop(cc.id, None)
        if fut is not None and not fut.done():
            fut.set_result(None)
        if cc.type == ConfChangeType.REMOVE_NODE and cc.node_id == self.id:
            log.warning("member %x was removed from the cluster; stopping", self.id)
            self.loop.call_later(0.5, self._stopped.set)

    # ------------------------------------------------------------------ snapshots
    def _take_snapshot(self) -> None:
        """Compact the Raft log behind the applied index; the store itself is the state image."""
        self.store.commit()
        index = self.applied_index
        data = self.membership.to_json()
        snap = self.raft_storage.create_snapshot(index, self.conf_state, data)
        self._save_snapshot_files(snap)
        compact_to = index - self.cfg.snapshot_catchup_entries
        if compact_to > self.raft_storage.first_index():
            self.raft_storage.compact(compact_to)
        self.wal.release_to(min(index, max(compact_to, 0)))
        self.snapshot_index = index

    def _save_snapshot_files(self, snap: Snapshot) -> None:
        with tempfile.NamedTemporaryFile(dir=self.snap_dir, delete=False, suffix=".members") as fh:
            fh.write(snap.data)
            tmp = fh.name
        try:
            self.snapshotter.save(snap.metadata, tmp)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.wal.save_snapshot(snap.metadata)

    def _install_snapshot(self, snap: Snapshot) -> None:
        """A snapshot from the leader: swap in the received state-machine image."""
        index = snap.metadata.index
        path = self._received_images.pop(index, None)
        if path is None:
            raise errors.Corrupt(f"etcdserver: no received image for snapshot at index {index}")
        self.store.restore_from(path)
        for stale in [i for i in self._received_images if i <= index]:
            self._received_images.pop(stale, None)
        data = self.store.b.get_meta(MEMBERSHIP_META) or snap.data
        if data:
            self.membership = Membership.from_json(data)
            self.cluster_id = self.membership.cluster_id
            self.transport.cluster_id = self.cluster_id
            self._save_membership()
            self._refresh_peers()
        self.conf_state = snap.metadata.conf_state
        self.applied_index = index
        self.snapshot_index = index
        self.joining_cluster = False

    def write_image(self) -> tuple[int, Generator[bytes, None, None]]:
        """A consistent copy of the state machine, for a follower (MsgSnap) or a client (Maintenance.Snapshot):
        its size and its chunks. The temporary file is removed once the chunks are consumed or closed."""
        fd, path = tempfile.mkstemp(dir=self.snap_dir, suffix=".image")
        os.close(fd)
        try:
            self.store.snapshot_to(path)  # commits first
            size = os.path.getsize(path)
        except BaseException:
            os.unlink(path)
            raise

        def chunks() -> Generator[bytes, None, None]:
            try:
                with open(path, "rb") as fh:
                    while chunk := fh.read(SNAPSHOT_SEND_CHUNK):
                        yield chunk
            finally:
                os.unlink(path)

        return size, chunks()

    async def _snapshot_chunks(self, m: Message) -> Iterator[bytes]:
        return self.write_image()[1]

    async def receive_snapshot(self, frames: AsyncIterator[rpb.SnapshotChunk]) -> rpb.SnapshotAck:
        first = True
        rx: SnapshotReceiver | None = None
        msg: Message | None = None
        try:
            async for frame in frames:
                if first:
                    first = False
                    if not self.accept_cluster(frame.cluster_id):
                        return rpb.SnapshotAck(ok=False, error="cluster id mismatch")
                    msg = codec.message_from_pb(frame.message)
                    if msg.snapshot is None:
                        return rpb.SnapshotAck(ok=False, error="first chunk has no snapshot")
                    rx = SnapshotReceiver(self.snap_dir, msg.snapshot.metadata)
                    continue
                assert rx is not None
                if frame.data:
                    rx.write(frame.data)
                if frame.last:
                    path = rx.finish(frame.sha256)
                    rx = None
                    assert msg is not None and msg.snapshot is not None
                    self._received_images[msg.snapshot.metadata.index] = path
                    self.node.step(msg)
                    self._wake.set()
                    return rpb.SnapshotAck(ok=True)
            return rpb.SnapshotAck(ok=False, error="stream ended before the last chunk")
        finally:
            if rx is not None:
                rx.abort()

    def _report_unreachable(self, pid: int) -> None:
        self.node.report_unreachable(pid)

    def _report_snapshot(self, pid: int, ok: bool) -> None:
        self.node.report_snapshot(pid, ok)
        self._wake.set()

    # ------------------------------------------------------------------ proposals
    def next_request_id(self) -> int:
        return self._id_prefix | next(self._ids)

    def check_serving(self) -> None:
        if self.fatal is not None or self._stopped.is_set():
            raise errors.Stopped()
        if self.lead == NONE:
            raise errors.NoLeader()

    async def propose(self, op: Op, payload: bytes) -> Any:
        self.check_serving()
        rid = self.next_request_id()
        data = codec.encode_request(rid, op, payload)
        if len(payload) > self.cfg.max_request_bytes:
            raise errors.RequestTooLarge()
        fut: asyncio.Future[Any] = self.loop.create_future()
        self.waits[rid] = fut
        self._proposals.append(data)
        self._proposal_ids.append(rid)
        self._wake.set()
        lead_at_start = self.lead
        timer = self.loop.call_later(self.request_timeout, _expire, fut)
        try:
            return await fut
        except TimeoutError:
            self.proposals_failed += 1
            if self.lead != lead_at_start:
                raise errors.TimeoutDueToLeaderFail() from None
            raise errors.Timeout() from None
        finally:
            timer.cancel()
            self.waits.pop(rid, None)

    def _step_proposals(self) -> None:
        """Hand every queued proposal to Raft in one step: the leader appends them together and sends one
        append per follower for the lot, a follower forwards them to the leader in one message."""
        if not self._proposals:
            return
        due = proposals_due(self.batch_policy, len(self._proposals), self.is_leader, self.node.committed,
                            self._proposals_stepped_to, self._proposals_stepped_at, self.loop.time(), self._last_batch)
        if due is not None:
            if self._proposal_timer is None:
                self._proposal_timer = self.loop.call_at(due, self._proposal_window_closed)
            return
        self._proposals_stepped_at = self.loop.time()
        self._last_batch = len(self._proposals)
        batch, ids = self._proposals, self._proposal_ids
        self._proposals, self._proposal_ids = [], []
        try:
            self.node.propose_many(batch)
            self._proposals_stepped_to = self.node.last_index
        except ProposalDropped:
            self.proposals_failed += len(ids)
            for rid in ids:
                fut = self.waits.pop(rid, None)
                if fut is not None and not fut.done():
                    fut.set_exception(errors.NoLeader())

    def _proposal_window_closed(self) -> None:
        self._proposal_timer = None
        self._wake.set()

    def check_quota(self, request: Any) -> None:
        """etcd's quota layer: a write that would take the backend past --quota-backend-bytes raises the
        NOSPACE alarm (through Raft, so every member refuses writes) and is refused with NoSpace."""
        if request_cost(request) == 0:
            return  # reads and deletes are always allowed
        if self.applier.alarm_nospace_active:
            raise errors.NoSpace()
        if self.applier.quota_exceeded(request):
            if not self._raising_nospace:
                self._raising_nospace = True
                alarm = pb.AlarmRequest(action=pb.AlarmRequest.ACTIVATE, memberID=self.id, alarm=pb.NOSPACE)
                task = self.loop.create_task(self.propose(Op.ALARM, alarm.SerializeToString()))
                task.add_done_callback(self._nospace_raised)
            raise errors.NoSpace()

    def _nospace_raised(self, task: asyncio.Task[Any]) -> None:
        self._raising_nospace = False
        if not task.cancelled() and task.exception() is not None:
            log.warning("raising the NOSPACE alarm failed: %s", task.exception())

    async def wait_applied(self, index: int, timeout: float | None = None) -> None:
        if self.applied_index >= index:
            return
        fut: asyncio.Future[None] = self.loop.create_future()
        self._apply_waiters.append((index, fut))
        await asyncio.wait_for(fut, timeout or self.request_timeout)

    # ------------------------------------------------------------------ linearizable reads (ReadIndex)
    async def read_barrier(self) -> None:
        """Returns once this member has applied everything committed before the call (ReadIndex)."""
        self.check_serving()
        fut: asyncio.Future[None] = self.loop.create_future()
        self._read_pending.append(fut)
        if len(self._read_pending) == 1 and not self._read_rounds and self._read_timer is None:
            self.loop.call_soon(self._start_read_round)
        timer = self.loop.call_later(self.request_timeout, _expire, fut)
        try:
            await fut
        except TimeoutError:
            raise errors.Timeout() from None
        finally:
            timer.cancel()

    def _start_read_round(self) -> None:
        """One ReadIndex round at a time: every read that arrives meanwhile joins the next round."""
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        if not self._read_pending or self._read_rounds:
            return
        now = self.loop.time()
        due = read_round_due(self.batch_policy, len(self._read_pending), self._last_round_reads,
                             self._last_round_started, now)
        if due is not None:
            self._read_timer = self.loop.call_at(due, self._start_read_round)
            return
        self._last_round_reads, self._last_round_started = len(self._read_pending), now
        waiters, self._read_pending = self._read_pending, []
        ctx = self.next_request_id().to_bytes(8, "big")
        self._read_rounds[ctx] = _ReadRound(ctx, waiters, time.monotonic())
        try:
            self.node.read_index(ctx)
        except ProposalDropped:
            self._read_rounds.pop(ctx, None)
            for f in waiters:
                if not f.done():
                    f.set_exception(errors.NoLeader())
            return
        self._wake.set()

    def _on_read_state(self, rs: ReadState) -> None:
        rnd = self._read_rounds.pop(rs.request_ctx, None)
        if rnd is None:
            return
        if self._read_pending and self._read_timer is None:
            self.loop.call_soon(self._start_read_round)
        if self.applied_index >= rs.index:
            for f in rnd.waiters:
                if not f.done():
                    f.set_result(None)
            return
        gate: asyncio.Future[None] = self.loop.create_future()
        self._apply_waiters.append((rs.index, gate))

        def release(_: asyncio.Future[None]) -> None:
            for f in rnd.waiters:
                if not f.done():
                    f.set_result(None)

        gate.add_done_callback(release)

    async def _read_timeouts(self) -> None:
        """Re-issue read rounds that got no answer (lost heartbeat round, leader change)."""
        while True:
            await asyncio.sleep(self.cfg.election_timeout / 1000)
            now = time.monotonic()
            for ctx, rnd in list(self._read_rounds.items()):
                if now - rnd.started > self.cfg.election_timeout / 1000:
                    self._read_rounds.pop(ctx, None)
                    live = [f for f in rnd.waiters if not f.done()]
                    if live:
                        self._read_pending.extend(live)
                        self.loop.call_soon(self._start_read_round)

    def _fail_reads(self, err: errors.RaftKVError) -> None:
        for rnd in self._read_rounds.values():
            for f in rnd.waiters:
                if not f.done():
                    f.set_exception(err)
        self._read_rounds.clear()
        for f in self._read_pending:
            if not f.done():
                f.set_exception(err)
        self._read_pending = []

    # ------------------------------------------------------------------ membership requests
    async def propose_conf_change(self, cc_type: ConfChangeType, node_id: int, context: bytes = b"") -> None:
        self.check_serving()
        rid = self.next_request_id()
        fut: asyncio.Future[Any] = self.loop.create_future()
        self.waits[rid] = fut
        try:
            self.node.propose_conf_change(ConfChange(type=cc_type, node_id=node_id, context=context, id=rid))
        except ProposalDropped:
            self.waits.pop(rid, None)
            raise errors.UnhealthyCluster() from None
        self._wake.set()
        try:
            await asyncio.wait_for(fut, self.request_timeout)
        except TimeoutError:
            raise errors.Timeout() from None
        finally:
            self.waits.pop(rid, None)

    async def member_add(self, peer_urls: list[str], is_learner: bool) -> MemberInfo:
        return await self.reconfigure(Change("add", 0, list(peer_urls), is_learner))

    async def member_remove(self, mid: int) -> None:
        await self.reconfigure(Change("remove", mid))

    async def member_promote(self, mid: int) -> None:
        await self.reconfigure(Change("promote", mid))

    async def member_update(self, mid: int, peer_urls: list[str]) -> None:
        await self.reconfigure(Change("update", mid, list(peer_urls)))

    async def reconfigure(self, change: Change) -> MemberInfo:
        """A Cluster API change, decided and proposed by the leader (raftkv.server.reconfig): here if this
        member leads, else handed to the leader over the peer link (again to a new one if leadership moves).
        Returns once this member has applied the change too, so its member list shows it."""
        self.check_serving()
        deadline = self.loop.time() + self.request_timeout
        pause = self.cfg.heartbeat_interval / 1000
        while True:
            if self.is_leader:
                return await self._reconfigure_here(change)
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                raise errors.Timeout()
            if self.lead == NONE or self.lead not in self.membership.members:  # (a leader we have not applied yet)
                await asyncio.sleep(pause)
                continue
            try:
                resp = await self.transport.reconfigure(self.lead, change.to_json(), remaining)
            except grpc.aio.AioRpcError as exc:
                log.debug("handing %s to leader %x: %s", change.op, self.lead, exc.details())
                await asyncio.sleep(pause)
                continue
            if resp.error == errors.NotLeader.__name__:
                await asyncio.sleep(pause)  # it lost leadership meanwhile: ask the next leader
                continue
            if resp.error:
                raise _domain_error(resp.error, resp.message)
            try:
                await self.wait_applied(resp.applied, max(remaining, pause))
            except TimeoutError:
                pass  # done on the leader; a member just removed may never hear of the commit
            return member_from_context(resp.member)

    async def reconfigure_as_leader(self, data: bytes) -> rpb.ReconfigureResponse:
        """The peer link's side of `reconfigure`: a change another member handed to us as the leader."""
        try:
            m = await self._reconfigure_here(Change.from_json(data))
        except errors.RaftKVError as err:
            return rpb.ReconfigureResponse(error=type(err).__name__, message=err.message)
        return rpb.ReconfigureResponse(applied=self.applied_index, member=member_context(m))

    async def _reconfigure_here(self, change: Change) -> MemberInfo:
        """Check the change with the leader's knowledge, then propose it; returns once applied here."""
        if not self.is_leader:
            raise errors.NotLeader()
        self.check_serving()
        view = LeaderView(self.id, self.loop.time(), dict(self.transport.connected_since),
                          {pid: p[0] for pid, p in self.node.status().progress.items()})
        ms, mid = self.membership, change.member_id
        if change.op == "add":
            m = MemberInfo(self._new_member_id(change.peer_urls), "", list(change.peer_urls), [], change.is_learner)
            check_add(ms, m, view)
            cc_type = ConfChangeType.ADD_LEARNER_NODE if m.is_learner else ConfChangeType.ADD_NODE
            await self.propose_conf_change(cc_type, m.id, member_context(m))
            return m
        if change.op == "remove":
            check_remove(ms, mid, view)
            m = ms.members[mid]
            await self.propose_conf_change(ConfChangeType.REMOVE_NODE, mid)
            return m
        if change.op == "promote":
            check_promote(ms, mid, view)
            old = ms.members[mid]
            m = MemberInfo(mid, old.name, list(old.peer_urls), list(old.client_urls), False)
            await self.propose_conf_change(ConfChangeType.ADD_NODE, mid, member_context(m))
            return m
        if change.op == "update":
            check_update(ms, mid, change.peer_urls)
            m = MemberInfo(mid, "", list(change.peer_urls), [], False)
            await self.propose(Op.MEMBER_UPDATE, member_context(m))
            return m
        raise errors.InvalidArgument(f"raftkv: unknown membership change {change.op!r}")

    def _new_member_id(self, peer_urls: list[str]) -> int:
        """Salted with the time in whole seconds, as etcd's are: the same URLs added again a second later (after
        a removal) get a new id, and added twice within a second the same one, which etcd refuses with
        "member ID already exist" before it looks at the URLs."""
        return member_id(peer_urls, f"{self.token}/{int(time.time())}")

    async def _publish_attributes(self) -> None:
        """Tell the cluster this member's name and client URLs (etcd's publish), until applied."""
        info = MemberInfo(self.id, self.cfg.name, [], list(self.cfg.advertise_client_urls), False)
        while True:
            me = self.membership.members.get(self.id)
            if me is not None and me.name == self.cfg.name and me.client_urls == info.client_urls:
                return
            try:
                if self.lead != NONE:
                    await self.propose(Op.MEMBER_ATTR, member_context(info))
                    continue
            except errors.RaftKVError as exc:
                log.debug("publish attributes: %s", exc)
            await asyncio.sleep(self.cfg.heartbeat_interval / 1000)

    async def move_leader(self, target: int, timeout: float | None = None) -> None:
        if not self.is_leader:
            raise errors.NotLeader()
        if target not in self.conf_state.voters or target == self.id:
            raise errors.BadLeaderTransferee()
        self.node.transfer_leader(target)
        self._wake.set()
        deadline = time.monotonic() + (timeout or self.request_timeout)
        while time.monotonic() < deadline:
            if self.lead == target:
                return
            await asyncio.sleep(self.cfg.heartbeat_interval / 1000)
        raise errors.Timeout("etcdserver: leader transfer timeout")

    # ------------------------------------------------------------------ background work
    async def _backend_committer(self) -> None:
        while True:
            await asyncio.sleep(BACKEND_COMMIT_INTERVAL_S)
            try:
                self.store.commit()
            except (OSError, sqlite3.Error) as exc:
                self._fail(exc)
                return

    async def _watch_syncer(self) -> None:
        while True:
            more = self.store.sync_watchers()
            await asyncio.sleep(0 if more else 0.05)

    async def _lease_expirer(self) -> None:
        """On the leader, propose the revocation of each lease as it expires (woken at the next expiry)."""
        while True:
            await asyncio.sleep(self.lessor.next_check_in(time.monotonic(), self._revoking, LEASE_EXPIRY_FLOOR_S,
                                                          LEASE_EXPIRY_CHECK_S))
            if not self.is_leader:
                continue
            for lid in self.lessor.expired(time.monotonic()):
                if lid in self._revoking:
                    continue
                self._revoking.add(lid)
                self.loop.create_task(self._revoke_expired(lid))

    async def _revoke_expired(self, lid: int) -> None:
        try:
            await self.propose(Op.LEASE_REVOKE, pb.LeaseRevokeRequest(ID=lid).SerializeToString())
        except errors.RaftKVError as exc:
            log.debug("revoking expired lease %x: %s", lid, exc)
        finally:
            self._revoking.discard(lid)

    def new_lease_id(self) -> int:
        while True:
            lid = random.getrandbits(62) | 1
            if lid not in set(self.lessor.leases()):
                return lid

    def client_channel(self, target: str, tls: bool) -> grpc.aio.Channel:
        """A channel to another member's client port (lease forwarding), authenticated with our cert."""
        cache: dict[str, grpc.aio.Channel] = self.__dict__.setdefault("_client_channels", {})
        ch = cache.get(target)
        if ch is None:
            if tls:
                creds = grpc.ssl_channel_credentials(_read(self.cfg.trusted_ca_file) or None,
                                                     _read(self.cfg.key_file) or None,
                                                     _read(self.cfg.cert_file) or None)
                ch = grpc.aio.secure_channel(target, creds)
            else:
                ch = grpc.aio.insecure_channel(target)
            cache[target] = ch
        return ch

    def leader_client_urls(self) -> list[str]:
        m = self.membership.members.get(self.lead)
        return list(m.client_urls) if m else []

    async def wait_leader_client_urls(self) -> list[str]:
        """The leader's client URLs, for forwarding a lease request to it. Just after an election, or a start,
        this member may know the leader before it has applied the leader's published URLs: wait for them (up to
        the request timeout) rather than answer "no leader" while there is one."""
        deadline = self.loop.time() + self.request_timeout
        while not (urls := self.leader_client_urls()):
            self.check_serving()
            if self.loop.time() >= deadline:
                raise errors.NoLeader()
            await asyncio.sleep(self.cfg.heartbeat_interval / 1000)
        return urls

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


def wal_dir(cfg: ServerConfig) -> str:
    return os.path.join(cfg.data_dir, "member", "wal")


def needs_discovery(cfg: ServerConfig) -> bool:
    """A new member of an existing cluster: it must learn its id from a peer before it can open."""
    return cfg.initial_cluster_state == "existing" and not WAL.exists(wal_dir(cfg))


def peer_channel_credentials(cfg: ServerConfig) -> grpc.ChannelCredentials | None:
    if not any(u.startswith("https") for u in cfg.listen_peer_urls):
        return None
    return grpc.ssl_channel_credentials(_read(cfg.peer_trusted_ca_file) or None, _read(cfg.peer_key_file),
                                        _read(cfg.peer_cert_file))


def _expire(fut: asyncio.Future[Any]) -> None:
    """A request's deadline passed before its entry was applied (cheaper than wait_for per request)."""
    if not fut.done():
        fut.set_exception(TimeoutError())


def _read(path: str) -> bytes:
    if not path:
        return b""
    with open(path, "rb") as fh:
        return fh.read()

