"""A small Kubernetes REST client on aiohttp, the one way controllers reach the API server.

As client-go's rest.Client: a client-side token bucket (QPS 20, burst 30 by default: kube-controller-manager's
--kube-api-qps/--kube-api-burst) in front of every request including watches, a user agent naming the component,
typed `APIError`s decoded from the server's Status, and retries of 429/5xx answers that carry Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from controllers.machinery.kubeconfig import ClientConfig
from controllers.machinery.resources import Resource
from controllers.machinery.workqueue import TokenBucket

log = logging.getLogger(__name__)

DEFAULT_QPS = 20.0
DEFAULT_BURST = 30
REQUEST_TIMEOUT_S = 60.0
WATCH_READ_GRACE_S = 30
MAX_RETRIES = 10  # client-go's maxRetries for Retry-After answers
USER_AGENT = "kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/raftkv"
PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
           429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}

Object = dict[str, Any]
Items = list[Object]  # named outside the class, whose `list` method shadows the builtin
TokenSource = Callable[[], Awaitable[str]]


class APIError(Exception):
    """A failure Status from the API server (or one made up from the HTTP code when the body is not a Status)."""

    def __init__(self, code: int, reason: str, message: str, status: Object | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status or {}

    @classmethod
    def from_status(cls, status: Mapping[str, Any], http_code: int = 0) -> APIError:
        code = int(status.get("code") or http_code or 500)
        return cls(code, str(status.get("reason") or REASONS.get(code, "Unknown")), str(status.get("message") or ""),
                   dict(status))

    @property
    def not_found(self) -> bool:
        return self.code == 404

    @property
    def conflict(self) -> bool:
        return self.code == 409 and self.reason == "Conflict"

    @property
    def already_exists(self) -> bool:
        return self.code == 409 and self.reason == "AlreadyExists"

    @property
    def expired(self) -> bool:
        """410 Gone / Expired: a resourceVersion too old for a watch or a continue token."""
        return self.code == 410


def is_not_found(e: BaseException) -> bool:
    return isinstance(e, APIError) and e.not_found


def is_conflict(e: BaseException) -> bool:
    return isinstance(e, APIError) and e.conflict


def is_already_exists(e: BaseException) -> bool:
    return isinstance(e, APIError) and e.already_exists


def error_text(e: BaseException) -> str:
    """What Go's err.Error() prints for an API error: the Status message (the text controllers put in events)."""
    return e.message if isinstance(e, APIError) and e.message else str(e)


def has_status_cause(e: BaseException, cause: str) -> bool:
    """apierrors.HasStatusCause: the Status names `cause` among its details.causes (e.g. "NamespaceTerminating",
    which controllers drop instead of retrying)."""
    if not isinstance(e, APIError):
        return False
    return any(c.get("reason") == cause for c in (e.status.get("details") or {}).get("causes") or [])


class RateLimiter:
    """flowcontrol.NewTokenBucketRateLimiter: `wait()` blocks until a token is free; qps <= 0 means no limit."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.bucket = TokenBucket(qps, max(1, burst), clock()) if qps > 0 else None

    async def wait(self) -> None:
        if self.bucket is None:
            return
        delay = self.bucket.reserve(self.clock())
        if delay > 0:
            await asyncio.sleep(delay)


def _selector(value: object) -> str:
    return value if isinstance(value, str) else str(value)


class RESTClient:
    """get/list/create/update/patch/delete/watch on `Resource`s; one aiohttp session, made on first use."""

    def __init__(self, config: ClientConfig, *, qps: float = DEFAULT_QPS, burst: int = DEFAULT_BURST,
                 user_agent: str = "", token_source: TokenSource | None = None,
                 rate_limiter: RateLimiter | None = None) -> None:
        self.config = config
        self.user_agent = user_agent or config.user_agent or USER_AGENT
        self.token_source = token_source
        self.rate_limiter = rate_limiter or RateLimiter(qps, burst)
        self.requests: Counter[str] = Counter()  # by verb, for benchmarks and tests
        self._session: aiohttp.ClientSession | None = None
        self._ssl = config.ssl_context()

    def with_identity(self, token_source: TokenSource, user_agent: str, qps: float, burst: int) -> RESTClient:
        """A client for the same server acting as another identity (a controller's service account)."""
        return RESTClient(self.config.with_token(""), qps=qps, burst=burst, user_agent=user_agent,
                          token_source=token_source)

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False, limit=100)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _headers(self, content_type: str = "") -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": self.user_agent}
        token = await self.token_source() if self.token_source else self.config.bearer_token()
        if token:
            h["Authorization"] = f"Bearer {token}"
        if content_type:
            h["Content-Type"] = content_type
        return h

    # ---------------------------------------------------------------- the one request path
    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      body: Any = None, content_type: str = "application/json", verb: str = "") -> Any:
        """Send one request (after the rate limiter) and return the decoded JSON answer; raise APIError."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None and v != ""}
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(MAX_RETRIES + 1):
            await self.rate_limiter.wait()
            self.requests[verb or method.lower()] += 1
            headers = await self._headers(content_type if data is not None else "")
            unauthorized_retry = attempt == 0 and self.token_source is not None
            async with self._sess().request(method, self.config.server + path, params=query, data=data,
                                            headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as resp:
                raw = await resp.read()
                if resp.status < 400:
                    return json.loads(raw) if raw else None
                invalidate = getattr(self.token_source, "invalidate", None)
                if resp.status == 401 and unauthorized_retry and invalidate is not None:
                    invalidate()  # a service account token made stale (its SA recreated): get a new one, once
                    continue
                retry_after = resp.headers.get("Retry-After")
                if retry_after and (resp.status == 429 or resp.status >= 500) and attempt < MAX_RETRIES:
                    await asyncio.sleep(min(float(retry_after) if retry_after.isdigit() else 1.0, 10.0))
                    continue
                raise _error(resp.status, raw)
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- verbs
    async def get(self, resource: Resource, namespace: str | None, name: str, subresource: str | None = None,
                  **params: Any) -> Object:
        return await self.request("GET", resource.path(namespace, name, subresource), params=params, verb="get")

    async def list(self, resource: Resource, namespace: str | None = None, *, label_selector: object = None,
                   field_selector: object = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None, resource_version_match: str | None = None) -> Object:
        """One page of the collection (a `<Kind>List`)."""
        params = {"labelSelector": _selector(label_selector) if label_selector is not None else None,
                  "fieldSelector": _selector(field_selector) if field_selector is not None else None,
                  "limit": limit, "continue": continue_, "resourceVersion": resource_version,
                  "resourceVersionMatch": resource_version_match}
        return await self.request("GET", resource.path(namespace), params=params, verb="list")

    async def list_all(self, resource: Resource, namespace: str | None = None, *, page_size: int = 500,
                       resource_version: str | None = None, **selectors: Any) -> tuple[Items, str]:
        """Every item, following `continue` tokens (client-go's pager); returns (items, list resourceVersion)."""
        items: list[Object] = []
        token: str | None = None
        rv = ""
        while True:
            page = await self.list(resource, namespace, limit=page_size, continue_=token,
                                   resource_version=resource_version if token is None else None, **selectors)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            token = meta.get("continue") or None
            if not token:
                return items, rv

    async def create(self, resource: Resource, namespace: str | None, body: Object, subresource: str | None = None,
                     name: str | None = None, **params: Any) -> Object:
        """POST to the collection, or to `name`'s `subresource` (binding, eviction, token)."""
        path = resource.path(namespace, name, subresource) if subresource else resource.path(namespace)
        return await self.request("POST", path, params=params, body=body, verb="create")

    async def update(self, resource: Resource, namespace: str | None, name: str, body: Object,
                     subresource: str | None = None, **params: Any) -> Object:
        return await self.request("PUT", resource.path(namespace, name, subresource), params=params, body=body,
                                  verb="update")

    async def patch(self, resource: Resource, namespace: str | None, name: str, patch: Any,
                    patch_type: str = "merge", subresource: str | None = None, *, field_manager: str | None = None,
                    force: bool | None = None, **params: Any) -> Object:
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r} (one of {', '.join(PATCH_CONTENT_TYPES)})")
        query = {**params, "fieldManager": field_manager, "force": force}
        return await self.request("PATCH", resource.path(namespace, name, subresource), params=query, body=patch,
                                  content_type=PATCH_CONTENT_TYPES[patch_type], verb="patch")

    async def delete(self, resource: Resource, namespace: str | None, name: str, *, uid: str | None = None,
                     resource_version: str | None = None, propagation: str | None = None,
                     grace_period_seconds: int | None = None) -> Object:
        """DELETE with DeleteOptions; `uid`/`resource_version` become preconditions (409 if they do not hold)."""
        opts: Object = {"kind": "DeleteOptions", "apiVersion": "v1"}
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            opts["preconditions"] = pre
        if propagation:
            opts["propagationPolicy"] = propagation
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        return await self.request("DELETE", resource.path(namespace, name), body=opts, verb="delete")

    async def watch(self, resource: Resource, namespace: str | None = None, *, resource_version: str | None = None,
                    allow_watch_bookmarks: bool = True, timeout_seconds: int | None = None,
                    label_selector: object = None, field_selector: object = None,
                    send_initial_events: bool | None = None) -> AsyncIterator[tuple[str, Object]]:
        """(type, object) pairs of one watch request until the server ends it; ERROR events are yielded too
        (their object is a Status: `APIError.from_status` turns it into an error)."""
        params = {"watch": "true", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true" if allow_watch_bookmarks else None,
                  "timeoutSeconds": timeout_seconds,
                  "labelSelector": _selector(label_selector) if label_selector is not None else None,
                  "fieldSelector": _selector(field_selector) if field_selector is not None else None,
                  "sendInitialEvents": send_initial_events}
        query = {k: _param(v) for k, v in params.items() if v is not None and v != ""}
        await self.rate_limiter.wait()
        self.requests["watch"] += 1
        # The server ends the watch after timeoutSeconds; silence well beyond that is a dead connection.
        sock_read = timeout_seconds + WATCH_READ_GRACE_S if timeout_seconds else None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT_S, sock_read=sock_read)
        async with self._sess().get(self.config.server + resource.path(namespace), params=query,
                                    headers=await self._headers(), timeout=timeout) as resp:
            if resp.status >= 400:
                raise _error(resp.status, await resp.read())
            buf = bytearray()  # one event per line; a big object arrives in many chunks
            async for chunk in resp.content.iter_any():
                buf += chunk
                if b"\n" not in chunk:
                    continue
                lines = buf.split(b"\n")
                buf = bytearray(lines.pop())
                for line in lines:
                    if line.strip():
                        event = json.loads(line)
                        yield event.get("type", ""), event.get("object") or {}
            if buf.strip():
                event = json.loads(buf)
                yield event.get("type", ""), event.get("object") or {}


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error(code: int, raw: bytes) -> APIError:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("kind") == "Status":
        return APIError.from_status(body, code)
    return APIError(code, REASONS.get(code, "Unknown"), raw.decode(errors="replace")[:500])
