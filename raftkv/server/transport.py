"""Peer transport: Raft messages between members over gRPC streams with mutual TLS.

One long-lived client stream per (this member -> peer); a sender task per peer drains
everything queued for that peer into one `MessageBatch` frame, so a busy leader sends
few, large frames. Raft tolerates loss, so while a peer is unreachable its messages are
dropped and the core is told (`report_unreachable`), which moves the peer to probe state.
Snapshots (MsgSnap) travel on their own RPC in chunks, with the state-machine image read
from a file, and the core is told whether they arrived (`report_snapshot`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import grpc

from raftkv._pb.raftpb import raft_pb2 as rpb
from raftkv._pb.raftpb import raft_pb2_grpc as rpb_grpc
from raftkv.raft.types import Message, MessageType
from raftkv.server import codec

log = logging.getLogger("raftkv.transport")

SNAPSHOT_CHUNK_BYTES = 1 << 20
MAX_PEER_MESSAGE_BYTES = 64 * 1024 * 1024
RECONNECT_BACKOFF_S = 0.1
MAX_QUEUED_MESSAGES = 4096


def grpc_target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


class PeerTransport:
    """Sends to peers; the receiving half is `PeerService`."""

    def __init__(self, member_id: int, cluster_id: int, credentials: grpc.ChannelCredentials | None,
                 on_unreachable: Callable[[int], None],
                 on_snapshot_status: Callable[[int, bool], None],
                 snapshot_source: Callable[[Message], Awaitable[Iterator[bytes]]]) -> None:
        self.member_id = member_id
        self.cluster_id = cluster_id
        self._creds = credentials
        self._on_unreachable = on_unreachable
        self._on_snapshot_status = on_snapshot_status
        self._snapshot_source = snapshot_source
        self._urls: dict[int, list[str]] = {}
        self._queues: dict[int, asyncio.Queue[Message]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._snap_tasks: set[asyncio.Task[None]] = set()
        self.active: dict[int, bool] = {}
        self.connected_since: dict[int, float] = {}
        """Per peer, the loop time of the first write that went through since the link was last down (etcd's
        ActiveSince): the strict reconfiguration checks want voters connected for a while, not just now."""

    def set_peers(self, urls: dict[int, list[str]]) -> None:
        for pid in list(self._urls):
            if pid not in urls:
                self._drop_peer(pid)
        for pid, u in urls.items():
            if pid == self.member_id:
                continue
            if self._urls.get(pid) != u:
                self._drop_peer(pid)
                self._urls[pid] = list(u)

    def _drop_peer(self, pid: int) -> None:
        self._urls.pop(pid, None)
        self.connected_since.pop(pid, None)
        self._queues.pop(pid, None)
        task = self._tasks.pop(pid, None)
        if task:
            task.cancel()
        ch = self._channels.pop(pid, None)
        if ch is not None:
            asyncio.get_running_loop().create_task(ch.close())

    def _channel(self, pid: int) -> grpc.aio.Channel:
        ch = self._channels.get(pid)
        if ch is None:
            target = grpc_target(self._urls[pid][0])
            opts = [("grpc.max_send_message_length", MAX_PEER_MESSAGE_BYTES),
                    ("grpc.max_receive_message_length", MAX_PEER_MESSAGE_BYTES),
                    ("grpc.keepalive_time_ms", 10_000)]
            ch = (grpc.aio.secure_channel(target, self._creds, options=opts) if self._creds
                  else grpc.aio.insecure_channel(target, options=opts))
            self._channels[pid] = ch
        return ch

    def send(self, messages: list[Message]) -> None:
        for m in messages:
            if m.to not in self._urls:
                continue
            if m.type == MessageType.SNAP:
                task = asyncio.get_running_loop().create_task(self._send_snapshot(m))
                self._snap_tasks.add(task)
                task.add_done_callback(self._snap_tasks.discard)
                continue
            q = self._queues.get(m.to)
            if q is None:
                q = self._queues[m.to] = asyncio.Queue()
                self._tasks[m.to] = asyncio.get_running_loop().create_task(self._sender(m.to, q))
            if q.qsize() >= MAX_QUEUED_MESSAGES:
                self._on_unreachable(m.to)
                continue
            q.put_nowait(m)

    async def _sender(self, pid: int, q: asyncio.Queue[Message]) -> None:
        call: Any = None
        while True:
            first = await q.get()
            batch = [first]
            while not q.empty():
                batch.append(q.get_nowait())
            frame = rpb.MessageBatch(cluster_id=self.cluster_id, messages=[codec.message_to_pb(m) for m in batch])
            setattr(frame, "from", self.member_id)
            try:
                if call is None:
                    call = rpb_grpc.RaftPeerStub(self._channel(pid)).Stream()
                await call.write(frame)
                self.active[pid] = True
                self.connected_since.setdefault(pid, asyncio.get_running_loop().time())
            except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError, ConnectionError) as exc:
                if self.active.get(pid, True):
                    reason = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                    log.warning("peer %x unreachable: %s", pid, reason)
                self.active[pid] = False
                self.connected_since.pop(pid, None)
                if call is not None:
                    call.cancel()
                call = None
                self._on_unreachable(pid)
                await asyncio.sleep(RECONNECT_BACKOFF_S)
                while not q.empty():  # what was queued while down is stale; Raft resends
                    q.get_nowait()

    async def _send_snapshot(self, m: Message) -> None:
        ok = False
        try:
            chunks = await self._snapshot_source(m)
            digest = hashlib.sha256()

            async def frames() -> AsyncIterator[rpb.SnapshotChunk]:
                yield rpb.SnapshotChunk(cluster_id=self.cluster_id, message=codec.message_to_pb(m))
                for chunk in chunks:
                    digest.update(chunk)
                    yield rpb.SnapshotChunk(data=chunk)
                yield rpb.SnapshotChunk(last=True, sha256=digest.digest())

            ack = await rpb_grpc.RaftPeerStub(self._channel(m.to)).SendSnapshot(frames(), timeout=600)
            ok = ack.ok
            if not ok:
                log.warning("peer %x refused snapshot at index %d: %s", m.to,
                            m.snapshot.metadata.index if m.snapshot else 0, ack.error)
        except Exception as exc:  # any failure: the core retries after report_snapshot(False)
            log.warning("sending snapshot to %x failed: %s", m.to, exc)
        self._on_snapshot_status(m.to, ok)

    async def reconfigure(self, pid: int, change: bytes, timeout: float) -> rpb.ReconfigureResponse:
        """Hand a membership change to the leader `pid` (raises grpc.aio.AioRpcError if it cannot be reached)."""
        stub = rpb_grpc.RaftPeerStub(self._channel(pid))
        resp: rpb.ReconfigureResponse = await stub.Reconfigure(
            rpb.ReconfigureRequest(cluster_id=self.cluster_id, change=change), timeout=timeout)
        return resp

    async def close(self) -> None:
        for t in list(self._tasks.values()) + list(self._snap_tasks):
            t.cancel()
        for ch in self._channels.values():
            await ch.close()
        self._channels.clear()


class PeerService(rpb_grpc.RaftPeerServicer):
    """Receives frames from peers and hands their messages to the member."""

    def __init__(self, member: Any) -> None:
        self.member = member

    async def Stream(self, request_iterator: AsyncIterator[rpb.MessageBatch], context: grpc.aio.ServicerContext
                     ) -> rpb.StreamAck:
        async for frame in request_iterator:
            if not self.member.accept_cluster(frame.cluster_id):
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                    f"raftkv: cluster id mismatch ({frame.cluster_id:x})")
            self.member.receive([codec.message_from_pb(p) for p in frame.messages])
        return rpb.StreamAck()

    async def Members(self, request: rpb.MembersRequest, context: grpc.aio.ServicerContext) -> rpb.MembersResponse:
        return rpb.MembersResponse(membership=self.member.membership.to_json())

    async def Reconfigure(self, request: rpb.ReconfigureRequest, context: grpc.aio.ServicerContext
                          ) -> rpb.ReconfigureResponse:
        if not self.member.accept_cluster(request.cluster_id):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"raftkv: cluster id mismatch ({request.cluster_id:x})")
        resp: rpb.ReconfigureResponse = await self.member.reconfigure_as_leader(request.change)
        return resp

    async def SendSnapshot(self, request_iterator: AsyncIterator[rpb.SnapshotChunk],
                           context: grpc.aio.ServicerContext) -> rpb.SnapshotAck:
        try:
            return await self.member.receive_snapshot(request_iterator)
        except Exception as exc:
            log.warning("receiving snapshot failed: %s", exc)
            return rpb.SnapshotAck(ok=False, error=str(exc))
