"""The filter chain (k8s `DefaultBuildHandlerChain`), read top to bottom, wrapped inside-out.

request -> panic/error recovery -> request info -> authentication -> authorization -> admission hook ->
handler. Authentication here accepts any client certificate the TLS layer verified against
`--client-ca-file` (user = CN, groups = O) and, with `--anonymous-auth`, unauthenticated requests as
system:anonymous; authorization allows everything. Both are plain callables so the real
authenticators/authorizers (apiserver/authn, apiserver/authz) plug in without touching the handler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from apiserver import errors
from apiserver.request_info import RequestInfo, parse_request_info

log = logging.getLogger("apiserver")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)


Authenticator = Callable[[web.Request], UserInfo | None]
Authorizer = Callable[[UserInfo, RequestInfo], tuple[bool, str]]


def status_response(err: errors.APIError) -> web.Response:
    return web.Response(status=err.code, text=json.dumps(err.to_status()), content_type="application/json")


def x509_authenticator(request: web.Request) -> UserInfo | None:
    """User from the verified client certificate, if any (the TLS layer already checked the chain)."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    if not cert:
        return None
    cn, orgs = "", []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                orgs.append(v)
    return UserInfo(cn, tuple(orgs) + ("system:authenticated",))


def allow_all(user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
    return True, ""


def build_handler_chain(handler: Handler, *, authenticate: Authenticator, authorize: Authorizer,
                        anonymous_auth: bool) -> Handler:
    async def with_authorization(request: web.Request) -> web.StreamResponse:
        allowed, reason = authorize(request["user"], request["request_info"])
        if not allowed:
            info: RequestInfo = request["request_info"]
            raise errors.forbidden(f'{info.resource or info.path} is forbidden: User "{request["user"].name}" '
                                   f"cannot {info.verb}: {reason}")
        return await handler(request)

    async def with_authentication(request: web.Request) -> web.StreamResponse:
        user = authenticate(request)
        if user is None:
            if not anonymous_auth:
                raise errors.unauthorized()
            user = UserInfo("system:anonymous", ("system:unauthenticated",))
        request["user"] = user
        return await with_authorization(request)

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
