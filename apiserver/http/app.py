"""Assembly: storage -> registry -> handler -> filter chain -> aiohttp app, plus TLS and bootstrap.

At start-up, before serving: the default namespaces, their ``default`` ServiceAccounts and the bootstrap RBAC
policy (cluster-admin, admin/edit/view, system:* roles and bindings) are created when missing, then the auth state
cache is listed, so the first request is already judged against the real policy."""

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
from apiserver.authz.bootstrap import policy_objects
from apiserver.http.filters import build_handler_chain
from apiserver.http.inflight import InflightLimiter
from apiserver.http.kubelet_proxy import KubeletClientOptions, KubeletProxy
from apiserver.http.security import CACHED_RESOURCES, AuthOptions, Security
from apiserver.http.server import APIHandler
from apiserver.registry import allocation
from apiserver.registry.kubernetes_reconciler import KubernetesServiceReconciler
from apiserver.registry.service_alloc import ServiceAllocator
from apiserver.registry.store import Registry
from apiserver.storage import compaction
from apiserver.storage.compactor import Compactor
from apiserver.storage.etcd3 import Etcd3Store
from apiserver.storage.informer import Informer
from apiserver.storage.lister import Lister
from apiserver.validation.scheduling import system_priority_class_objects

DEFINITIONS_FILE = pathlib.Path(__file__).parent.parent / "api" / "data" / "definitions-v1.32.json"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class ServingOptions:
    bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    watch_bookmark_interval: float = 60.0
    auth: AuthOptions = AuthOptions()
    max_requests_inflight: int = 400  # kube-apiserver's defaults; 0 = unlimited
    max_mutating_requests_inflight: int = 200
    service_cluster_ip_range: str = allocation.DEFAULT_SERVICE_CIDR  # kube-apiserver's defaults
    service_node_port_range: str = allocation.DEFAULT_NODE_PORT_RANGE
    advertise_address: str = ""  # "" = the bind address (127.0.0.1 when that is unspecified)
    kubelet: KubeletClientOptions = KubeletClientOptions()  # how logs/exec/port-forward reach kubelets
    etcd_compaction_interval: float = compaction.DEFAULT_INTERVAL_S  # seconds; 0 = no compaction


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


RBAC_PLURALS = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings"}


async def bootstrap_policy(registry: Registry) -> None:
    """The default roles and bindings a real cluster starts with; existing objects are left as they are."""
    for obj in policy_objects(aggregated=True):
        store = registry.store("rbac.authorization.k8s.io", RBAC_PLURALS[obj["kind"]])
        assert store is not None
        try:
            await store.create("", obj)
        except errors.APIError as e:
            if e.code != 409:
                raise


async def bootstrap_priority_classes(registry: Registry) -> None:
    """kube-apiserver's scheduling/bootstrap-system-priority-classes: the two system classes, kept as found."""
    store = registry.store("scheduling.k8s.io", "priorityclasses")
    assert store is not None
    for obj in system_priority_class_objects():
        try:
            await store.create("", obj)
        except errors.APIError as e:
            if e.code != 409:
                raise


def build_app(storage: Etcd3Store, opts: ServingOptions, *, clock: Callable[[], float] = time.time,
              rng: random.Random | None = None) -> web.Application:
    rng = rng or random.SystemRandom()
    registry = Registry(storage, RESOURCES, clock=clock, rng=rng, bookmark_interval=opts.watch_bookmark_interval)
    lister = Lister(CACHED_RESOURCES)
    registry.set_observer(lister.apply)
    allocator = ServiceAllocator(storage, allocation.IPRange.parse(opts.service_cluster_ip_range),
                                 allocation.PortRange.parse(opts.service_node_port_range), rng)
    services = registry.store("", "services")
    assert services is not None
    services.write_hook = allocator
    reconciler = KubernetesServiceReconciler(registry, allocator, opts.secure_port, opts.advertise_address,
                                             opts.bind_address)
    informer = Informer(storage, lister, [r for r in RESOURCES if r.plural in CACHED_RESOURCES and not r.virtual])
    security = Security(opts.auth, lister, clock=clock, rng=rng)
    definitions = json.loads(DEFINITIONS_FILE.read_text()) if DEFINITIONS_FILE.is_file() else None
    handler = APIHandler(registry, security, server_address=f"{opts.bind_address}:{opts.secure_port}",
                         clock=clock, definitions=definitions)
    handler.kubelets = KubeletProxy(registry, opts.kubelet)
    chain = build_handler_chain(handler, security=security, limiter=InflightLimiter(
        opts.max_requests_inflight, opts.max_mutating_requests_inflight))
    compactor = Compactor(storage, opts.etcd_compaction_interval)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", chain)

    async def on_startup(app: web.Application) -> None:
        await bootstrap_namespaces(registry)
        await reconciler.start()  # the kubernetes Service and this server in its endpoints, kept every 10 s
        await bootstrap_policy(registry)  # as kube-apiserver does whenever the RBAC API is served
        await bootstrap_priority_classes(registry)
        await informer.start()
        compactor.start()  # kube's compactor: the store's history kept one interval, compacted once per interval

    async def on_shutdown(app: web.Application) -> None:
        await compactor.stop()
        await reconciler.stop()
        handler.stop_watches()
        if registry.watch_cache is not None:
            await registry.watch_cache.stop()
        await informer.stop()

    async def on_cleanup(app: web.Application) -> None:
        await handler.kubelets.close()
        await storage.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
