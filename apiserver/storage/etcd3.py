"""An etcd3-backed store (k8s `storage/etcd3/store.go`): guarded writes through Txn, reads through Range.

Only the etcd v3 gRPC API is used, through the generated `raftkv._pb` stubs over grpc.aio, so the same
code runs on etcd and on raftkv. Every grpc error is translated here, once, into `storage.errors`.

- create: Txn(If mod_revision(key) == 0, Then Put)            -> KeyExists when it fails
- update: Txn(If mod_revision(key) == expected, Then Put, Else Range) -> RevisionMismatch(current)
- delete: Txn(If mod_revision(key) == expected, Then Delete, Else Range)
- list:   Range(prefix, prefix+1) at one revision, paged by start key
- watch:  Watch(prefix, start_revision, prev_kv); canceled with compact_revision -> Compacted
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import grpc
import grpc.aio

from apiserver.storage.errors import (
    KV,
    Compacted,
    FutureRevision,
    GuardMismatch,
    KeyExists,
    RevisionMismatch,
    StorageError,
    Unavailable,
)
from raftkv._pb.etcdserverpb import rpc_pb2, rpc_pb2_grpc

REQUEST_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class WatchEvent:
    type: str  # "PUT" | "DELETE" | "PROGRESS"
    kv: KV | None
    prev: KV | None
    revision: int


@dataclass(frozen=True)
class ListResult:
    kvs: list[KV]
    revision: int
    more: bool
    count: int


def prefix_end(prefix: str) -> bytes:
    b = bytearray(prefix.encode())
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return b"\0"


def _kv(kv: object) -> KV:
    return KV(kv.key.decode(), bytes(kv.value), kv.mod_revision, kv.create_revision)  # type: ignore[attr-defined]


def _translate(err: grpc.aio.AioRpcError) -> StorageError:
    details = err.details() or ""
    if "compacted" in details:
        return Compacted(0, 0)
    if "future rev" in details:
        return FutureRevision(0, 0)
    return Unavailable(f"{err.code().name}: {details}")


DEFAULT_PREFIX = "/registry"


class Etcd3Store:
    """Callers name keys as kube-apiserver's defaults do (`/registry/...`); `prefix` (--etcd-prefix) replaces that
    root on the wire, so several API servers can share one etcd."""

    def __init__(self, channel: grpc.aio.Channel, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.root = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self._channel = channel
        self._kvs = rpc_pb2_grpc.KVStub(channel)
        self._watch = rpc_pb2_grpc.WatchStub(channel)

    def _out(self, key: str) -> bytes:
        if key.startswith(DEFAULT_PREFIX):
            key = self.root + key[len(DEFAULT_PREFIX):]
        return key.encode()

    def _out_end(self, prefix: str) -> bytes:
        return prefix_end(self._out(prefix).decode())

    def _kv(self, kv: object) -> KV:
        got = _kv(kv)
        if self.root != DEFAULT_PREFIX and got.key.startswith(self.root):
            got = KV(DEFAULT_PREFIX + got.key[len(self.root):], got.value, got.mod_revision, got.create_revision)
        return got

    @classmethod
    def connect(cls, endpoints: Sequence[str], *, ca: bytes | None = None, cert: bytes | None = None,
                key: bytes | None = None, prefix: str = DEFAULT_PREFIX) -> Etcd3Store:
        """Connect to the endpoints (URL scheme decides TLS). Several IP endpoints share one channel whose
        pick_first policy moves to the next when the connected one fails, as clientv3 does across members;
        host names are not balanced (the first is used)."""
        url = endpoints[0]
        secure = url.startswith("https://")
        target = url.split("://", 1)[-1]
        options: list[tuple[str, int | str]] = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        hosts = [e.split("://", 1)[-1] for e in endpoints]
        if len(hosts) > 1 and all(_is_ipv4_hostport(h) for h in hosts):
            options.append(("grpc.ssl_target_name_override", target.rsplit(":", 1)[0]))
            target = "ipv4:" + ",".join(hosts)
        if secure:
            creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
            channel = grpc.aio.secure_channel(target, creds, options=options)
        else:
            channel = grpc.aio.insecure_channel(target, options=options)
        return cls(channel, prefix=prefix)

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: object, request: object) -> object:
        try:
            return await method(request, timeout=REQUEST_TIMEOUT_S)  # type: ignore[operator]
        except grpc.aio.AioRpcError as e:
            raise _translate(e) from e

    async def revision(self) -> int:
        resp = await self._call(self._kvs.Range, rpc_pb2.RangeRequest(key=b"\0", count_only=True))
        return int(resp.header.revision)  # type: ignore[attr-defined]

    async def get(self, key: str) -> tuple[KV | None, int]:
        """The key's current value (or None) and the store revision the read ran at."""
        resp = await self._call(self._kvs.Range, rpc_pb2.RangeRequest(key=self._out(key)))
        kvs = resp.kvs  # type: ignore[attr-defined]
        return (self._kv(kvs[0]) if kvs else None), int(resp.header.revision)  # type: ignore[attr-defined]

    async def list(self, prefix: str, *, start: str = "", limit: int = 0, revision: int = 0) -> ListResult:
        req = rpc_pb2.RangeRequest(key=self._out(start or prefix), range_end=self._out_end(prefix),
                                   limit=limit, revision=revision)
        try:
            resp = await self._kvs.Range(req, timeout=REQUEST_TIMEOUT_S)
        except grpc.aio.AioRpcError as e:
            err = _translate(e)
            if isinstance(err, Compacted):
                raise Compacted(revision, 0) from e
            if isinstance(err, FutureRevision):
                raise FutureRevision(revision, 0) from e
            raise err from e
        return ListResult([self._kv(kv) for kv in resp.kvs], int(resp.header.revision), bool(resp.more),
                          int(resp.count))

    async def create(self, key: str, value: bytes, lease: int = 0) -> int:
        k = self._out(key)
        txn = rpc_pb2.TxnRequest(
            compare=[rpc_pb2.Compare(key=k, target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL,
                                     mod_revision=0)],
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k, value=value, lease=lease))])
        resp = await self._call(self._kvs.Txn, txn)
        if not resp.succeeded:  # type: ignore[attr-defined]
            raise KeyExists(key)
        return int(resp.header.revision)  # type: ignore[attr-defined]

    async def create_guarded(self, key: str, value: bytes, guards: Sequence[tuple[str, int, bytes]]) -> int:
        """Create ``key`` and rewrite each guard key in ONE Txn, only if ``key`` is absent and every guard key is
        still at its expected mod_revision: a quota's usage and the object it admits change together or not at
        all, so concurrent creates can never both consume the last unit. KeyExists / GuardMismatch on failure."""
        k = self._out(key)
        compare = [rpc_pb2.Compare(key=k, target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL, mod_revision=0)]
        success = [rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k, value=value))]
        for gkey, expected, gvalue in guards:
            compare.append(rpc_pb2.Compare(key=self._out(gkey), target=rpc_pb2.Compare.MOD,
                                           result=rpc_pb2.Compare.EQUAL, mod_revision=expected))
            success.append(rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=self._out(gkey), value=gvalue)))
        txn = rpc_pb2.TxnRequest(compare=compare, success=success,
                                 failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=k,
                                                                                               count_only=True))])
        resp = await self._call(self._kvs.Txn, txn)
        if not resp.succeeded:  # type: ignore[attr-defined]
            if resp.responses[0].response_range.count:  # type: ignore[attr-defined]
                raise KeyExists(key)
            raise GuardMismatch([g[0] for g in guards])
        return int(resp.header.revision)  # type: ignore[attr-defined]

    async def _guarded(self, key: str, expected: int, op: rpc_pb2.RequestOp,
                       guards: Sequence[tuple[str, int, bytes]] = ()) -> int:
        """`op` on `key` if it is still at `expected`; each guard key (at its expected mod_revision) is rewritten in
        the same Txn. RevisionMismatch(current) when `key` moved, else GuardMismatch when a guard did."""
        k = self._out(key)
        compare = [rpc_pb2.Compare(key=k, target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL,
                                   mod_revision=expected)]
        success = [op]
        for gkey, gexpected, gvalue in guards:
            compare.append(rpc_pb2.Compare(key=self._out(gkey), target=rpc_pb2.Compare.MOD,
                                           result=rpc_pb2.Compare.EQUAL, mod_revision=gexpected))
            success.append(rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=self._out(gkey), value=gvalue)))
        txn = rpc_pb2.TxnRequest(compare=compare, success=success,
                                 failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=k))])
        resp = await self._call(self._kvs.Txn, txn)
        if not resp.succeeded:  # type: ignore[attr-defined]
            kvs = resp.responses[0].response_range.kvs  # type: ignore[attr-defined]
            current = self._kv(kvs[0]) if kvs else None
            if guards and (current.mod_revision if current is not None else 0) == expected:
                raise GuardMismatch([g[0] for g in guards])
            raise RevisionMismatch(key, current)
        return int(resp.header.revision)  # type: ignore[attr-defined]

    async def update(self, key: str, value: bytes, expected: int,
                     guards: Sequence[tuple[str, int, bytes]] = ()) -> int:
        op = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=self._out(key), value=value))
        return await self._guarded(key, expected, op, guards)

    async def delete(self, key: str, expected: int, guards: Sequence[tuple[str, int, bytes]] = ()) -> int:
        op = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=self._out(key)))
        return await self._guarded(key, expected, op, guards)

    async def compact_txn(self, key: str, expect_version: int, value: bytes) -> tuple[bool, int, int, bytes]:
        """kube's compactor Txn on `key` (taken as is, outside --etcd-prefix): If version(key) == expect_version
        Then Put(key, value) Else Get(key). (succeeded, header revision, the key's version, its value)."""
        k = key.encode()
        txn = rpc_pb2.TxnRequest(
            compare=[rpc_pb2.Compare(key=k, target=rpc_pb2.Compare.VERSION, result=rpc_pb2.Compare.EQUAL,
                                     version=expect_version)],
            success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k, value=value))],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=k))])
        resp = await self._call(self._kvs.Txn, txn)
        rev = int(resp.header.revision)  # type: ignore[attr-defined]
        if resp.succeeded:  # type: ignore[attr-defined]
            return True, rev, expect_version + 1, value
        kvs = resp.responses[0].response_range.kvs  # type: ignore[attr-defined]
        return False, rev, (int(kvs[0].version) if kvs else 0), (bytes(kvs[0].value) if kvs else b"")

    async def compact(self, revision: int) -> None:
        """Compact history up to `revision` (kube-apiserver does this every --etcd-compaction-interval)."""
        await self._call(self._kvs.Compact, rpc_pb2.CompactionRequest(revision=revision, physical=True))

    async def watch(self, prefix: str, start_revision: int, *,
                    progress_interval: float | None = None) -> AsyncIterator[WatchEvent]:
        """Events for keys under `prefix` with revision >= start_revision.

        With `progress_interval`, a WatchProgressRequest is sent every `progress_interval` seconds;
        etcd answers with its current revision once every earlier event has been sent, which
        comes out as a PROGRESS event (the apiserver turns it into a BOOKMARK)."""
        create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
            key=self._out(prefix), range_end=self._out_end(prefix), start_revision=start_revision,
            prev_kv=True, progress_notify=True))

        async def requests() -> AsyncIterator[rpc_pb2.WatchRequest]:
            yield create
            while True:
                await asyncio.sleep(progress_interval if progress_interval else 3600.0)
                if progress_interval:
                    yield rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())

        call = self._watch.Watch(requests())
        try:
            async for resp in call:
                if resp.canceled:
                    if resp.compact_revision:
                        raise Compacted(start_revision, int(resp.compact_revision))
                    raise Unavailable(f"watch canceled: {resp.cancel_reason}")
                if resp.created and not resp.events:
                    continue
                if not resp.events:
                    yield WatchEvent("PROGRESS", None, None, int(resp.header.revision))
                    continue
                for ev in resp.events:
                    kind = "DELETE" if ev.type == 1 else "PUT"
                    prev = self._kv(ev.prev_kv) if ev.HasField("prev_kv") else None
                    yield WatchEvent(kind, self._kv(ev.kv), prev, int(ev.kv.mod_revision))
        except grpc.aio.AioRpcError as e:
            raise _translate(e) from e
        finally:
            call.cancel()


def _is_ipv4_hostport(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    parts = host.split(".")
    return port.isdigit() and len(parts) == 4 and all(p.isdigit() for p in parts)
