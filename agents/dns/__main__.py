"""`raftkv-dns` / `python -m agents.dns`: cluster DNS for raftkv (agents/dns/README.md).

    raftkv-dns --kubeconfig admin.kubeconfig [--bind-address 0.0.0.0] [--port 53] [--cluster-domain cluster.local]
        [--dns-service-ip 10.0.0.10] [--register-service=true] [--advertise-address IP]
        [--resolv-conf /etc/resolv.conf] [--forward-timeout 2]

Answers the cluster zone from Services and EndpointSlices (informers), forwards other names to the upstreams of
--resolv-conf. Prints `listening on HOST:PORT` once both listeners are up. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time

from agents.dns import netns, register, server
from agents.dns.records import Index, build
from agents.dns.resolver import Settings
from controllers.machinery.client import RESTClient
from controllers.machinery.informer import SharedInformerFactory
from controllers.machinery.kubeconfig import KubeconfigError, load_kubeconfig
from controllers.machinery.resources import ENDPOINTSLICES, SERVICES

log = logging.getLogger("raftkv-dns")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raftkv-dns", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--kubeconfig", required=True)
    a("--bind-address", default="0.0.0.0")
    a("--port", type=int, default=53, help="UDP and TCP (0: any free port)")
    a("--cluster-domain", default="cluster.local")
    a("--ttl", type=int, default=5, help="the kubernetes plugin's ttl")
    a("--dns-service-ip", default="10.0.0.10", help="the kube-dns Service's ClusterIP")
    a("--register-service", type=_bool, nargs="?", const=True, default=True,
      help="create/update kube-system/kube-dns and its Endpoints/EndpointSlice pointing here")
    a("--advertise-address", default="", help="the address in kube-dns's endpoints (default: --bind-address, "
                                             "or 127.0.0.1 when that is 0.0.0.0)")
    a("--resolv-conf", default="/etc/resolv.conf", help="upstream nameservers for names outside the zone")
    a("--forward-timeout", type=float, default=2.0)
    a("--netns", default="", help="listen inside this named network namespace (a node that is a netns); the API "
                                 "client and the forwarder stay in the process's own")
    a("-v", "--verbose", action="store_true")
    return p


class Cache:
    """The informers' objects, indexed again on first use after a change (never per query)."""

    def __init__(self, factory: SharedInformerFactory) -> None:
        self.services = factory.informer(SERVICES)
        self.slices = factory.informer(ENDPOINTSLICES)
        self._index = Index()
        self._dirty = True
        self.serial = int(time.time())
        for inf in (self.services, self.slices):
            inf.add_handlers(lambda o: self._touch(), lambda o, n: self._touch(), lambda o: self._touch())

    def _touch(self) -> None:
        self._dirty = True
        self.serial = int(time.time())

    def index(self) -> Index:
        if self._dirty:
            self._dirty = False
            self._index = build(self.services.store.list(), self.slices.store.list())
        return self._index


async def run(args: argparse.Namespace) -> int:
    try:
        config = load_kubeconfig(args.kubeconfig)
    except KubeconfigError as e:
        print(f"raftkv-dns: {e}", file=sys.stderr)
        return 1
    client = RESTClient(config, user_agent="raftkv-dns")
    factory = SharedInformerFactory(client)
    cache = Cache(factory)
    try:
        with open(args.resolv_conf) as f:
            resolv = f.read()
    except OSError as e:
        log.warning("no upstreams: %s", e)
        resolv = ""
    upstreams = server.upstreams_from_resolv_conf(resolv, {args.bind_address, args.dns_service_ip})
    settings = Settings(zone=args.cluster_domain.rstrip(".") + ".", ttl=args.ttl, dns_ip=args.dns_service_ip)
    handler = server.Handler(cache.index, settings, lambda: cache.serial, upstreams, args.forward_timeout)
    factory.start()
    if not await factory.wait_for_sync(60):
        log.warning("informers not synced after 60 s; serving what is cached")
    if args.netns:
        udp_sock, tcp_sock = netns.bind_in_netns(args.netns, args.bind_address, args.port)
        listeners = await server.listen_on(handler, udp_sock, tcp_sock)
    else:
        listeners = await server.listen(handler, args.bind_address, args.port)
    print(f"listening on {args.bind_address}:{listeners.port} (upstreams: {' '.join(upstreams) or 'none'})",
          flush=True)
    if args.register_service:
        ip = args.advertise_address or ("127.0.0.1" if args.bind_address in ("0.0.0.0", "::") else args.bind_address)
        try:
            await register.register(client, args.dns_service_ip, ip, listeners.port)
        except Exception as e:  # noqa: BLE001 - serving DNS matters more than the registration
            log.error("registration failed: %s", e)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    listeners.close()
    await factory.stop()
    await client.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
