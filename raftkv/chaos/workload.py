"""Workload recorder: concurrent grpc.aio clients whose every request becomes an `Op` in the history.

Each client has one request in flight (so invoke order is its program order), writes unique values, and
records invoke/complete on the event loop's monotonic clock. A timeout, or any error after which a write may
still have been applied, is recorded as indeterminate. Bounded by op count and wall time. Watchers record every
response; a whole-prefix watcher from revision 1 provides the log of record for the checkers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from typing import Any

import grpc

from raftkv._pb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from raftkv.chaos.checkers.history import (
    CAS,
    DELETE,
    FAIL,
    GET,
    INDETERMINATE,
    KV,
    OK,
    PUT,
    TXN,
    WATCH,
    Event,
    Op,
    WatchResponse,
)
from raftkv.chaos.checkers.nospace import NOSPACE

MAX_OPS = 1_000_000
MAX_DURATION_S = 3600.0
PREFIX = "/chaos/"
MAX_WATCH_RESUMES = 1000
LOG_CLIENT = -1
DEFINITE_FAILURES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                     grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                     grpc.StatusCode.OUT_OF_RANGE}


# gRPC fails an RPC with this when the channel could not connect at all: the request was never sent, so even a
# write is a definite failure (no server saw it), not an indeterminate one.
NOT_SENT = "failed to connect to all addresses"
FAILURE_BACKOFF_S = 0.05


class WorkloadError(ValueError):
    """Bad workload parameters."""


@dataclass
class WorkloadConfig:
    endpoints: list[str]
    clients: int = 4
    keys: int = 5
    duration_s: float = 5.0
    max_ops: int = 5000
    op_timeout_s: float = 1.0
    watchers: int = 2
    seed: int = 0
    prefix: str = PREFIX  # every key lives under it; the log of record is a watch on it
    start_revision: int = 1  # the log-of-record watch starts here (a fresh cluster: 1)
    mix: dict[str, int] = field(default_factory=lambda: {"put": 30, "get": 20, "get-serializable": 10,
                                                         "delete": 5, "txn-cas": 20, "txn": 10})

    def validate(self) -> None:
        if not self.endpoints:
            raise WorkloadError("no endpoints")
        if not 1 <= self.clients <= 256 or not 1 <= self.keys <= 10_000:
            raise WorkloadError("clients must be 1..256 and keys 1..10000")
        if not 0 < self.duration_s <= MAX_DURATION_S or not 0 < self.max_ops <= MAX_OPS:
            raise WorkloadError(f"duration must be 0..{MAX_DURATION_S} s and max_ops 1..{MAX_OPS}")
        if not self.prefix.endswith("/") or self.start_revision < 1:
            raise WorkloadError("the prefix must end with '/' and the start revision be >= 1")
        if self.op_timeout_s <= 0 or any(w < 0 for w in self.mix.values()) or not sum(self.mix.values()):
            raise WorkloadError("op timeout must be > 0 and the mix must have a positive weight")


def key_name(i: int, prefix: str = PREFIX) -> str:
    return f"{prefix}k{i}"


def prefix_end(prefix: str) -> bytes:
    b = bytearray(prefix.encode())
    b[-1] += 1
    return bytes(b)


def _kv(kv: object, key: str) -> KV:
    k = kv  # an mvccpb.KeyValue
    return KV(key, k.value.decode(), k.mod_revision, k.create_revision, k.version)  # type: ignore[attr-defined]


def _event(e: object) -> Event:
    ev = e  # an mvccpb.Event
    kv = ev.kv  # type: ignore[attr-defined]
    is_put = ev.type == 0  # type: ignore[attr-defined]
    prev = ev.prev_kv if ev.HasField("prev_kv") else None  # type: ignore[attr-defined]
    return Event("put" if is_put else "delete", kv.key.decode(), kv.value.decode() if is_put else None,
                 kv.mod_revision, kv.create_revision if is_put else 0, kv.version if is_put else 0,
                 prev.value.decode() if prev is not None else None, prev is not None)


class Recorder:
    """Runs the clients and watchers; `history` holds the ops once `run()` returns."""

    def __init__(self, cfg: WorkloadConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.history: list[Op] = []
        self._counter = 0
        self._channels = {ep: grpc.aio.insecure_channel(ep) for ep in cfg.endpoints}
        self._stop = asyncio.Event()
        self._known_mod: dict[tuple[int, str], int] = {}

    def _unique(self, client: int) -> str:
        self._counter += 1
        return f"c{client}-{self._counter}"

    def _key(self) -> str:
        return key_name(self.rng.randrange(self.cfg.keys), self.cfg.prefix)

    def _kv_stub(self, ep: str) -> rpc_pb2_grpc.KVStub:
        return rpc_pb2_grpc.KVStub(self._channels[ep])

    async def close(self) -> None:
        for ch in self._channels.values():
            await ch.close()

    async def run(self, log_watch: bool = True) -> list[Op]:
        """Run until the duration or op budget is spent, or `stop()` is called; then end the watchers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.duration_s
        watch_tasks = []
        if log_watch:
            watch_tasks.append(asyncio.create_task(self._watch(10_000, self.cfg.endpoints[0], self.cfg.prefix,
                                                               self.cfg.start_revision, True)))
        for w in range(self.cfg.watchers):
            ep = self.cfg.endpoints[w % len(self.cfg.endpoints)]
            key = self.rng.choice([self.cfg.prefix, self._key()])
            watch_tasks.append(asyncio.create_task(self._watch(10_001 + w, ep, key, 0, key == self.cfg.prefix)))
        clients = [asyncio.create_task(self._client(c, deadline)) for c in range(self.cfg.clients)]
        await asyncio.gather(*clients)
        self._stop.set()
        for t in watch_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        return self.history

    def stop(self) -> None:
        self._stop.set()

    async def _client(self, client: int, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        eps = self.cfg.endpoints
        ep_i = client % len(eps)
        kinds = list(self.cfg.mix)
        weights = [self.cfg.mix[k] for k in kinds]
        while loop.time() < deadline and not self._stop.is_set() and len(self.history) < self.cfg.max_ops:
            kind = self.rng.choices(kinds, weights)[0]
            op = await self._one(client, eps[ep_i], kind)
            self.history.append(op)
            if op.outcome != OK:
                ep_i = (ep_i + 1) % len(eps)  # the member may be down: move on, like a client balancer
                await asyncio.sleep(FAILURE_BACKOFF_S)  # and do not flood the history while nothing answers

    async def _one(self, client: int, ep: str, kind: str) -> Op:
        loop = asyncio.get_running_loop()
        stub = self._kv_stub(ep)
        key = self._key()
        t = self.cfg.op_timeout_s
        base: dict[str, Any] = {"client": client, "member": ep}
        invoke = loop.time()
        try:
            if kind == "put":
                value = self._unique(client)
                base.update(kind=PUT, keys=(key,), value=value)
                r = await stub.Put(rpc_pb2.PutRequest(key=key.encode(), value=value.encode()), timeout=t)
                return Op(**base, invoke=invoke, complete=loop.time(), outcome=OK, revision=r.header.revision)
            if kind in ("get", "get-serializable"):
                ser = kind == "get-serializable"
                base.update(kind=GET, keys=(key,), serializable=ser)
                r = await stub.Range(rpc_pb2.RangeRequest(key=key.encode(), serializable=ser), timeout=t)
                kv = _kv(r.kvs[0], key) if r.kvs else KV(key, None)
                self._known_mod[(client, key)] = kv.mod_revision
                return Op(**base, invoke=invoke, complete=loop.time(), outcome=OK, revision=r.header.revision,
                          reads=(kv,))
            if kind == "delete":
                base.update(kind=DELETE, keys=(key,))
                r = await stub.DeleteRange(rpc_pb2.DeleteRangeRequest(key=key.encode()), timeout=t)
                return Op(**base, invoke=invoke, complete=loop.time(), outcome=OK, revision=r.header.revision,
                          deleted=r.deleted)
            if kind == "txn-cas":
                value = self._unique(client)
                expect = self._known_mod.get((client, key), 0)
                base.update(kind=CAS, keys=(key,), value=value, expect_mod_revision=expect)
                req = rpc_pb2.TxnRequest(
                    compare=[rpc_pb2.Compare(result=rpc_pb2.Compare.EQUAL, target=rpc_pb2.Compare.MOD,
                                             key=key.encode(), mod_revision=expect)],
                    success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key.encode(),
                                                                              value=value.encode()))],
                    failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key.encode()))])
                r = await stub.Txn(req, timeout=t)
                reads: tuple[KV, ...] = ()
                if r.succeeded:
                    self._known_mod[(client, key)] = r.header.revision
                else:
                    rr = r.responses[0].response_range
                    kv = _kv(rr.kvs[0], key) if rr.kvs else KV(key, None)
                    self._known_mod[(client, key)] = kv.mod_revision
                    reads = (kv,)
                return Op(**base, invoke=invoke, complete=loop.time(), outcome=OK, revision=r.header.revision,
                          succeeded=r.succeeded, reads=reads)
            if kind == "txn":
                k2 = self._key()
                w1, w2 = self._key(), self._key()
                if w1 == w2:
                    w2 = w1 + "-pair"
                v = self._unique(client)
                writes = ((w1, v), (w2, v + "b"))
                base.update(kind=TXN, keys=tuple(sorted({key, k2, w1, w2})), writes=writes)
                ops = [rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=k.encode())) for k in (key, k2)]
                ops += [rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k.encode(), value=val.encode()))
                        for k, val in writes]
                r = await stub.Txn(rpc_pb2.TxnRequest(success=ops), timeout=t)
                got = []
                for k, resp in zip((key, k2), r.responses[:2], strict=True):
                    rr = resp.response_range
                    got.append(_kv(rr.kvs[0], k) if rr.kvs else KV(k, None))
                return Op(**base, invoke=invoke, complete=loop.time(), outcome=OK, revision=r.header.revision,
                          succeeded=True, reads=tuple(dict.fromkeys(got)))
            raise WorkloadError(f"unknown op kind {kind!r}")
        except grpc.aio.AioRpcError as e:
            code = e.code()
            writes_maybe = base.get("kind") in (PUT, DELETE, CAS, TXN)
            not_sent = code == grpc.StatusCode.UNAVAILABLE and NOT_SENT in (e.details() or "")
            # etcd's quota layer refuses before proposing, and its capped applier applies nothing: definite
            nospace = code == grpc.StatusCode.RESOURCE_EXHAUSTED and NOSPACE in (e.details() or "")
            outcome = (FAIL if code in DEFINITE_FAILURES or not writes_maybe or not_sent or nospace
                       else INDETERMINATE)
            if base.get("kind") == GET:
                outcome = FAIL
            return Op(**base, invoke=invoke, complete=loop.time(), outcome=outcome,
                      error=f"{code.name}: {e.details()}")

    async def _watch(self, client: int, ep: str, key: str, start: int, prefix: bool) -> None:
        """One watcher until stop. A broken stream is resumed on the next member from the revision after the
        last one received (as clientv3 does), so the whole record is one op checked for gaps across resumes."""
        loop = asyncio.get_running_loop()
        eps = self.cfg.endpoints
        ep_i = eps.index(ep)
        responses: list[WatchResponse] = []
        invoke = loop.time()
        errors: list[str] = []
        actual_start = start
        next_rev = start

        async def session(endpoint: str) -> None:
            nonlocal actual_start, next_rev
            req = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
                key=key.encode(), range_end=prefix_end(key) if prefix else b"", start_revision=next_rev,
                prev_kv=True))
            queue: asyncio.Queue[rpc_pb2.WatchRequest | None] = asyncio.Queue()
            queue.put_nowait(req)

            async def requests():  # type: ignore[no-untyped-def]
                while (item := await queue.get()) is not None:
                    yield item

            call = rpc_pb2_grpc.WatchStub(self._channels[endpoint]).Watch(requests())
            try:
                async for resp in call:
                    if resp.created:
                        if not next_rev:
                            actual_start = next_rev = resp.header.revision + 1
                        continue
                    if resp.canceled or resp.compact_revision:
                        raise RuntimeError(f"watch canceled: {resp.cancel_reason} compact={resp.compact_revision}")
                    events = tuple(_event(e) for e in resp.events)
                    responses.append(WatchResponse(resp.header.revision, events, not events))
                    if events:
                        next_rev = events[-1].mod_revision + 1
            finally:
                queue.put_nowait(None)
                call.cancel()

        stopper = asyncio.create_task(self._stop.wait())
        while not self._stop.is_set():
            reader = asyncio.create_task(session(eps[ep_i]))
            done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if reader not in done:
                # drain briefly so the watcher catches up with the last writes before it is closed
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(reader), 0.5)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
                break
            exc = reader.exception()
            errors.append(f"{eps[ep_i]}: {exc!r}"[:300])
            if isinstance(exc, RuntimeError) or len(errors) > MAX_WATCH_RESUMES:
                break
            ep_i = (ep_i + 1) % len(eps)
            await asyncio.sleep(0.05)
        stopper.cancel()
        failed = bool(errors) and not self._stop.is_set()
        self.history.append(Op(client, WATCH, (key,), invoke, loop.time(), FAIL if failed else OK, member=ep,
                               watch_start=actual_start, watch_prefix=prefix, watch_prev_kv=True,
                               responses=tuple(responses), error="; ".join(errors[-3:])))


async def final_reads(endpoints: list[str], keys: list[str], timeout: float = 5.0) -> dict[str, KV]:
    """Linearizable reads of every key after the faults are healed, from the first member that answers."""
    last: Exception | None = None
    for ep in endpoints:
        async with grpc.aio.insecure_channel(ep) as ch:
            stub = rpc_pb2_grpc.KVStub(ch)
            try:
                out = {}
                for k in keys:
                    r = await stub.Range(rpc_pb2.RangeRequest(key=k.encode()), timeout=timeout)
                    out[k] = _kv(r.kvs[0], k) if r.kvs else KV(k, None)
                return out
            except grpc.aio.AioRpcError as e:
                last = e
    raise ConnectionError(f"no member answered the final reads: {last}")


LOG_READ_BASE_S = 10.0
LOG_READ_PER_REVISION_S = 0.005  # a minute-long run writes ~10k revisions; reading them back is not free


async def read_log(endpoint: str, until_revision: int, prefix: str = PREFIX, timeout: float | None = None,
                   start_revision: int = 1) -> Op:
    """After the run: a watch from revision 1 read until `until_revision`, as the log of record.

    Taken from a healed member, so it sees every committed write even if the in-run watchers broke. The
    default deadline grows with the number of revisions to read.
    """
    if timeout is None:
        timeout = LOG_READ_BASE_S + LOG_READ_PER_REVISION_S * max(0, until_revision - start_revision)
    loop = asyncio.get_running_loop()
    invoke = loop.time()
    responses: list[WatchResponse] = []
    last = start_revision
    if until_revision > start_revision:
        async with grpc.aio.insecure_channel(endpoint) as ch:
            queue: asyncio.Queue[rpc_pb2.WatchRequest | None] = asyncio.Queue()
            queue.put_nowait(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
                key=prefix.encode(), range_end=prefix_end(prefix), start_revision=start_revision, prev_kv=True)))

            async def requests():  # type: ignore[no-untyped-def]
                while (item := await queue.get()) is not None:
                    yield item

            call = rpc_pb2_grpc.WatchStub(ch).Watch(requests())

            async def consume() -> None:
                nonlocal last
                async for resp in call:
                    if resp.canceled or resp.compact_revision:
                        raise ConnectionError(f"log watch canceled: {resp.cancel_reason}")
                    if resp.events:
                        responses.append(WatchResponse(resp.header.revision, tuple(_event(e) for e in resp.events)))
                        last = resp.events[-1].kv.mod_revision
                        if last >= until_revision:
                            return

            try:
                await asyncio.wait_for(consume(), timeout)
            finally:
                queue.put_nowait(None)
                call.cancel()
    return Op(LOG_CLIENT, WATCH, (prefix,), invoke, loop.time(), OK, member=endpoint, watch_start=start_revision,
              watch_prefix=True, watch_prev_kv=True, responses=tuple(responses))
