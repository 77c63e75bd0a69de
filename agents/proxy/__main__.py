"""`raftkv-proxy` / `python -m agents.proxy`: kube-proxy for raftkv nodes (agents/proxy/README.md).

    raftkv-proxy --kubeconfig node.kubeconfig [--hostname-override NAME] [--proxy-mode iptables|userspace]
        [--cluster-cidr 10.244.0.0/16] [--nodeport-addresses 192.168.1.0/24,...] [--masquerade-all]
        [--iptables-min-sync-period 1s] [--iptables-sync-period 30s] [--netns NODE_NETNS] [--cleanup]

iptables mode programs the rules kube-proxy 1.32's iptables mode writes, with `iptables-restore --noflush`, in
--netns (a raftkv extension: `ip netns exec` for a node that is a network namespace) or the proxy's own namespace.
Without iptables (or with --proxy-mode userspace) asyncio forwarders carry the traffic; which one is said at start.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import socket
import sys

from agents.proxy import rules
from agents.proxy.iptables import IPTables
from agents.proxy.syncer import IPTablesApplier, Syncer, UserspaceApplier
from agents.proxy.userspace import Userspace
from controllers.machinery.client import RESTClient
from controllers.machinery.informer import SharedInformerFactory
from controllers.machinery.kubeconfig import KubeconfigError, load_kubeconfig
from controllers.machinery.resources import ENDPOINTSLICES, SERVICES

log = logging.getLogger("raftkv-proxy")


def duration(text: str) -> float:
    """Go durations as kube-proxy takes them ("1s", "30s", "500ms", "1m") or plain seconds."""
    t = text.strip()
    for suffix, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if t.endswith(suffix) and t[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(t[: -len(suffix)]) * mult
    try:
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raftkv-proxy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--kubeconfig", default="")
    a("--hostname-override", default="")
    a("--proxy-mode", choices=("", "iptables", "userspace"), default="",
      help="'' (default): iptables when it works here, else userspace")
    a("--cluster-cidr", default="", help="pod CIDR: traffic from outside it to a ClusterIP is masqueraded")
    a("--nodeport-addresses", default="", help="comma-separated IPs or CIDRs; default: every local address")
    a("--masquerade-all", action="store_true")
    a("--iptables-min-sync-period", type=duration, default=1.0)
    a("--iptables-sync-period", type=duration, default=30.0)
    a("--iptables-localhost-nodeports", default="true", choices=("true", "false"))
    a("--netns", default="", help="program iptables in this named network namespace (ip netns exec)")
    a("--cleanup", action="store_true", help="remove the rules this proxy made and exit")
    a("-v", "--verbose", action="store_true")
    return p


def _nodeport_ips(text: str, netns: str) -> tuple[str, ...]:
    """--nodeport-addresses as IPs: a CIDR stands for the local addresses inside it (read with `ip -o addr`)."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        return ()
    import subprocess
    cmd = (["ip", "netns", "exec", netns] if netns else []) + ["ip", "-o", "-4", "addr", "show"]
    local = [line.split()[3].split("/")[0] for line in subprocess.run(cmd, capture_output=True, text=True,
                                                                         check=False).stdout.splitlines()]
    out: list[str] = []
    for item in items:
        net = ipaddress.ip_network(item, strict=False)
        out.extend(ip for ip in local if ipaddress.ip_address(ip) in net and ip not in out)
    return tuple(out)


async def run(args: argparse.Namespace) -> int:
    ipt = IPTables(args.netns)
    if args.cleanup:
        await ipt.cleanup()
        return 0
    if not args.kubeconfig:
        print("raftkv-proxy: --kubeconfig is required", file=sys.stderr)
        return 1
    try:
        config = load_kubeconfig(args.kubeconfig)
    except KubeconfigError as e:
        print(f"raftkv-proxy: {e}", file=sys.stderr)
        return 1
    node = (args.hostname_override or socket.gethostname()).strip().lower()
    mode = args.proxy_mode
    why = await ipt.usable() if mode in ("", "iptables") else ""
    if mode == "iptables" and why:
        print(f"raftkv-proxy: --proxy-mode iptables: {why}", file=sys.stderr)
        return 1
    nodeports = _nodeport_ips(args.nodeport_addresses, args.netns)
    cfg = rules.Config(node, cluster_cidr=args.cluster_cidr, masquerade_all=args.masquerade_all,
                       nodeport_addresses=nodeports, localhost_nodeports=args.iptables_localhost_nodeports == "true")
    client = RESTClient(config, user_agent="raftkv-proxy")
    factory = SharedInformerFactory(client)
    userspace: Userspace | None = None
    if mode == "userspace" or why:
        userspace = Userspace(node, nodeports)
        apply: IPTablesApplier | UserspaceApplier = UserspaceApplier(userspace)
        print(f"Using userspace proxy on node {node}" + (f" (iptables unavailable: {why})" if why else ""),
              flush=True)
    else:
        apply = IPTablesApplier(ipt, cfg)
        print(f"Using iptables Proxier on node {node}" + (f" in netns {args.netns}" if args.netns else ""),
              flush=True)
    syncer = Syncer(factory.informer(SERVICES), factory.informer(ENDPOINTSLICES),
                    min_sync_s=args.iptables_min_sync_period, sync_period_s=args.iptables_sync_period, apply=apply)
    factory.start()
    await factory.wait_for_sync(60)
    task = asyncio.get_running_loop().create_task(syncer.run())
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    task.cancel()
    if userspace is not None:
        userspace.close()
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
