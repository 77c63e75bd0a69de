"""The kubelet's HTTPS server (port 10250): /containerLogs, /exec, /attach, /portForward, /healthz.

Authentication is by client certificate against the kubelet's client CA (`--client-ca-file`; user = CN,
groups = O), as kube-apiserver presents `--kubelet-client-certificate`. Authorization is the kubelet's:
every path here maps to `nodes/proxy` on this node's name, verb from the HTTP method (GET -> get,
POST -> create; 1.32 does not force create for WebSocket GETs), decided by a SubjectAccessReview to the API
server (`Webhook`, the kubelet's mode in kubeadm clusters) or allowed for any verified certificate
(`AlwaysAllow`). Decisions are cached as the kubelet does (allowed 5 min, denied 30 s).

What to stream comes from a `StreamingHost` (agents/kubelet/streaming.py), the kubelet's one seam here.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from agents.kubelet.streaming import StreamingError, StreamingHost, StreamURL
from agents.streaming import channels, crilog, logstream, portforward, relay, remotecommand, spdyexec

log = logging.getLogger("agents.kubelet.server")
DEFAULT_PORT = 10250
ALLOWED_TTL_S, DENIED_TTL_S = 300.0, 30.0


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


class Authorizer(Protocol):
    async def authorize(self, user: User, verb: str, node: str) -> tuple[bool, str]: ...


class AlwaysAllow:
    async def authorize(self, user: User, verb: str, node: str) -> tuple[bool, str]:
        return True, ""


@dataclass
class WebhookAuthorizer:
    """SubjectAccessReview through the API server; `create` posts a body and returns the answer as JSON."""
    create: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    clock: Callable[[], float] = time.monotonic
    cache: dict[tuple[str, tuple[str, ...], str, str], tuple[float, bool, str]] = field(default_factory=dict)

    async def authorize(self, user: User, verb: str, node: str) -> tuple[bool, str]:
        key = (user.name, user.groups, verb, node)
        hit = self.cache.get(key)
        if hit and hit[0] > self.clock():
            return hit[1], hit[2]
        review = await self.create({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user.name, "groups": list(user.groups),
                     "resourceAttributes": {"verb": verb, "resource": "nodes", "subresource": "proxy",
                                            "name": node}}})
        status = review.get("status") or {}
        allowed, reason = bool(status.get("allowed")), str(status.get("reason") or "")
        self.cache[key] = (self.clock() + (ALLOWED_TTL_S if allowed else DENIED_TTL_S), allowed, reason)
        return allowed, reason


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        ctx.load_verify_locations(client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # a certificate that is sent must verify; none means anonymous
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def peer_user(request: web.Request) -> User | None:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    subject = x509.load_der_x509_certificate(der).subject
    cn = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    groups = tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return User(cn[0] if cn else "", groups) if cn else None


def _flag(request: web.Request, *names: str) -> bool:
    return any(request.query.get(n, "").lower() in ("1", "true") for n in names)


def _text_error(code: int, message: str) -> web.Response:
    return web.Response(status=code, text=message, content_type="text/plain")


class KubeletServer:
    def __init__(self, host: StreamingHost, node_name: str, authorizer: Authorizer, *,
                 anonymous: bool = False, clock: Callable[[], float] = time.time,
                 relay_ssl: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.node_name = node_name
        self.authorizer = authorizer
        self.anonymous = anonymous
        self.clock = clock
        self.relay_ssl = relay_ssl

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/containerLogs/{ns}/{pod}/{container}", self.container_logs)
        for verb in ("exec", "attach"):
            handler = self.exec if verb == "exec" else self.attach
            for path in (f"/{verb}/{{ns}}/{{pod}}/{{container}}", f"/{verb}/{{ns}}/{{pod}}/{{uid}}/{{container}}"):
                r.add_route("GET", path, handler)
                r.add_route("POST", path, handler)
        for path in ("/portForward/{ns}/{pod}", "/portForward/{ns}/{pod}/{uid}"):
            r.add_route("GET", path, self.port_forward)
            r.add_route("POST", path, self.port_forward)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        user = peer_user(request)
        if user is None:
            if not self.anonymous:
                return _text_error(401, "Unauthorized")
            user = User("system:anonymous", ("system:unauthenticated",))
        verb = "create" if request.method == "POST" else "get"
        try:
            allowed, _ = await self.authorizer.authorize(user, verb, self.node_name)
        except Exception as e:  # the API server is unreachable: refuse, as the kubelet's webhook does
            log.warning("authorization of %s failed: %s", user.name, e)
            return _text_error(500, f"Authorization error (user={user.name}, verb={verb}, resource=nodes, "
                                    f"subresource(s)=[proxy])")
        if not allowed:
            return _text_error(403, f"Forbidden (user={user.name}, verb={verb}, resource=nodes, "
                                    f"subresource(s)=[proxy])")
        try:
            return await handler(request)
        except StreamingError as e:
            return _text_error(e.code, e.message)

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    # ------------------------------------------------------------------ logs
    def log_options(self, request: web.Request) -> crilog.LogOptions:
        q = request.query

        def number(name: str) -> int | None:
            value = q.get(name)
            if value is None or value == "":
                return None
            if not value.lstrip("-").isdigit():
                raise StreamingError(400, f'invalid {name} "{value}"')
            return int(value)
        since = None
        if q.get("sinceTime"):
            try:
                since = crilog.parse_time(q["sinceTime"])
            except ValueError as e:
                raise StreamingError(400, f'invalid sinceTime "{q["sinceTime"]}"') from e
        elif number("sinceSeconds") is not None:
            since = self.clock() - float(number("sinceSeconds") or 0)
        tail = number("tailLines")
        return crilog.LogOptions(tail_lines=tail if tail is None or tail >= 0 else None, since_time=since,
                                 timestamps=_flag(request, "timestamps"), limit_bytes=number("limitBytes"),
                                 follow=_flag(request, "follow"), previous=_flag(request, "previous"))

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        opts = self.log_options(request)
        m = request.match_info
        source = await self.host.container_log(m["ns"], m["pod"], m["container"], opts.previous)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        if opts.follow:
            response.enable_chunked_encoding()
        await response.prepare(request)
        def gone() -> bool:
            return request.transport is None or request.transport.is_closing()
        await logstream.write_log(response, source.path, opts, source.running, gone)
        await response.write_eof()
        return response

    # ------------------------------------------------------------------ exec / attach
    async def exec(self, request: web.Request) -> web.StreamResponse:
        command = request.query.getall("command", [])
        if not command:
            raise StreamingError(400, "you must specify at least 1 command")
        return await self._remotecommand(request, command)

    async def attach(self, request: web.Request) -> web.StreamResponse:
        return await self._remotecommand(request, None)

    async def _remotecommand(self, request: web.Request, command: list[str] | None) -> web.StreamResponse:
        if not remotecommand.is_websocket(request):
            raise StreamingError(400, "Upgrade request required")
        protocol = remotecommand.choose_protocol(request, channels.REMOTECOMMAND_PROTOCOLS)
        if protocol is None:
            raise StreamingError(400, "unable to upgrade: no supported subprotocol was offered")
        m = request.match_info
        stdin, stdout = _flag(request, "input", "stdin"), _flag(request, "output", "stdout")
        stderr, tty = _flag(request, "error", "stderr"), _flag(request, "tty")
        if not (stdin or stdout or stderr):
            raise StreamingError(400, "you must specify at least 1 of stdin, stdout, stderr")
        kw = {"stdin": stdin, "stdout": stdout, "stderr": stderr and not tty, "tty": tty}

        async def start() -> Any:
            if command is None:
                return await self.host.attach(m["ns"], m["pod"], m.get("uid", ""), m["container"], **kw)
            return await self.host.exec(m["ns"], m["pod"], m.get("uid", ""), m["container"], command, **kw)
        target = await start()
        if isinstance(target, StreamURL):
            return await self._relay(request, target.url, start, kw)
        return await remotecommand.serve(request, target, protocol, command or [], kill_on_close=command is not None)

    async def _relay(self, request: web.Request, url: str, again: Callable[[], Awaitable[Any]],
                     flags: dict[str, bool]) -> web.StreamResponse:
        """Relay to a runtime's streaming URL. A runtime whose streaming server predates v5 (containerd 1.6
        speaks v1-v4 over WebSocket) refuses the v5 handshake before running anything; it is asked for a new
        URL and spoken to in SPDY, as kube's kubelet does, so that the end of stdin still reaches it."""
        offered = channels.offered_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
        try:
            upstream = await relay.dial(url, offered, self.relay_ssl)
        except relay.UpstreamRefused as e:
            if e.status not in (400, 403) or channels.V5 not in offered:
                return web.Response(status=e.status, body=e.body, content_type=e.content_type.split(";")[0])
            return await self._spdy(request, again, flags)
        except OSError as e:
            raise StreamingError(500, f"error dialing the runtime's streaming server: {e}") from e
        return await relay.relay(request, upstream)

    async def _spdy(self, request: web.Request, again: Callable[[], Awaitable[Any]],
                    flags: dict[str, bool]) -> web.StreamResponse:
        target = await again()
        if not isinstance(target, StreamURL):
            raise StreamingError(500, "the runtime answered the second request differently")
        try:
            session = await spdyexec.dial(target.url, self.relay_ssl)
        except relay.UpstreamRefused as e:
            return web.Response(status=e.status, body=e.body, content_type=e.content_type.split(";")[0])
        except OSError as e:
            raise StreamingError(500, f"error dialing the runtime's streaming server: {e}") from e
        return await spdyexec.bridge(request, session, channels.V5, **flags)

    # ------------------------------------------------------------------ port-forward
    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        if not remotecommand.is_websocket(request):
            raise StreamingError(400, "Upgrade request required")
        m = request.match_info
        ns, pod, uid = m["ns"], m["pod"], m.get("uid", "")

        async def dial(port: int) -> Any:
            return await self.host.port_forward(ns, pod, uid, port)

        def describe(port: int, err: BaseException) -> str:
            return portforward.forward_error(pod, uid, port, err)
        offered = channels.offered_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
        if channels.SPDY_TUNNEL in offered:
            return await portforward.serve_spdy_tunnel(request, dial, describe)
        protocol = channels.pick_protocol(offered, channels.PORTFORWARD_PROTOCOLS)
        if protocol is None:
            raise StreamingError(400, "unable to upgrade: no supported subprotocol was offered")
        ports = []
        for raw in request.query.getall("port", []) + request.query.getall("ports", []):
            for part in raw.split(","):
                if not part.strip().isdigit() or not 0 < int(part) < 65536:
                    raise StreamingError(400, f'invalid port "{part}"')
                ports.append(int(part))
        if not ports:
            raise StreamingError(400, "query parameter \"port\" is required")
        return await portforward.serve_channels(request, protocol, ports, dial, describe)

    async def start(self, address: str, port: int, ssl_context: ssl.SSLContext | None) -> web.AppRunner:
        runner = web.AppRunner(self.app(), shutdown_timeout=2.0)
        await runner.setup()
        await web.TCPSite(runner, address, port, ssl_context=ssl_context).start()
        return runner
