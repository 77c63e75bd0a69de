"""An asyncio gRPC server on `connection.ServerConnection`: what raftkv's client port runs instead of grpc.aio.

Why: on this machine a do-nothing grpc.aio server spends ~240 µs of CPU per unary call and writes every reply in
its own TLS record, so clients pay a wakeup per reply too; etcd's whole put costs less than that. This server keeps
the servicer interface grpc.aio offers (the generated `add_*Servicer_to_server` functions register here unchanged;
handlers get a context with `abort`, `invocation_metadata`, `auth_context`, `peer`, `write`, `time_remaining`) and
answers everything that is ready in one pass of the event loop with one write per connection.

Only what etcd clients use is here: unary and streaming calls, deadlines (`grpc-timeout`), cancellation, identity
encoding (a compressed message is refused with UNIMPLEMENTED), message size limits, TLS with client certificates.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import ssl
from collections.abc import Callable
from typing import Any

import grpc

from raftkv.grpcwire import connection as c
from raftkv.grpcwire import http1
from raftkv.grpcwire.errors import ConnectionError_

log = logging.getLogger(__name__)

# Headers that are transport, not call metadata (grpc.aio leaves them out of invocation_metadata too).
_RESERVED = frozenset(("te", "content-type", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
                       "grpc-message-type", "grpc-status", "grpc-message"))
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_WRITE_BACKLOG = 4 << 20  # a streaming writer waits while this much of its stream is queued behind flow control
HANDSHAKE_TIMEOUT = 20.0
"""Seconds a new connection has for TLS and the HTTP/2 preface + SETTINGS (grpc-go's ConnectionTimeout, 120 s by
default, covers the same): a client that connects and sends nothing, or a byte at a time, is closed."""


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def parse_timeout(value: str) -> float | None:
    """Seconds from a grpc-timeout header value (`<= 8 digits><unit>`); None when malformed."""
    if len(value) < 2 or len(value) > 9 or not value[:-1].isdigit():
        return None
    unit = _TIMEOUT_UNITS.get(value[-1])
    return None if unit is None else int(value[:-1]) * unit


class Context:
    """The handler's view of one call, shaped like grpc.aio.ServicerContext for the parts raftkv uses."""

    __slots__ = ("_proto", "_sid", "_headers", "_serializer", "deadline", "_code", "_details", "_cancelled",
                 "aborted")

    def __init__(self, proto: _GrpcProtocol, sid: int, headers: list[tuple[str, str]],
                 serializer: Callable[[Any], bytes] | None, deadline: float | None) -> None:
        self._proto = proto
        self._sid = sid
        self._headers = headers
        self._serializer = serializer
        self.deadline = deadline
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._cancelled = False
        self.aborted: _Abort | None = None

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        """Ends the call with this status, as grpc.aio does: final even if a handler catches the exception."""
        self.aborted = _Abort(code, details)
        raise self.aborted

    def final_status(self) -> tuple[grpc.StatusCode, str]:
        """The call's status once its handler returned: an abort wins, then set_code/set_details, else OK."""
        if self.aborted is not None:
            return self.aborted.code, self.aborted.details
        return self._code or grpc.StatusCode.OK, self._details

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        out: list[tuple[str, str | bytes]] = []
        for name, value in self._headers:
            if name.startswith(":") or name in _RESERVED:
                continue
            if name.endswith("-bin"):
                out.append((name, base64.b64decode(value + "=" * (-len(value) % 4))))
            else:
                out.append((name, value))
        return tuple(out)

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._proto.auth_context()

    def peer(self) -> str:
        return self._proto.peer_name

    def time_remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - self._proto.loop.time())

    def cancelled(self) -> bool:
        return self._cancelled

    async def write(self, message: Any) -> None:
        proto = self._proto
        if self._cancelled or self._sid not in proto.conn.streams:
            raise asyncio.CancelledError()
        proto.conn.send_message(self._sid, self._serializer(message) if self._serializer else message)
        proto.schedule_flush()
        if proto.conn.pending_bytes(self._sid) > _WRITE_BACKLOG or proto.paused:
            await proto.wait_writable(self._sid)


class _Requests:
    """The request stream of a client-streaming call, fed by the protocol as messages arrive. The stream's
    receive window reopens as the handler takes messages (`ServerConnection.hold_credit`), so the queue stays
    bounded however fast the client sends."""

    def __init__(self, deserializer: Callable[[bytes], Any] | None, proto: _GrpcProtocol, sid: int) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._deserializer = deserializer
        self._proto = proto
        self._sid = sid

    def feed(self, payload: bytes | None) -> None:
        self._queue.put_nowait(payload)

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> Any:
        payload = await self._queue.get()
        if payload is None:
            raise StopAsyncIteration
        self._proto.conn.consumed(self._sid, len(payload) + 5)
        self._proto.schedule_flush()
        try:
            return _decode(self._deserializer, payload)
        except _Abort as abort:
            call = self._proto.calls.get(self._sid)
            if call is not None:
                call.ctx.aborted = abort  # final even if the handler catches it
            raise


def _decode(deserializer: Callable[[bytes], Any] | None, payload: bytes | None) -> Any:
    """The request message; an undecodable one ends the call with INTERNAL, in grpc-go's words (what etcd sends)."""
    if deserializer is None:
        return payload
    try:
        return deserializer(payload)  # type: ignore[arg-type]
    except Exception as err:
        raise _Abort(grpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {err}") from err


class _Call:
    __slots__ = ("handler", "ctx", "task", "requests", "request", "timer", "path")

    def __init__(self, handler: Any, ctx: Context, path: str = "") -> None:
        self.handler = handler
        self.path = path
        self.ctx = ctx
        self.task: asyncio.Task[None] | None = None
        self.requests: _Requests | None = None
        self.request: bytes | None = None
        self.timer: asyncio.TimerHandle | None = None


class _GrpcProtocol(asyncio.Protocol):
    def __init__(self, server: GrpcServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.conn = c.ServerConnection(server.max_receive_message_length, plain_gets=server.plain is not None)
        self.transport: asyncio.Transport | None = None
        self.calls: dict[int, _Call] = {}
        self.peer_name = ""
        self.paused = False
        self._flush_scheduled = False
        self._writable: dict[int, asyncio.Future[None]] = {}
        self._auth: dict[str, list[bytes]] | None = None
        self._eof = False  # the client half-closed its side: close ours once nothing is in flight
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._http1: bytearray | None = None  # an HTTP/1.1 request head being received

    # ---- transport callbacks -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer_name = f"ipv6:[{peer[0]}]:{peer[1]}" if ":" in peer[0] else f"ipv4:{peer[0]}:{peer[1]}"
        self.server.connections.add(self)
        self._handshake_timer = self.loop.call_later(self.server.handshake_timeout, self._handshake_expired)
        if self.server.plain is None:
            self.schedule_flush()  # our SETTINGS at once; else after the client's first bytes say it speaks HTTP/2

    def _handshake_expired(self) -> None:
        if not self.conn._settings_seen and self.transport is not None:
            log.debug("closing a client connection that sent no HTTP/2 preface and SETTINGS in time")
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        self.server.connections.discard(self)
        for call in list(self.calls.values()):
            self._cancel(call)
        self.calls.clear()
        for fut in self._writable.values():
            if not fut.done():
                fut.set_result(None)

    def pause_writing(self) -> None:
        """The client is not reading what we send: stop reading what it sends too, so its PINGs, SETTINGS and
        requests cannot pile up replies in our write buffer (a flood costs bounded memory, as in grpc-go, which
        stops reading while control replies are queued)."""
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        self._wake_writers(0)

    def eof_received(self) -> bool:
        """A client that half-closed its TCP side still gets the replies to what it sent (plain TCP; TLS cannot
        half-close, asyncio closes it regardless)."""
        self._eof = True
        self.schedule_flush()
        return self.transport is None or self.transport.get_extra_info("ssl_object") is None

    def data_received(self, data: bytes) -> None:
        if self._http1 is not None or (self.server.plain is not None and not self.conn._preface_seen
                                       and not self.conn._inbuf and not c.PREFACE.startswith(data[:len(c.PREFACE)])):
            self._on_http1(data)
            return
        try:
            events = self.conn.receive(data)
        except ConnectionError_ as err:
            log.debug("closing a client connection: %s", err)
            self.conn.goaway(err.code, str(err))
            self._flush()
            if self.transport is not None:
                self.transport.close()
            return
        for ev in events:
            kind = ev[0]
            if kind == c.EV_MESSAGE:
                self._on_message(ev[1], ev[2])
            elif kind == c.EV_REQUEST:
                self._on_request(ev[1], ev[2], ev[3])
            elif kind == c.EV_END:
                self._on_end(ev[1])
            elif kind == c.EV_RESET:
                call = self.calls.pop(ev[1], None)
                if call is not None:
                    self._cancel(call)
            elif kind == c.EV_BAD_MESSAGE:
                call = self.calls.pop(ev[1], None)
                if call is not None:
                    self._cancel(call)
                self.conn.send_trailers(ev[1], ev[2], ev[3])
            elif kind == c.EV_WINDOW:
                self._wake_writers(ev[1])
            elif kind == c.EV_PLAIN:
                self._on_plain(ev[1], ev[2])
        self.schedule_flush()

    def _on_plain(self, sid: int, headers: list[tuple[str, str]]) -> None:
        assert self.server.plain is not None  # the connection reports plain GETs only when asked to
        path = next((v for k, v in headers if k == ":path"), "/")
        status, ctype, body = self.server.plain("GET", path.split("?", 1)[0])
        self.conn.send_plain(sid, status, ctype, body)

    def _on_http1(self, data: bytes) -> None:
        """Not HTTP/2 but (presumably) an HTTP/1.1 request, as etcd's client port also serves (/health, /version,
        /metrics): one request head, one reply from the server's `http1` function, then the connection closes."""
        buf = self._http1 = (self._http1 if self._http1 is not None else bytearray()) + data
        end = buf.find(b"\r\n\r\n")
        if end < 0 and len(buf) <= http1.MAX_HEAD:
            return
        assert self.server.plain is not None
        reply = http1.reply_to(bytes(buf[:end + 4]) if end >= 0 else bytes(buf), self.server.plain)
        self._http1 = bytearray()
        self.conn.take_output()  # the HTTP/2 SETTINGS that never left: this client speaks HTTP/1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)
            self.transport.close()

    # ---- calls ------------------------------------------------------------------------------------------
    def _on_request(self, sid: int, headers: list[tuple[str, str]], end: bool) -> None:
        path = ""
        deadline = None
        for name, value in headers:
            if name == ":path":
                path = value
            elif name == "grpc-timeout":
                timeout = parse_timeout(value)
                if timeout is None:  # grpc-go's answer
                    self.conn.refuse(sid, "400", grpc.StatusCode.INTERNAL.value[0], f"malformed grpc-timeout: {value}")
                    return
                deadline = self.loop.time() + timeout
        handler = self.server.lookup(path)
        if handler is None:
            self.conn.send_trailers(sid, grpc.StatusCode.UNIMPLEMENTED.value[0], f"unknown method {path}")
            return
        ctx = Context(self, sid, headers, handler.response_serializer, deadline)
        call = _Call(handler, ctx, path)
        self.calls[sid] = call
        if deadline is not None:
            call.timer = self.loop.call_at(deadline, self._expire, sid)
        if handler.request_streaming:
            call.requests = _Requests(handler.request_deserializer, self, sid)
            self.conn.hold_credit(sid)
            call.task = self.loop.create_task(self._run(sid, call))
            if end:
                call.requests.feed(None)
        elif end:  # a unary request must carry its message
            self._finish(sid, grpc.StatusCode.INTERNAL, "the request carried no message")

    def _on_message(self, sid: int, payload: bytes) -> None:
        call = self.calls.get(sid)
        if call is None:
            return
        if call.requests is not None:
            call.requests.feed(payload)
        elif call.request is None:
            call.request = payload
        else:
            self._finish(sid, grpc.StatusCode.INTERNAL, "a unary call carried more than one request message")

    def _on_end(self, sid: int) -> None:
        call = self.calls.get(sid)
        if call is None:
            return
        if call.requests is not None:
            call.requests.feed(None)
        elif call.task is None:
            if call.request is None:
                self._finish(sid, grpc.StatusCode.INTERNAL, "the request carried no message")
            else:
                call.task = self.loop.create_task(self._run(sid, call))

    async def _run(self, sid: int, call: _Call) -> None:
        handler, ctx = call.handler, call.ctx
        check = self.server.interceptor
        try:
            if check is not None and call.requests is not None:
                refused = check(call.path, None, True)
                if refused is not None:
                    raise _Abort(*refused)
            if call.requests is None:
                request = _decode(handler.request_deserializer, call.request)
                refused = None if check is None else check(call.path, request, handler.response_streaming)
                if refused is not None:
                    raise _Abort(*refused)
                if handler.response_streaming:
                    await self._stream_out(handler.unary_stream(request, ctx), ctx)
                else:
                    response = await handler.unary_unary(request, ctx)
                    code, details = ctx.final_status()
                    if code is grpc.StatusCode.OK and sid in self.calls:
                        if call.timer is not None:
                            call.timer.cancel()
                        del self.calls[sid]
                        self.conn.respond(sid, _serialize(handler, response))  # headers, message, status at once
                        self.schedule_flush()
                    else:
                        self._finish(sid, code, details)
                    return
            elif handler.response_streaming:
                await self._stream_out(handler.stream_stream(call.requests, ctx), ctx)
            else:
                response = await handler.stream_unary(call.requests, ctx)
                if sid in self.calls:
                    self.conn.send_message(sid, _serialize(handler, response))
            self._finish(sid, *ctx.final_status())
        except _Abort as abort:
            self._finish(sid, abort.code, abort.details)
        except asyncio.CancelledError:
            if sid in self.calls:  # cancelled by us (server stopping): tell the client
                self._finish(sid, grpc.StatusCode.CANCELLED, "the server is shutting down")
        except Exception as err:  # a handler bug: the client gets UNKNOWN as from grpc.aio, the server lives
            if ctx.aborted is not None:
                self._finish(sid, *ctx.final_status())
                return
            log.exception("unexpected error in %s", type(err).__name__)
            self._finish(sid, grpc.StatusCode.UNKNOWN, f"Unexpected {type(err)}: {err}")

    async def _stream_out(self, result: Any, ctx: Context) -> None:
        if inspect.isasyncgen(result):
            async for message in result:
                await ctx.write(message)
        else:
            await result

    def _finish(self, sid: int, code: grpc.StatusCode, details: str) -> None:
        call = self.calls.pop(sid, None)
        if call is not None and call.timer is not None:
            call.timer.cancel()
        self.conn.send_trailers(sid, code.value[0], details if code is not grpc.StatusCode.OK else "")
        self.schedule_flush()

    def _expire(self, sid: int) -> None:
        call = self.calls.get(sid)
        if call is None:
            return
        self._finish(sid, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        self._cancel(call)

    def _cancel(self, call: _Call) -> None:
        call.ctx._cancelled = True
        if call.timer is not None:
            call.timer.cancel()
        if call.task is not None and not call.task.done():
            call.task.cancel()

    # ---- output -----------------------------------------------------------------------------------------
    def schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.conn.take_output()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if data:
            transport.write(data)
        if self._eof and (not self.calls or self.conn.waiting_for_window()):
            # After what was written: the half-closed client has every reply it can get. Without its
            # WINDOW_UPDATEs, a reply waiting for window never leaves: dropping it is all that frees it.
            transport.close()

    async def wait_writable(self, sid: int) -> None:
        while (self.paused or self.conn.pending_bytes(sid) > _WRITE_BACKLOG) and sid in self.conn.streams \
                and self.transport is not None and not self.transport.is_closing():
            fut = self._writable.get(sid)
            if fut is None or fut.done():
                fut = self._writable[sid] = self.loop.create_future()
            await fut

    def _wake_writers(self, sid: int) -> None:
        targets = list(self._writable) if sid == 0 else [sid]
        for key in targets:
            fut = self._writable.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    def auth_context(self) -> dict[str, list[bytes]]:
        if self._auth is None:
            self._auth = _auth_context(self.transport)
        return self._auth

    def go_away(self) -> None:
        self.conn.goaway()
        self._flush()


def _serialize(handler: Any, response: Any) -> bytes:
    """A reply's bytes; a handler registered without a serializer returns bytes itself (as with grpc.aio)."""
    serializer = handler.response_serializer
    return serializer(response) if serializer is not None else response  # type: ignore[no-any-return]


def _auth_context(transport: asyncio.BaseTransport | None) -> dict[str, list[bytes]]:
    """The subset of grpc's auth context raftkv reads: the client certificate's common name and SANs."""
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return {}
    out: dict[str, list[bytes]] = {"transport_security_type": [b"ssl"]}
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                out.setdefault("x509_common_name", []).append(value.encode())
    for _kind, value in cert.get("subjectAltName", ()):
        out.setdefault("x509_subject_alternative_name", []).append(value.encode())
    return out


class GrpcServer:
    """Registration and lifecycle shaped like grpc.aio.Server (add handlers, add ports, start, stop)."""

    def __init__(self, max_receive_message_length: int = 4 << 20, handshake_timeout: float = HANDSHAKE_TIMEOUT,
                 plain: http1.Answer | None = None) -> None:
        self.max_receive_message_length = max_receive_message_length
        self.handshake_timeout = handshake_timeout
        # answers plain HTTP GETs (HTTP/1.1 connections, or HTTP/2 requests that are not gRPC); None refuses them
        self.plain = plain
        # (method path, decoded request or None for a client stream, whether the call streams) -> (code, details)
        # to refuse the call before its handler runs, or None to run it
        self.interceptor: Callable[[str, Any, bool], tuple[grpc.StatusCode, str] | None] | None = None
        self._methods: dict[str, Any] = {}
        self._generic: list[Any] = []
        self._ports: list[tuple[str, int, ssl.SSLContext | None]] = []
        self._servers: list[asyncio.AbstractServer] = []
        self.connections: set[_GrpcProtocol] = set()

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        for method, handler in handlers.items():
            self._methods[f"/{service}/{method}"] = handler

    def add_generic_rpc_handlers(self, generic_handlers: Any) -> None:
        self._generic.extend(generic_handlers)

    def lookup(self, path: str) -> Any:
        handler = self._methods.get(path)
        if handler is None:
            for generic in self._generic:
                handler = generic.service(_CallDetails(path))
                if handler is not None:
                    self._methods[path] = handler
                    break
        return handler

    def add_port(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self._ports.append((host, port, tls))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for host, port, tls in self._ports:
            self._servers.append(await loop.create_server(
                lambda: _GrpcProtocol(self), host, port, ssl=tls, reuse_address=True, backlog=1024,
                ssl_handshake_timeout=self.handshake_timeout if tls is not None else None))

    async def stop(self, grace: float | None) -> None:
        """Stop accepting, GOAWAY every connection, let calls in flight finish for `grace` s, then cancel."""
        for srv in self._servers:
            srv.close()
        for proto in list(self.connections):
            proto.go_away()
        if grace:
            deadline = asyncio.get_running_loop().time() + grace
            while any(p.calls for p in self.connections) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
        tasks = []
        for proto in list(self.connections):
            for call in list(proto.calls.values()):
                proto._cancel(call)
                if call.task is not None:
                    tasks.append(call.task)
        if tasks:  # let the cancelled handlers end their calls with a status (CANCELLED), then close
            await asyncio.wait(tasks, timeout=1.0)
        for proto in list(self.connections):
            proto._flush()
            if proto.transport is not None:
                proto.transport.close()
        for srv in self._servers:
            await srv.wait_closed()


class _CallDetails(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def server_ssl_context(cert_file: str, key_file: str, ca_file: str, require_client_cert: bool) -> ssl.SSLContext:
    """TLS for the client port: h2 by ALPN (grpc-go refuses a server without it), client certificates checked
    against `ca_file` during the handshake when required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if ca_file:
        ctx.load_verify_locations(ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["h2"])
    return ctx

