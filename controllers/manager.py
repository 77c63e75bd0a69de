"""The controller manager: connect, (optionally) win the leader lease, build the enabled controllers, start the
shared informers, run every controller; exit when the lease is lost, as kube-controller-manager does.

Controllers are imported lazily from `controllers.registry`: one that is enabled by '*' but not built yet (its
module does not exist) is logged and skipped; one named explicitly in --controllers must exist, or the manager
stops with that name in the error.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from controllers.credentials import ServiceAccountTokenSource
from controllers.machinery import kubeconfig
from controllers.machinery.client import USER_AGENT, RESTClient
from controllers.machinery.controller import Controller, ControllerContext
from controllers.machinery.informer import SharedInformerFactory
from controllers.machinery.kubeconfig import ClientConfig
from controllers.machinery.leaderelection import LeaderElector
from controllers.machinery.serving import serving_ssl
from controllers.options import SERVICE_ACCOUNTS, ControllerManagerOptions
from controllers.registry import CONTROLLERS

log = logging.getLogger("controller-manager")

EXIT_LEADERSHIP_LOST = 1
LEADER_HEALTH_TIMEOUT_S = 20.0


class ControllerStartError(RuntimeError):
    """An explicitly requested controller cannot be built."""


def load_constructor(name: str, target: str) -> Callable[[ControllerContext], Controller] | None:
    """The `new_controller` function of registry entry `name`, or None when its module does not exist yet."""
    module_name, _, func = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name or module_name.startswith(e.name + ".")):
            return None
        raise
    fn = getattr(module, func, None)
    if fn is None:
        return None
    return fn  # type: ignore[no-any-return]


def leader_identity() -> str:
    """kube-controller-manager's lock identity: `<hostname>_<uuid>`."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass
class Manager:
    options: ControllerManagerOptions
    config: ClientConfig
    root: RESTClient = field(init=False)
    informers: SharedInformerFactory = field(init=False)
    controllers: dict[str, Controller] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    identity: str = field(default_factory=leader_identity)
    elector: LeaderElector | None = None
    _clients: list[RESTClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        o = self.options
        self.root = RESTClient(self.config, qps=o.kube_api_qps, burst=o.kube_api_burst,
                               user_agent=f"{USER_AGENT}/shared-informers")
        self.informers = SharedInformerFactory(self.root)

    def client_for(self, name: str) -> RESTClient:
        """The client controller `name` uses: its service account, or the manager's own credentials."""
        o = self.options
        sa = SERVICE_ACCOUNTS.get(name, f"{name}-controller")
        if o.use_service_account_credentials:
            client = self.root.with_identity(ServiceAccountTokenSource(self.root, sa), f"{USER_AGENT}/{sa}",
                                             o.kube_api_qps, o.kube_api_burst)
        else:
            client = RESTClient(self.config, qps=o.kube_api_qps, burst=o.kube_api_burst,
                                user_agent=f"{USER_AGENT}/{sa}")
        self._clients.append(client)
        return client

    def build_controllers(self) -> None:
        sel = self.options.controllers
        for name, target in CONTROLLERS.items():
            if not sel.is_enabled(name):
                log.info("Warning: controller is disabled: %s", name)
                continue
            ctor = load_constructor(name, target)
            if ctor is None:
                if sel.explicit(name):
                    raise ControllerStartError(f"controller {name} is not built yet ({target} does not exist)")
                log.info("controller %s is not built yet; skipping", name)
                self.skipped.append(name)
                continue
            ctx = ControllerContext(client=self.client_for(name), informers=self.informers, options=self.options,
                                    name=name)
            self.controllers[name] = ctor(ctx)
            log.info("Started controller %s", name)

    async def run_controllers(self) -> None:
        """Build, start informers, run each controller with its --concurrent-*-syncs workers."""
        self.build_controllers()
        self.informers.start()
        tasks = [asyncio.ensure_future(c.run(self.options.workers(name)))
                 for name, c in self.controllers.items()]
        if not tasks:
            await asyncio.Event().wait()  # nothing to run; keep the lease (as an idle kube-controller-manager)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            await asyncio.Event().wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self) -> int:
        o = self.options
        if not o.leader_elect:
            await self.run_controllers()
            return 0
        self.elector = LeaderElector(self.root, o.leader_elect_resource_namespace, o.leader_elect_resource_name,
                                     self.identity, lease_duration=o.leader_elect_lease_duration,
                                     renew_deadline=o.leader_elect_renew_deadline,
                                     retry_period=o.leader_elect_retry_period)
        await self.elector.run(self.run_controllers)
        log.error("leaderelection lost")
        return EXIT_LEADERSHIP_LOST

    def metrics(self) -> str:
        """Prometheus text: client requests by verb (all identities), cached objects per resource, queue depths —
        a few of kube-controller-manager's /metrics series, for benchmarks and debugging."""
        verbs: dict[str, int] = {}
        for client in [self.root, *self._clients]:
            for verb, n in client.requests.items():
                verbs[verb] = verbs.get(verb, 0) + n
        lines = ["# TYPE rest_client_requests_total counter"]
        lines += [f'rest_client_requests_total{{verb="{v}"}} {n}' for v, n in sorted(verbs.items())]
        lines.append("# TYPE informer_cached_objects gauge")
        lines += [f'informer_cached_objects{{resource="{inf.resource.plural}"}} {len(inf.store)}'
                  for inf in self.informers.informers()]
        lines.append("# TYPE workqueue_depth gauge")
        lines += [f'workqueue_depth{{name="{name}"}} {len(c.queue)}' for name, c in self.controllers.items()]
        lines.append("# TYPE workqueue_work_duration_seconds summary")
        for name, c in self.controllers.items():
            lines.append(f'workqueue_work_duration_seconds_sum{{name="{name}"}} {c.sync_seconds:.6f}')
            lines.append(f'workqueue_work_duration_seconds_count{{name="{name}"}} {c.syncs}')
        lines.append("# TYPE workqueue_retries_total counter")
        lines += [f'workqueue_retries_total{{name="{name}"}} {c.sync_errors}' for name, c in self.controllers.items()]
        return "\n".join(lines) + "\n"

    async def close(self, release: bool = True) -> None:
        await self.informers.stop()
        for c in self.controllers.values():
            c.queue.shut_down()
            await c.ctx.close()
        if release and self.elector is not None:  # release() checks that we hold it
            await self.elector.release()
        for client in [self.root, *self._clients]:
            await client.close()


# -------------------------------------------------------------------- /healthz
async def serve_health(o: ControllerManagerOptions, manager: Manager) -> web.AppRunner | None:
    if o.secure_port == 0:
        return None

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def healthz(_: web.Request) -> web.Response:
        # client-go's leader election health adaptor: unhealthy only while leading without a renewal for longer
        # than the lease duration plus 20 s (a wedged leader); a waiting candidate is healthy.
        e = manager.elector
        if e is not None and e.leading and e.clock() - e.observed_at > e.lease_duration + LEADER_HEALTH_TIMEOUT_S:
            return web.Response(status=500, text="[-]leaderElection failed: the lease has not been renewed\n")
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=manager.metrics())

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/healthz/leaderElection", healthz)
    for path in ("/livez", "/readyz"):
        app.router.add_get(path, ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, o.bind_address, o.secure_port, ssl_context=serving_ssl(
        "kube-controller-manager", o.tls_cert_file, o.tls_private_key_file)).start()
    log.info("Serving securely on %s:%d", o.bind_address, o.secure_port)
    return runner


def client_config(o: ControllerManagerOptions) -> ClientConfig:
    return kubeconfig.client_config(o.kubeconfig, o.master)


async def run(o: ControllerManagerOptions, stop: asyncio.Event | None = None) -> int:
    """Run until the lease is lost (1), `stop` is set (0), or an explicit controller cannot start (2)."""
    manager = Manager(o, client_config(o))
    runner = await serve_health(o, manager)
    main = asyncio.ensure_future(manager.run())
    waiters: list[asyncio.Future[Any]] = [main]
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            return main.result()
        log.info("shutting down")
        return 0
    except ControllerStartError as e:
        log.error("%s", e)
        return 2
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        await manager.close(release=True)
        if runner is not None:
            await runner.cleanup()
