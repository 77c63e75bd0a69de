"""pods/log, pods/exec, pods/attach and pods/portforward: find the pod's kubelet and stream through it.

As kube-apiserver: the subresource was authorized by the filter chain (get pods/log; pods/exec, attach and
portforward with the HTTP method's verb, so a WebSocket GET is `get` in 1.32 — the `create` check for
WebSocket upgrades came with 1.35's AuthorizePodWebsocketUpgradeCreatePermission); the pod's node is looked
up, its address picked by `--kubelet-preferred-address-types` and its port from
`status.daemonEndpoints.kubeletEndpoint`, and the kubelet is called over HTTPS with
`--kubelet-client-certificate/--kubelet-client-key`, verified against `--kubelet-certificate-authority` (not
verified without one, as kube-apiserver). A kubelet's refusal is turned into a Status as kube's
GenericHttpResponseChecker does (400 BadRequest, 404 NotFound, 500 InternalError, with its text).

Differences: the API server speaks WebSocket to the kubelet (kube translates to SPDY), relaying messages,
so kubectl's SPDY-in-WebSocket port-forward is unwrapped by the kubelet; a plain SPDY upgrade (kubectl's
fallback after a refused WebSocket) is not proxied — it is answered with the refusal the WebSocket attempt
just got for the same stream, else 400 "Upgrade request required".
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from aiohttp import web

from agents.streaming import relay
from apiserver import errors
from apiserver.registry.store import Registry

DEFAULT_KUBELET_PORT = 10250
# kube's default is Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP; node names here rarely resolve
DEFAULT_ADDRESS_TYPES = ("InternalIP", "Hostname", "InternalDNS", "ExternalDNS", "ExternalIP")
LOG_PARAMS = ("follow", "previous", "timestamps", "tailLines", "limitBytes", "sinceSeconds", "sinceTime")
REFUSAL_MEMORY_S = 10.0
CLIENT_CHECK_S = 1.0  # how often a quiet followed log checks that its client is still there


@dataclass(frozen=True)
class KubeletClientOptions:
    client_certificate: str = ""
    client_key: str = ""
    certificate_authority: str = ""
    preferred_address_types: tuple[str, ...] = DEFAULT_ADDRESS_TYPES
    timeout_s: float = 30.0


def kubelet_ssl_context(opts: KubeletClientOptions) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if opts.certificate_authority:
        ctx.load_verify_locations(opts.certificate_authority)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if opts.client_certificate:
        ctx.load_cert_chain(opts.client_certificate, opts.client_key or None)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def refusal(status: int, body: bytes, resource: str, name: str) -> errors.APIError:
    """kube's GenericHttpResponseChecker: the kubelet's text under the matching Status."""
    text = body.decode("utf-8", "replace").strip()
    if status == 400:
        return errors.bad_request(text)
    if status == 500:
        return errors.internal(text)
    if status == 404:
        return errors.APIError(text, "NotFound", 404, name=name, kind=resource)
    if status == 403:
        return errors.APIError(text, "Forbidden", 403, name=name, kind=resource)
    if status == 401:
        return errors.APIError(text, "Unauthorized", 401)
    return errors.APIError(text, "InternalError", status or 500, name=name, kind=resource)


def dial_error(url: str, err: BaseException) -> str:
    """A failed connection as Go's net package words it (`dial tcp 10.0.0.5:10250: connect: connection
    refused`), which is what users see from kube-apiserver."""
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port}"
    if isinstance(err, aiohttp.ClientConnectorError):
        err = err.os_error
    if isinstance(err, ConnectionRefusedError):
        return f"dial tcp {where}: connect: connection refused"
    if isinstance(err, TimeoutError | asyncio.TimeoutError):
        return f"dial tcp {where}: i/o timeout"
    return f"dial tcp {where}: {err}"


def validate_log_options(query: Any, name: str) -> None:
    causes = []
    for field_name in ("tailLines", "limitBytes", "sinceSeconds"):
        raw = query.get(field_name)
        if raw is None:
            continue
        if not raw.lstrip("-").isdigit():
            raise errors.bad_request(f'invalid {field_name} "{raw}"')
        value, floor = int(raw), 0 if field_name == "tailLines" else 1
        if value < floor:
            rule = "must be greater than or equal to 0" if floor == 0 else "must be greater than 0"
            causes.append(errors.Cause("FieldValueInvalid", f"Invalid value: {value}: {rule}", field_name))
    if query.get("sinceSeconds") and query.get("sinceTime"):
        causes.append(errors.Cause("FieldValueForbidden",
                                   "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified", ""))
    if causes:
        raise errors.invalid("PodLogOptions", "", name, causes)


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


class KubeletProxy:
    def __init__(self, registry: Registry, opts: KubeletClientOptions,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.opts = opts
        self.ssl = kubelet_ssl_context(opts)
        self.clock = clock
        self.refusals: dict[tuple[str, ...], tuple[float, errors.APIError]] = {}
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl),
                                                  auto_decompress=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def location(self, node_name: str) -> str:
        """https://<address>:<port> of a node's kubelet (kube's GetConnectionInfo)."""
        nodes = self.registry.store("", "nodes")
        assert nodes is not None
        node = await nodes.get("", node_name)
        status = node.get("status") or {}
        addresses = status.get("addresses") or []
        host = ""
        for kind in self.opts.preferred_address_types:
            host = next((a.get("address", "") for a in addresses if a.get("type") == kind and a.get("address")), "")
            if host:
                break
        if not host:
            known = ", ".join(f"{a.get('type')}: {a.get('address')}" for a in addresses)
            raise errors.internal(f"no preferred addresses found; known addresses: [{known}]")
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or \
            DEFAULT_KUBELET_PORT
        return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"

    async def serve(self, request: web.Request, subresource: str, pod: dict[str, Any]) -> web.StreamResponse:
        """Pick the container as kube's LogLocation/streamLocation do, then proxy to the pod's kubelet."""
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        name, namespace = meta.get("name", ""), meta.get("namespace", "")
        names = [str(c.get("name")) for c in spec.get("containers") or []]
        inits = [str(c.get("name")) for c in spec.get("initContainers") or []]
        ephemeral = [str(c.get("name")) for c in spec.get("ephemeralContainers") or []]
        container = request.query.get("container", "")
        if subresource != "portforward":
            if not container:
                if len(names) != 1:
                    message = f"a container name must be specified for pod {name}"
                    if names:
                        message += f", choose one of: [{' '.join(names)}]"
                        if inits:
                            message += f" or one of the init containers: [{' '.join(inits)}]"
                    raise errors.bad_request(message)
                container = names[0]
            elif container not in names + inits + ephemeral:
                raise errors.bad_request(f"container {container} is not valid for pod {name}")
        node = spec.get("nodeName") or ""
        if subresource == "log":
            if not node:
                # kube-apiserver answers an empty log for a pod no node has yet
                return web.Response(status=200, body=b"", headers={"Content-Type": "text/plain"})
            return await self.logs(request, namespace, name, container, node)
        if not node:
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        return await self.stream(request, subresource, namespace, name, container, node)

    # ------------------------------------------------------------------ logs
    async def logs(self, request: web.Request, namespace: str, pod: str, container: str, node: str
                   ) -> web.StreamResponse:
        validate_log_options(request.query, pod)
        base = await self.location(node)
        query = {k: request.query[k] for k in LOG_PARAMS if k in request.query}
        url = f"{base}/containerLogs/{quote(namespace)}/{quote(pod)}/{quote(container)}"
        follow = request.query.get("follow") in ("true", "1")
        timeout = aiohttp.ClientTimeout(total=None if follow else 300, sock_connect=self.opts.timeout_s)
        try:
            upstream = await self.session().get(url, params=query, timeout=timeout)
        except (aiohttp.ClientError, OSError) as e:
            raise errors.internal(f'Get "{url}?{urlencode(query)}": {dial_error(url, e)}') from e
        async with upstream:
            if not 200 <= upstream.status <= 206:
                raise refusal(upstream.status, await upstream.content.read(64 * 1024), "pods/log", pod)
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            if follow:
                response.enable_chunked_encoding()
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientPayloadError):
                while True:
                    try:
                        chunk = await asyncio.wait_for(upstream.content.readany(), CLIENT_CHECK_S)
                    except TimeoutError:
                        if request.transport is None or request.transport.is_closing():
                            break  # the client left a quiet follow: let the kubelet go too
                        continue
                    if not chunk:
                        break
                    await response.write(chunk)
            with contextlib.suppress(ConnectionResetError):
                await response.write_eof()
            return response

    # ------------------------------------------------------------------ exec / attach / portforward
    def remember(self, key: tuple[str, ...], err: errors.APIError) -> errors.APIError:
        """Keep a refusal for kubectl's SPDY retry of the same stream (see the module docstring)."""
        now = self.clock()
        self.refusals = {k: v for k, v in self.refusals.items() if v[0] > now}
        self.refusals[key] = (now + REFUSAL_MEMORY_S, err)
        return err

    async def stream(self, request: web.Request, subresource: str, namespace: str, pod: str, container: str,
                     node: str) -> web.StreamResponse:
        q = request.query
        params: list[tuple[str, str]] = []
        if subresource in ("exec", "attach"):
            flags = {k: q.get(k, "").lower() in ("true", "1") for k in ("stdin", "stdout", "stderr", "tty")}
            if subresource == "exec" and not q.getall("command", []):
                raise errors.bad_request("you must specify at least 1 command")
            if not (flags["stdin"] or flags["stdout"] or flags["stderr"]):
                raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
            params += [("command", c) for c in q.getall("command", [])] if subresource == "exec" else []
            params += [(kubelet_name, "1") for name, kubelet_name in
                       (("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty")) if flags[name]]
            path = f"/{subresource}/{quote(namespace)}/{quote(pod)}/{quote(container)}"
        else:
            for raw in q.getall("ports", []) + q.getall("port", []):
                for part in raw.split(","):
                    if not part.strip().isdigit() or not 0 < int(part) < 65536:
                        raise errors.bad_request(f"invalid port {part!r}: port must be in the range 1 to 65535")
                    params.append(("port", part.strip()))
            path = f"/portForward/{quote(namespace)}/{quote(pod)}"
        key = (str(getattr(request.get("user"), "name", "")), subresource, namespace, pod, container)
        if not is_websocket(request):
            remembered = self.refusals.get(key)
            if remembered and remembered[0] > self.clock():
                raise remembered[1]
            raise errors.bad_request("Upgrade request required")
        url = await self.location(node) + path + (f"?{urlencode(params)}" if params else "")
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        try:
            upstream = await relay.dial(url, offered, self.ssl, timeout=self.opts.timeout_s)
        except relay.UpstreamRefused as e:
            raise self.remember(key, refusal(e.status, e.body, f"pods/{subresource}", pod)) from e
        except (OSError, TimeoutError) as e:
            raise self.remember(key, errors.internal(f"error dialing backend: {dial_error(url, e)}")) from e
        return await relay.relay(request, upstream)
