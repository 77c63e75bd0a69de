"""Assembly: storage -> registry -> handler -> filter chain -> aiohttp app, plus TLS and bootstrap."""

from __future__ import annotations

import json
import pathlib
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from apiserver import errors
from apiserver.api.resources import RESOURCES
from apiserver.http.filters import allow_all, build_handler_chain, x509_authenticator
from apiserver.http.server import APIHandler
from apiserver.registry.store import Registry
from apiserver.storage.etcd3 import Etcd3Store

DEFINITIONS_FILE = pathlib.Path(__file__).parent.parent / "api" / "data" / "definitions-v1.32.json"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class ServingOptions:
    bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    anonymous_auth: bool = False
    watch_bookmark_interval: float = 60.0


def server_ssl_context(opts: ServingOptions) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(opts.tls_cert_file, opts.tls_private_key_file)
    if opts.client_ca_file:
        ctx.load_verify_locations(opts.client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # certificates are checked when sent; authn decides the rest
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def bootstrap_namespaces(registry: Registry) -> None:
    store = registry.store("", "namespaces")
    assert store is not None
    for name in DEFAULT_NAMESPACES:
        try:
            await store.create("", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except errors.APIError as e:
            if e.code != 409:
                raise


def build_app(storage: Etcd3Store, opts: ServingOptions, *, clock: Callable[[], float] = time.time,
              rng: random.Random | None = None) -> web.Application:
    registry = Registry(storage, RESOURCES, clock=clock, rng=rng or random.SystemRandom(),
                        bookmark_interval=opts.watch_bookmark_interval)
    definitions = json.loads(DEFINITIONS_FILE.read_text()) if DEFINITIONS_FILE.is_file() else None
    handler = APIHandler(registry, server_address=f"{opts.bind_address}:{opts.secure_port}", clock=clock,
                         definitions=definitions)
    chain = build_handler_chain(handler, authenticate=x509_authenticator, authorize=allow_all,
                                anonymous_auth=opts.anonymous_auth)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", chain)

    async def on_startup(app: web.Application) -> None:
        await bootstrap_namespaces(registry)

    async def on_shutdown(app: web.Application) -> None:
        handler.stop_watches()

    async def on_cleanup(app: web.Application) -> None:
        await storage.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
