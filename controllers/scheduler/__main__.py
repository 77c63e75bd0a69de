"""`python -m controllers.scheduler` / `raftkv-scheduler`: connect, (optionally) win the kube-system/kube-scheduler
Lease, then schedule until the lease is lost (exit 1, as kube-scheduler) or SIGTERM (exit 0). /healthz, /livez,
/readyz and /metrics are served on --secure-port with a self-signed certificate (0 disables)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import uuid
from typing import Any

from aiohttp import web

from controllers.machinery.client import RESTClient
from controllers.machinery.informer import SharedInformerFactory
from controllers.machinery.kubeconfig import client_config
from controllers.machinery.leaderelection import LeaderElector
from controllers.machinery.serving import serving_ssl
from controllers.scheduler.options import SchedulerOptions, parse_options
from controllers.scheduler.scheduler import Scheduler
from raftkv import eventloop

log = logging.getLogger("scheduler")
EXIT_LEADERSHIP_LOST = 1
USER_AGENT = "kube-scheduler/v1.32.0 (linux/amd64) raftkv"


async def _serve(o: SchedulerOptions, sched: Scheduler) -> web.AppRunner | None:
    if o.secure_port == 0:
        return None

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=sched.metrics())

    app = web.Application()
    for path in ("/healthz", "/livez", "/readyz", "/healthz/leaderElection"):
        app.router.add_get(path, ok)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, o.bind_address, o.secure_port, ssl_context=serving_ssl("kube-scheduler")).start()
    log.info("Serving securely on %s:%d", o.bind_address, o.secure_port)
    return runner


async def run(o: SchedulerOptions, stop: asyncio.Event) -> int:
    cfg = client_config(o.kubeconfig, o.master)
    client = RESTClient(cfg, qps=o.kube_api_qps, burst=o.kube_api_burst, user_agent=USER_AGENT)
    event_client = RESTClient(cfg, qps=o.kube_api_qps, burst=o.kube_api_burst, user_agent=USER_AGENT)
    informers = SharedInformerFactory(client)
    sched = Scheduler(client, informers, o.config, event_client=event_client)
    runner = await _serve(o, sched)
    elector: LeaderElector | None = None

    async def lead() -> None:
        informers.start()
        await sched.run()

    if o.leader_elect:
        elector = LeaderElector(client, o.lock_namespace, o.lock_name, f"{socket.gethostname()}_{uuid.uuid4()}",
                                lease_duration=o.lease_duration, renew_deadline=o.renew_deadline,
                                retry_period=o.retry_period)
        main: asyncio.Future[Any] = asyncio.ensure_future(elector.run(lead))
    else:
        main = asyncio.ensure_future(lead())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([main, stopper], return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            main.result()
            log.error("leaderelection lost")
            return EXIT_LEADERSHIP_LOST
        return 0
    finally:
        for t in (main, stopper):
            t.cancel()
        await asyncio.gather(main, stopper, return_exceptions=True)
        await informers.stop()
        if elector is not None:
            await elector.release()
        await client.close()
        await event_client.close()
        if runner is not None:
            await runner.cleanup()


async def _main(argv: list[str]) -> int:
    o = parse_options(argv)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run(o, stop)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    o = parse_options(args)
    logging.basicConfig(level=logging.DEBUG if o.verbosity >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return eventloop.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
