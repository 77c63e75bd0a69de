"""The filter chain (k8s `DefaultBuildHandlerChain`), read top to bottom, wrapped inside-out.

request -> error recovery -> request info -> authentication -> impersonation -> max in flight -> authorization
-> handler.

The decisions are the pure cores' (`apiserver.authn`, `apiserver.authz`); this file only turns an aiohttp request
into their inputs (headers, the client certificate the TLS layer verified against --client-ca-file, the clock)
and their refusals into `Status` responses through `apiserver.errors`, the one error table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from apiserver import errors
from apiserver.authn.types import AuthRequest, UserInfo
from apiserver.authz.impersonation import ImpersonationError, impersonate
from apiserver.authz.request import authorize_request
from apiserver.http.inflight import PRIVILEGED_GROUP, InflightLimiter, is_long_running, is_mutating
from apiserver.http.security import Security
from apiserver.request_info import parse_request_info

log = logging.getLogger("apiserver")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status_response(err: errors.APIError) -> web.Response:
    response = web.Response(status=err.code, text=json.dumps(err.to_status()), content_type="application/json")
    if err.retry_after:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def auth_request(request: web.Request) -> AuthRequest:
    """What the authenticators see: the headers and the client certificate (DER). With CERT_OPTIONAL the TLS
    layer has refused any certificate not signed by --client-ca-file, so one that is here was verified."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    headers = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
    return AuthRequest(headers=headers, peer_certificate=der or None)


def impersonation_headers(request: web.Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        if key.lower().startswith("impersonate-"):
            out.setdefault(key.lower(), []).append(value)
    return out


def build_handler_chain(handler: Handler, *, security: Security, limiter: InflightLimiter | None = None) -> Handler:
    async def with_authorization(request: web.Request) -> web.StreamResponse:
        info = request["request_info"]
        allowed, message = authorize_request(security.authorizer, request["user"], info)
        if not allowed:
            # apimachinery's NewForbidden: details name the group, resource (as kind) and object of the request
            if info.is_resource_request:
                raise errors.APIError(message, "Forbidden", 403, name=info.name, group=info.group,
                                      kind=info.resource)
            raise errors.forbidden(message)
        return await handler(request)

    async def with_max_in_flight(request: web.Request) -> web.StreamResponse:
        info = request["request_info"]
        if limiter is None or is_long_running(info, request.query) or \
                PRIVILEGED_GROUP in (request["user"].groups or ()):
            return await with_authorization(request)
        mutating = is_mutating(info)
        if not limiter.acquire(mutating):
            raise errors.too_many_requests()
        try:
            return await with_authorization(request)
        finally:
            limiter.release(mutating)

    async def with_impersonation(request: web.Request) -> web.StreamResponse:
        headers = impersonation_headers(request)
        if headers:
            try:
                as_user = impersonate(request["user"], headers, security.authorizer)
            except ImpersonationError as e:
                raise errors.from_domain(e) from e
            if as_user is not None:
                request["user"] = as_user
        return await with_max_in_flight(request)

    async def with_authentication(request: web.Request) -> web.StreamResponse:
        user, ok, err = security.authenticator.authenticate(auth_request(request), security.clock())
        if not ok or user is None:
            if err is not None:
                log.info("authentication failed for %s %s: %s", request.method, request.path, err)
            raise errors.unauthorized()
        request["user"] = user
        return await with_impersonation(request)

    async def with_request_info(request: web.Request) -> web.StreamResponse:
        request["request_info"] = parse_request_info(request.method, request.path, request.query)
        return await with_authentication(request)

    async def with_recovery(request: web.Request) -> web.StreamResponse:
        try:
            return await with_request_info(request)
        except errors.APIError as e:
            return status_response(e)
        except (ConnectionResetError, web.HTTPException):
            raise
        except Exception as e:  # a bug: answer 500 and log it, never drop the connection silently
            log.exception("handler failed for %s %s", request.method, request.path)
            return status_response(errors.internal(repr(e)))

    return with_recovery


def request_user(request: web.Request) -> UserInfo:
    user: UserInfo = request["user"]
    return user
