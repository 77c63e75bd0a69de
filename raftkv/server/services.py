"""The etcd v3 gRPC services, each method a few lines: validate, call the member, fill the header.

Errors from the cores are translated in exactly one place (`_abort`, through
`raftkv.server.errors.to_status`), so every method answers with etcd's code and message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from raftkv import errors
from raftkv._pb.authpb import auth_pb2
from raftkv._pb.etcdserverpb import rpc_pb2 as pb
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc
from raftkv.auth import READ, WRITE, AuthStore
from raftkv.auth.credentials import check_password, hash_password
from raftkv.auth.tokens import Identity, TokenProvider, check_revision
from raftkv.mvcc import check_compaction, check_delete_range, check_put, check_range, check_txn
from raftkv.raft.types import NONE
from raftkv.server.codec import Op
from raftkv.server.config import token_provider
from raftkv.server.errors import to_status
from raftkv.server.member import MAX_LEASE_TTL, RaftMember
from raftkv.server.transport import grpc_target
from raftkv.snapshot import export as snapshot_export

log = logging.getLogger("raftkv.services")

SERVER_VERSION = "3.5.17"
CLUSTER_VERSION = "3.5.0"
SNAPSHOT_CHUNK_BYTES = 32 * 1024
WATCH_MAX_EVENTS_PER_RESPONSE = 1000
# After a write that carried several events (a stream of them, not a lone change), a watch stream
# gathers for this long before its next write, so one response carries many events: on this stack a
# stream write costs far more than an event in it. A lone event is written at once.
WATCH_GATHER_S = 0.025


_GO_CODE_NAMES = {grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied", grpc.StatusCode.INVALID_ARGUMENT:
                  "InvalidArgument", grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated"}


def _txn_accesses(txn: pb.TxnRequest) -> list[tuple[bytes, bytes, int]]:
    """Every (key, range_end, READ/WRITE) a txn may touch, on both branches (etcd checks them all)."""
    out = [(c.key, c.range_end, READ) for c in txn.compare]
    for op in (*txn.success, *txn.failure):
        kind = op.WhichOneof("request")
        if kind == "request_range":
            out.append((op.request_range.key, op.request_range.range_end, READ))
        elif kind == "request_put":
            out.append((op.request_put.key, b"", WRITE))
        elif kind == "request_delete_range":
            out.append((op.request_delete_range.key, op.request_delete_range.range_end, WRITE))
        elif kind == "request_txn":
            out += _txn_accesses(op.request_txn)
    return out


async def _tick(wake: asyncio.Event, every_s: float) -> None:
    """Wakes a watch stream's writer periodically, for progress notifications."""
    while True:
        await asyncio.sleep(every_s)
        wake.set()


async def _abort(context: grpc.aio.ServicerContext, err: BaseException) -> Any:
    code, message = to_status(err)
    if code == grpc.StatusCode.UNKNOWN:
        log.exception("unexpected error", exc_info=err)
    await context.abort(code, message)


class _Base:
    def __init__(self, member: RaftMember, tokens: TokenProvider) -> None:
        self.m = member
        self.tokens = tokens  # one per member, shared by its services (simple tokens' sliding expiries)

    def identity(self, context: grpc.aio.ServicerContext) -> Identity | None:
        """Who is asking and at which auth revision, once auth is on (None while it is off): the request's
        token, else, as etcd does, the CN of the client certificate (judged at the current revision);
        etcd's errors for neither or a bad token."""
        a = self.m.auth
        if not a.enabled:
            return None
        for key, value in context.invocation_metadata() or ():
            if key == "token":
                who = self.tokens.identify(a, str(value), time.time())
                if who.user not in a.users:
                    raise errors.InvalidAuthToken()
                return who
        cn = (context.auth_context() or {}).get("x509_common_name")
        if cn:
            return Identity(bytes(cn[0]).decode(), a.revision)
        raise errors.UserEmpty()

    def user(self, context: grpc.aio.ServicerContext, allow_old: bool = False) -> str | None:
        """The asking user; unless told otherwise, refused with etcd's "revision of auth store is old" when
        the token predates the last auth change (etcd's isOpPermitted; admin checks skip it, as etcd's do)."""
        who = self.identity(context)
        if who is None:
            return None
        if not allow_old:
            check_revision(self.m.auth, who)
        return who.user

    def require(self, context: grpc.aio.ServicerContext, key: bytes, range_end: bytes, perm: int) -> None:
        user = self.user(context)
        if user is not None and not self.m.auth.permitted(user, key, range_end, perm):
            raise errors.PermissionDenied()

    def require_admin(self, context: grpc.aio.ServicerContext) -> None:
        user = self.user(context, allow_old=True)
        if user is not None and not self.m.auth.is_admin(user):
            raise errors.PermissionDenied()

    def require_txn(self, context: grpc.aio.ServicerContext, txn: pb.TxnRequest) -> None:
        user = self.user(context)
        if user is None:
            return
        for key, end, perm in _txn_accesses(txn):
            if not self.m.auth.permitted(user, key, end, perm):
                raise errors.PermissionDenied()

    def header(self, h: pb.ResponseHeader, revision: int | None = None) -> None:
        h.cluster_id = self.m.cluster_id
        h.member_id = self.m.id
        h.raft_term = self.m.term
        if revision is not None:
            h.revision = revision
        elif not h.revision:
            h.revision = self.m.store.rev


class KVService(_Base, pb_grpc.KVServicer):
    async def Range(self, request: pb.RangeRequest, context: grpc.aio.ServicerContext) -> pb.RangeResponse:
        try:
            check_range(request)
            self.require(context, request.key, request.range_end, READ)
            if not request.serializable:
                await self.m.read_barrier()
            resp = self.m.applier.range(request)
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def Put(self, request: pb.PutRequest, context: grpc.aio.ServicerContext) -> pb.PutResponse:
        try:
            check_put(request)
            self.require(context, request.key, b"", WRITE)
            self.m.check_quota(request)
            resp = await self.m.propose(Op.PUT, request.SerializeToString())
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def DeleteRange(self, request: pb.DeleteRangeRequest, context: grpc.aio.ServicerContext
                          ) -> pb.DeleteRangeResponse:
        try:
            check_delete_range(request)
            self.require(context, request.key, request.range_end, WRITE)
            resp = await self.m.propose(Op.DELETE_RANGE, request.SerializeToString())
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def Txn(self, request: pb.TxnRequest, context: grpc.aio.ServicerContext) -> pb.TxnResponse:
        try:
            check_txn(request, self.m.cfg.max_txn_ops)
            self.require_txn(context, request)
            self.m.check_quota(request)
            resp = await self.m.propose(Op.TXN, request.SerializeToString())
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def Compact(self, request: pb.CompactionRequest, context: grpc.aio.ServicerContext
                      ) -> pb.CompactionResponse:
        try:
            check_compaction(request)
            self.user(context, allow_old=True)  # as etcd: any authenticated user may compact, at any revision
            resp = await self.m.propose(Op.COMPACTION, request.SerializeToString())
            if request.physical:
                self.m.store.commit()
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp


class WatchService(_Base, pb_grpc.WatchServicer):
    """One gRPC stream = one MVCC watch stream; a writer drains it whenever it has output."""

    async def Watch(self, request_iterator: AsyncIterator[pb.WatchRequest], context: grpc.aio.ServicerContext
                    ) -> None:
        ws = self.m.store.watch_stream()
        wake = asyncio.Event()
        ws.set_notify(wake.set)
        outbox: list[pb.WatchResponse] = []
        progress: dict[int, bool] = {}
        fragment: dict[int, bool] = {}
        closed = asyncio.Event()

        async def reader() -> None:
            try:
                async for req in request_iterator:
                    kind = req.WhichOneof("request_union")
                    if kind == "create_request":
                        outbox.append(self._create(ws, req.create_request, progress, fragment, context))
                    elif kind == "cancel_request":
                        wid = req.cancel_request.watch_id
                        if ws.cancel(wid):
                            progress.pop(wid, None)
                            r = pb.WatchResponse(watch_id=wid, canceled=True)
                            self.header(r.header)
                            outbox.append(r)
                    elif kind == "progress_request":
                        r = pb.WatchResponse(watch_id=-1)
                        self.header(r.header, ws.request_progress())
                        outbox.append(r)
                    wake.set()
            finally:
                closed.set()
                wake.set()

        loop = asyncio.get_running_loop()
        reader_task = loop.create_task(reader())
        interval = self.m.cfg.watch_progress_notify_interval
        ticker = loop.create_task(_tick(wake, min(interval, 1.0)))
        last_sent = last_events = time.monotonic()
        gather = False
        try:
            while not closed.is_set():
                await wake.wait()
                wake.clear()
                while outbox:
                    await context.write(outbox.pop(0))
                    last_sent = time.monotonic()
                if gather and (pause := last_events + WATCH_GATHER_S - time.monotonic()) > 0:
                    await asyncio.sleep(pause)
                batches = ws.poll(WATCH_MAX_EVENTS_PER_RESPONSE)
                for batch in batches:
                    for r in self._responses(batch, fragment.get(batch.watch_id, False)):
                        await context.write(r)
                if batches:
                    last_sent = last_events = time.monotonic()
                    gather = any(len(b.events) > 1 for b in batches)
                if progress and time.monotonic() - last_sent >= interval:
                    rev = ws.request_progress()
                    for wid in list(progress):
                        r = pb.WatchResponse(watch_id=wid)
                        self.header(r.header, rev)
                        await context.write(r)
                    last_sent = time.monotonic()
        finally:
            reader_task.cancel()
            ticker.cancel()
            ws.close()

    def _create(self, ws: Any, c: pb.WatchCreateRequest, progress: dict[int, bool], fragment: dict[int, bool],
                context: grpc.aio.ServicerContext) -> pb.WatchResponse:
        r = pb.WatchResponse()
        try:
            self.require(context, c.key, c.range_end, READ)
        except errors.RaftKVError as err:  # etcd answers a created-and-canceled watch with the gRPC error text
            code, message = to_status(err)
            r.watch_id, r.created, r.canceled = -1, True, True
            r.cancel_reason = f"rpc error: code = {_GO_CODE_NAMES.get(code, code.name)} desc = {message}"
            self.header(r.header)
            return r
        try:
            wid = ws.watch(c.key, c.range_end, c.start_revision, c.prev_kv, set(c.filters),
                           c.watch_id if c.watch_id else -1)
        except errors.Compacted as err:
            r.watch_id = c.watch_id if c.watch_id else -1
            r.created = True
            r.canceled = True
            r.compact_revision = err.compact_revision
            self.header(r.header)
            return r
        except errors.RaftKVError as err:
            r.watch_id = -1
            r.created = True
            r.canceled = True
            r.cancel_reason = err.message
            self.header(r.header)
            return r
        if c.progress_notify:
            progress[wid] = True
        if c.fragment:
            fragment[wid] = True
        r.watch_id = wid
        r.created = True
        self.header(r.header)
        return r

    def _responses(self, batch: Any, fragment: bool) -> list[pb.WatchResponse]:
        r = pb.WatchResponse(watch_id=batch.watch_id, compact_revision=batch.compact_revision,
                             canceled=batch.canceled)
        self.header(r.header, batch.revision)
        if not batch.events:
            return [r]
        limit = self.m.cfg.max_request_bytes
        if not fragment:
            r.events.extend(batch.events)
            return [r]
        out: list[pb.WatchResponse] = []
        cur = pb.WatchResponse(watch_id=batch.watch_id)
        size = 0
        for ev in batch.events:
            n = ev.ByteSize()
            if cur.events and size + n > limit:
                cur.fragment = True
                out.append(cur)
                cur = pb.WatchResponse(watch_id=batch.watch_id)
                size = 0
            cur.events.append(ev)
            size += n
        out.append(cur)
        for x in out:
            self.header(x.header, batch.revision)
        return out


class LeaseService(_Base, pb_grpc.LeaseServicer):
    async def LeaseGrant(self, request: pb.LeaseGrantRequest, context: grpc.aio.ServicerContext
                         ) -> pb.LeaseGrantResponse:
        try:
            if request.TTL > MAX_LEASE_TTL:
                raise errors.LeaseTTLTooLarge()
            req = pb.LeaseGrantRequest(TTL=request.TTL, ID=request.ID or self.m.new_lease_id())
            self.m.check_quota(req)
            resp = await self.m.propose(Op.LEASE_GRANT, req.SerializeToString())
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def LeaseRevoke(self, request: pb.LeaseRevokeRequest, context: grpc.aio.ServicerContext
                          ) -> pb.LeaseRevokeResponse:
        try:
            user = self.user(context)
            if user is not None and not self.m.auth.is_admin(user):
                for key in self.m.lessor.time_to_live(request.ID, 0.0)[2]:  # as etcd: write on every attached key
                    if not self.m.auth.permitted(user, key, b"", WRITE):
                        raise errors.PermissionDenied()
            resp = await self.m.propose(Op.LEASE_REVOKE, request.SerializeToString())
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def LeaseKeepAlive(self, request_iterator: AsyncIterator[pb.LeaseKeepAliveRequest],
                             context: grpc.aio.ServicerContext) -> AsyncIterator[pb.LeaseKeepAliveResponse]:
        async for req in request_iterator:
            resp = pb.LeaseKeepAliveResponse(ID=req.ID)
            try:
                if self.m.is_leader:
                    resp.TTL = self.m.lessor.renew(req.ID, time.monotonic())
                else:
                    resp = await self._forward_keepalive(req)
            except errors.LeaseNotFound:
                resp.TTL = 0  # etcd answers an unknown lease on the stream with TTL 0
            except Exception as err:
                await _abort(context, err)
                return
            self.header(resp.header)
            yield resp

    async def _leader_channel(self) -> grpc.aio.Channel:
        self.m.check_serving()
        urls = await self.m.wait_leader_client_urls()
        return self.m.client_channel(grpc_target(urls[0]), urls[0].startswith("https"))

    async def _forward_keepalive(self, req: pb.LeaseKeepAliveRequest) -> pb.LeaseKeepAliveResponse:
        stub = pb_grpc.LeaseStub(await self._leader_channel())
        call = stub.LeaseKeepAlive(timeout=self.m.request_timeout)
        await call.write(req)
        resp = await call.read()
        call.cancel()
        if resp is grpc.aio.EOF:
            raise errors.NoLeader()
        return resp  # type: ignore[no-any-return]

    async def LeaseTimeToLive(self, request: pb.LeaseTimeToLiveRequest, context: grpc.aio.ServicerContext
                              ) -> pb.LeaseTimeToLiveResponse:
        try:
            if not self.m.is_leader:
                stub = pb_grpc.LeaseStub(await self._leader_channel())
                try:
                    resp = await stub.LeaseTimeToLive(request, timeout=self.m.request_timeout)
                except grpc.aio.AioRpcError as rpc_err:
                    await context.abort(rpc_err.code(), rpc_err.details() or "")
                self.header(resp.header)
                return resp
            granted, remaining, keys = self.m.lessor.time_to_live(request.ID, time.monotonic())
            resp = pb.LeaseTimeToLiveResponse(ID=request.ID, TTL=int(remaining), grantedTTL=granted)
            if request.keys:
                resp.keys.extend(keys)
        except errors.LeaseNotFound:
            # etcd reports an unknown lease in TimeToLive as TTL -1 rather than an error
            resp = pb.LeaseTimeToLiveResponse(ID=request.ID, TTL=-1)
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def LeaseLeases(self, request: pb.LeaseLeasesRequest, context: grpc.aio.ServicerContext
                          ) -> pb.LeaseLeasesResponse:
        resp = pb.LeaseLeasesResponse(leases=[pb.LeaseStatus(ID=i) for i in sorted(self.m.lessor.leases())])
        self.header(resp.header)
        return resp


class ClusterService(_Base, pb_grpc.ClusterServicer):
    def _members(self) -> list[pb.Member]:
        return [pb.Member(ID=x.id, name=x.name, peerURLs=x.peer_urls, clientURLs=x.client_urls,
                          isLearner=x.is_learner) for x in self.m.membership.sorted()]

    async def MemberList(self, request: pb.MemberListRequest, context: grpc.aio.ServicerContext
                         ) -> pb.MemberListResponse:
        try:
            if request.linearizable:
                await self.m.read_barrier()
        except Exception as err:
            return await _abort(context, err)
        resp = pb.MemberListResponse(members=self._members())
        self.header(resp.header)
        return resp

    async def MemberAdd(self, request: pb.MemberAddRequest, context: grpc.aio.ServicerContext
                        ) -> pb.MemberAddResponse:
        try:
            self.require_admin(context)
            if not request.peerURLs or any(not u.startswith(("http://", "https://")) for u in request.peerURLs):
                raise errors.MemberBadURLs()
            added = await self.m.member_add(list(request.peerURLs), request.isLearner)
        except Exception as err:
            return await _abort(context, err)
        resp = pb.MemberAddResponse(member=pb.Member(ID=added.id, peerURLs=added.peer_urls,
                                                     isLearner=added.is_learner), members=self._members())
        self.header(resp.header)
        return resp

    async def MemberRemove(self, request: pb.MemberRemoveRequest, context: grpc.aio.ServicerContext
                           ) -> pb.MemberRemoveResponse:
        try:
            self.require_admin(context)
            await self.m.member_remove(request.ID)
        except Exception as err:
            return await _abort(context, err)
        resp = pb.MemberRemoveResponse(members=self._members())
        self.header(resp.header)
        return resp

    async def MemberUpdate(self, request: pb.MemberUpdateRequest, context: grpc.aio.ServicerContext
                           ) -> pb.MemberUpdateResponse:
        try:
            self.require_admin(context)
            await self.m.member_update(request.ID, list(request.peerURLs))
        except Exception as err:
            return await _abort(context, err)
        resp = pb.MemberUpdateResponse(members=self._members())
        self.header(resp.header)
        return resp

    async def MemberPromote(self, request: pb.MemberPromoteRequest, context: grpc.aio.ServicerContext
                            ) -> pb.MemberPromoteResponse:
        try:
            self.require_admin(context)
            await self.m.member_promote(request.ID)
        except Exception as err:
            return await _abort(context, err)
        resp = pb.MemberPromoteResponse(members=self._members())
        self.header(resp.header)
        return resp


class MaintenanceService(_Base, pb_grpc.MaintenanceServicer):
    async def Alarm(self, request: pb.AlarmRequest, context: grpc.aio.ServicerContext) -> pb.AlarmResponse:
        try:
            if request.action == pb.AlarmRequest.GET:
                resp = pb.AlarmResponse(alarms=[
                    pb.AlarmMember(memberID=mid, alarm=a)  # type: ignore[arg-type]
                    for mid, a in sorted(self.m.alarms)
                    if request.alarm in (pb.NONE, a) and request.memberID in (0, mid)])
            else:
                resp = await self.m.propose(Op.ALARM, request.SerializeToString())
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def Status(self, request: pb.StatusRequest, context: grpc.aio.ServicerContext) -> pb.StatusResponse:
        st = self.m.node.status()
        me = self.m.membership.members.get(self.m.id)
        resp = pb.StatusResponse(version=SERVER_VERSION, dbSize=self.m.store.db_size(), leader=self.m.lead,
                                 raftIndex=st.commit, raftTerm=self.m.term, raftAppliedIndex=self.m.applied_index,
                                 dbSizeInUse=self.m.store.db_size_in_use(),
                                 isLearner=bool(me and me.is_learner))
        if self.m.lead == NONE:
            resp.errors.append("etcdserver: no leader")
        for mid, alarm in sorted(self.m.alarms):
            resp.errors.append(f"memberID:{mid} alarm:{pb.AlarmType.Name(alarm)} ")
        self.header(resp.header)
        return resp

    async def Defragment(self, request: pb.DefragmentRequest, context: grpc.aio.ServicerContext
                         ) -> pb.DefragmentResponse:
        try:
            self.require_admin(context)
            self.m.store.commit()
            defrag = getattr(self.m.store, "defragment", None)
            if defrag is not None:
                defrag()
        except Exception as err:
            return await _abort(context, err)
        resp = pb.DefragmentResponse()
        self.header(resp.header)
        return resp

    async def Hash(self, request: pb.HashRequest, context: grpc.aio.ServicerContext) -> pb.HashResponse:
        try:
            self.require_admin(context)
        except Exception as err:
            return await _abort(context, err)
        resp = pb.HashResponse(hash=self.m.store.hash())
        self.header(resp.header)
        return resp

    async def HashKV(self, request: pb.HashKVRequest, context: grpc.aio.ServicerContext) -> pb.HashKVResponse:
        try:
            self.require_admin(context)
            h, compact_rev, hash_rev = self.m.store.hash_kv(request.revision)
        except Exception as err:
            return await _abort(context, err)
        resp = pb.HashKVResponse(hash=h, compact_revision=compact_rev, hash_revision=hash_rev)
        self.header(resp.header)
        return resp

    async def Snapshot(self, request: pb.SnapshotRequest, context: grpc.aio.ServicerContext
                       ) -> AsyncIterator[pb.SnapshotResponse]:
        # As etcd: its bbolt database (raftkv.snapshot.export), then its SHA-256 as the last 32 bytes.
        try:
            self.require_admin(context)
            size, chunks = await snapshot_export.image_chunks(self.m)
        except Exception as err:
            await _abort(context, err)
            return
        total = size + hashlib.sha256().digest_size
        digest = hashlib.sha256()
        sent = 0
        try:
            for piece in chunks:
                for start in range(0, len(piece), SNAPSHOT_CHUNK_BYTES):
                    chunk = piece[start:start + SNAPSHOT_CHUNK_BYTES]
                    digest.update(chunk)
                    sent += len(chunk)
                    resp = pb.SnapshotResponse(remaining_bytes=total - sent, blob=chunk)
                    self.header(resp.header)
                    yield resp
        finally:
            chunks.close()
        resp = pb.SnapshotResponse(remaining_bytes=0, blob=digest.digest())
        self.header(resp.header)
        yield resp

    async def MoveLeader(self, request: pb.MoveLeaderRequest, context: grpc.aio.ServicerContext
                         ) -> pb.MoveLeaderResponse:
        try:
            self.require_admin(context)
            await self.m.move_leader(request.targetID)
        except Exception as err:
            return await _abort(context, err)
        resp = pb.MoveLeaderResponse()
        self.header(resp.header)
        return resp

    async def Downgrade(self, request: pb.DowngradeRequest, context: grpc.aio.ServicerContext
                        ) -> pb.DowngradeResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "etcdserver: downgrade is not supported by raftkv")
        raise AssertionError("unreachable: abort raises")


class AuthService(_Base, pb_grpc.AuthServicer):
    """etcd's auth API: every change goes through the log (raftkv.auth.store applies it on every member);
    reads answer from this member's copy after a read barrier. Once auth is on, only root may manage it."""

    async def _change(self, context: grpc.aio.ServicerContext, op: dict[str, Any], resp: Any) -> Any:
        try:
            self.require_admin(context)
            await self.m.propose(Op.AUTH, json.dumps(op).encode())
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def _query(self, context: grpc.aio.ServicerContext, answer: Callable[[AuthStore], Any]) -> Any:
        """A read of the auth state, linearizable (after a read barrier), root only once auth is on."""
        try:
            self.require_admin(context)
            await self.m.read_barrier()
            resp = answer(self.m.auth)
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def AuthEnable(self, request: pb.AuthEnableRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._change(context, {"op": "auth_enable", "token_key": os.urandom(32).hex()},
                                  pb.AuthEnableResponse())

    async def AuthDisable(self, request: pb.AuthDisableRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._change(context, {"op": "auth_disable"}, pb.AuthDisableResponse())

    async def AuthStatus(self, request: pb.AuthStatusRequest, context: grpc.aio.ServicerContext
                         ) -> pb.AuthStatusResponse:
        resp = pb.AuthStatusResponse(enabled=self.m.auth.enabled, authRevision=self.m.auth.revision)
        self.header(resp.header)
        return resp

    async def Authenticate(self, request: pb.AuthenticateRequest, context: grpc.aio.ServicerContext) -> Any:
        try:
            a = self.m.auth
            if not a.enabled:
                raise errors.AuthNotEnabled()
            user = a.users.get(request.name)
            ok = user is not None and not user.no_password and await asyncio.get_running_loop().run_in_executor(
                None, check_password, request.password, user.password)
            if not ok:
                raise errors.AuthFailed()
            resp = pb.AuthenticateResponse(token=self.tokens.assign(a, request.name, time.time()))
        except Exception as err:
            return await _abort(context, err)
        self.header(resp.header)
        return resp

    async def UserAdd(self, request: pb.AuthUserAddRequest, context: grpc.aio.ServicerContext) -> Any:
        no_password = request.options.no_password
        try:
            hashed = "" if no_password else await _hash(request.password, self.m.cfg.bcrypt_cost)
        except Exception as err:
            return await _abort(context, err)
        return await self._change(context, {"op": "user_add", "name": request.name, "password": hashed,
                                            "no_password": no_password}, pb.AuthUserAddResponse())

    async def UserDelete(self, request: pb.AuthUserDeleteRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._change(context, {"op": "user_delete", "name": request.name}, pb.AuthUserDeleteResponse())

    async def UserChangePassword(self, request: pb.AuthUserChangePasswordRequest,
                                 context: grpc.aio.ServicerContext) -> Any:
        try:
            hashed = await _hash(request.password, self.m.cfg.bcrypt_cost)
        except Exception as err:
            return await _abort(context, err)
        return await self._change(context, {"op": "user_change_password", "name": request.name, "password": hashed},
                                  pb.AuthUserChangePasswordResponse())

    async def UserGrantRole(self, request: pb.AuthUserGrantRoleRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._change(context, {"op": "user_grant_role", "user": request.user, "role": request.role},
                                  pb.AuthUserGrantRoleResponse())

    async def UserRevokeRole(self, request: pb.AuthUserRevokeRoleRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._change(context, {"op": "user_revoke_role", "name": request.name, "role": request.role},
                                  pb.AuthUserRevokeRoleResponse())

    async def RoleAdd(self, request: pb.AuthRoleAddRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._change(context, {"op": "role_add", "name": request.name}, pb.AuthRoleAddResponse())

    async def RoleDelete(self, request: pb.AuthRoleDeleteRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._change(context, {"op": "role_delete", "role": request.role}, pb.AuthRoleDeleteResponse())

    async def RoleGrantPermission(self, request: pb.AuthRoleGrantPermissionRequest,
                                  context: grpc.aio.ServicerContext) -> Any:
        p = request.perm
        return await self._change(context, {"op": "role_grant_permission", "name": request.name,
                                            "perm_type": int(p.permType), "key": p.key.hex(),
                                            "range_end": p.range_end.hex()}, pb.AuthRoleGrantPermissionResponse())

    async def RoleRevokePermission(self, request: pb.AuthRoleRevokePermissionRequest,
                                   context: grpc.aio.ServicerContext) -> Any:
        return await self._change(context, {"op": "role_revoke_permission", "role": request.role,
                                            "key": request.key.hex(), "range_end": request.range_end.hex()},
                                  pb.AuthRoleRevokePermissionResponse())

    async def UserGet(self, request: pb.AuthUserGetRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._query(context, lambda a: pb.AuthUserGetResponse(roles=a.user_roles(request.name)))

    async def UserList(self, request: pb.AuthUserListRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._query(context, lambda a: pb.AuthUserListResponse(users=sorted(a.users)))

    async def RoleGet(self, request: pb.AuthRoleGetRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._query(context, lambda a: pb.AuthRoleGetResponse(perm=[
            auth_pb2.Permission(permType=auth_pb2.Permission.Type.Name(p.perm_type), key=p.key, range_end=p.range_end)
            for p in a.role_permissions(request.role)]))

    async def RoleList(self, request: pb.AuthRoleListRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._query(context, lambda a: pb.AuthRoleListResponse(roles=sorted(a.roles)))


async def _hash(password: str, cost: int) -> str:
    """bcrypt takes ~50 ms at cost 10: off the event loop (it releases the GIL)."""
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, password, os.urandom(16), cost)


def add_all(server: Any, member: RaftMember) -> None:
    tokens = token_provider(member.cfg)
    pb_grpc.add_KVServicer_to_server(KVService(member, tokens), server)
    pb_grpc.add_WatchServicer_to_server(WatchService(member, tokens), server)
    pb_grpc.add_LeaseServicer_to_server(LeaseService(member, tokens), server)
    pb_grpc.add_ClusterServicer_to_server(ClusterService(member, tokens), server)
    pb_grpc.add_MaintenanceServicer_to_server(MaintenanceService(member, tokens), server)
    pb_grpc.add_AuthServicer_to_server(AuthService(member, tokens), server)
