"""`raftkv-simnode` / `python -m agents.simnode`: N hollow nodes through the API server (see agents/simnode/README.md).

    raftkv-simnode --kubeconfig admin.kubeconfig --nodes 1000 [--node-name-prefix simnode-] [--zones a,b,c]
        [--cpu 4 --memory 16Gi --pods 110] [--pod-start-delay 1s] [--kube-api-qps 500 --kube-api-burst 1000]
        [--control-port 0]

Stops on SIGTERM/SIGINT; SIGUSR1 stops every node's kubelet (no renewals), SIGUSR2 starts them again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import signal
import sys
from typing import Any

from aiohttp import web

from agents.simnode import lifecycle, nodes
from agents.simnode.agent import Agent, Config
from agents.simnode.client import USER_AGENT, NodeClient
from controllers.machinery.kubeconfig import KubeconfigError, load_kubeconfig

log = logging.getLogger("simnode")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def duration(text: str) -> float:
    """Go-style durations as kubelet flags take them ("10s", "5m", "1m30s", "500ms"), or plain seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--node-labels: {item!r} is not key=value")
        out[key] = value
    return out


def _taints(text: str) -> list[dict[str, str]]:
    """kubelet --register-with-taints: key=value:Effect or key:Effect, comma separated."""
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        kv, sep, effect = item.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise argparse.ArgumentTypeError(f"--register-with-taints: {item!r} is not key[=value]:Effect")
        key, _, value = kv.partition("=")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        out.append(taint)
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raftkv-simnode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--kubeconfig", required=True, help="the identity that reads pods and impersonates (or is) the nodes")
    a("--nodes", type=int, default=10, help="how many hollow nodes this process carries")
    a("--node-name-prefix", default="simnode-", help="node i is named <prefix><i>")
    a("--node-index-offset", type=int, default=0,
      help="the first node's index (names, pod CIDRs, IPs): several processes share one cluster")
    a("--node-identity", choices=("impersonate", "certs", "direct"), default="impersonate",
      help="impersonate system:node:<name> per node (default); certs: a client certificate per node from "
           "--node-certs-dir; direct: write as the kubeconfig's user (a scale-test shortcut)")
    a("--node-certs-dir", default="",
      help="with --node-identity certs: a raftkv pki directory holding the client CA (ca.crt, ca.key); node "
           "certificates are issued into it (or reused)")
    a("--cpu", default="4")
    a("--memory", default="16Gi")
    a("--pods", type=int, default=110, help="capacity.pods (kubelet --max-pods)")
    a("--ephemeral-storage", default="100Gi")
    a("--arch", default="amd64")
    a("--zones", default="", help="comma-separated topology.kubernetes.io/zone values, given round robin")
    a("--region", default="")
    a("--instance-type", default="")
    a("--node-labels", type=_pairs, default={}, help="kubelet --node-labels: k=v,k2=v2")
    a("--register-with-taints", type=_taints, default=[], help="kubelet's: key=value:Effect,...")
    a("--cluster-cidr", default="10.244.0.0/16", help="pod CIDRs: node i gets the i-th /mask of it")
    a("--node-cidr-mask-size", type=int, default=24)
    a("--node-ip-range", default="172.18.0.0/16", help="node i's InternalIP is the (i+1)-th address")
    a("--node-lease-duration-seconds", type=int, default=40, help="renewed every quarter of it (kubelet's)")
    a("--node-status-report-frequency", type=duration, default=300.0)
    a("--pod-start-delay", type=duration, default=1.0, help="ContainerCreating until Running")
    a("--job-run-time", type=duration, default=5.0, help="how long a Job's pod runs before it exits 0")
    a("--crash-after", type=duration, default=5.0, help="run time of a crash-looping container")
    a("--pod-delete-delay", type=duration, default=1.0,
      help="deletionTimestamp until the containers stop (at most the grace period)")
    a("--backoff-initial", type=duration, default=10.0)
    a("--backoff-max", type=duration, default=300.0)
    a("--kube-api-qps", type=float, default=500.0, help="for the whole process (all nodes share it)")
    a("--kube-api-burst", type=int, default=1000)
    a("--workers", type=int, default=96, help="concurrent writes (the client keeps at most 100 connections)")
    a("--events", type=_bool, nargs="?", const=True, default=True,
      help="write the kubelet's node and container Events (--events=false: none, less API load)")
    a("--control-port", type=int, default=0, help="loopback HTTP control endpoint (0: any free port; -1: none)")
    a("-v", "--verbose", action="store_true")
    return p


def config_from(args: argparse.Namespace) -> Config:
    profile = nodes.NodeProfile(cpu=args.cpu, memory=args.memory, pods=args.pods,
                                ephemeral_storage=args.ephemeral_storage, arch=args.arch, region=args.region,
                                instance_type=args.instance_type, labels=dict(args.node_labels),
                                taints=tuple(args.register_with_taints))
    timing = lifecycle.Timing(start_delay_s=args.pod_start_delay, job_run_s=args.job_run_time,
                              crash_after_s=args.crash_after, delete_delay_s=args.pod_delete_delay,
                              backoff_initial_s=args.backoff_initial, backoff_max_s=args.backoff_max)
    names = [f"{args.node_name_prefix}{args.node_index_offset + i}" for i in range(args.nodes)]
    return Config(names=names, profile=profile, timing=timing, cluster_cidr=args.cluster_cidr,
                  node_cidr_mask=args.node_cidr_mask_size, node_ip_range=args.node_ip_range,
                  index_offset=args.node_index_offset, zones=[z for z in args.zones.split(",") if z],
                  lease_duration_s=args.node_lease_duration_seconds,
                  status_report_s=args.node_status_report_frequency, workers=args.workers, events=args.events)


def control_app(agent: Agent) -> web.Application:
    """GET /healthz, GET /status (JSON summary), POST /nodes/<name>/stop|start (failure injection)."""
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok" if agent.registered.is_set() else "registering",
                            status=200 if agent.registered.is_set() else 503)

    async def status(_: web.Request) -> web.Response:
        return web.json_response(agent.summary())

    async def node_action(request: web.Request) -> web.Response:
        name, action = request.match_info["name"], request.match_info["action"]
        ok = agent.stop_node(name) if action == "stop" else agent.start_node(name)
        if not ok:
            return web.json_response({"error": f"no node {name!r} here"}, status=404)
        return web.json_response({"node": name, "alive": agent.nodes[name].alive})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status)
    app.router.add_post(r"/nodes/{name}/{action:stop|start}", node_action)
    return app


async def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_kubeconfig(args.kubeconfig)
    except KubeconfigError as e:
        print(f"raftkv-simnode: {e}", file=sys.stderr)
        return 2
    client = NodeClient(cfg, qps=args.kube_api_qps, burst=args.kube_api_burst, user_agent=USER_AGENT)
    client.impersonate = args.node_identity == "impersonate"
    if args.node_identity == "certs":
        if not args.node_certs_dir:
            print("raftkv-simnode: --node-identity certs needs --node-certs-dir", file=sys.stderr)
            return 2
        client.node_certs_dir = args.node_certs_dir
    agent = Agent(client, config_from(args))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: [agent.stop_node(n) for n in agent.nodes])
    loop.add_signal_handler(signal.SIGUSR2, lambda: [agent.start_node(n) for n in agent.nodes])
    runner: web.AppRunner | None = None
    if args.control_port >= 0:
        runner = web.AppRunner(control_app(agent), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.control_port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("simnode: control endpoint http://127.0.0.1:%d", port)
    starting = asyncio.create_task(agent.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done() and starting.exception() is not None:
        log.error("simnode: start failed: %r", starting.exception())
        stop.set()
    await stopping
    starting.cancel()
    log.info("simnode: stopping; %s", json.dumps(agent.summary()))
    await agent.stop()
    if runner is not None:
        await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # uvloop is a dependency; plain asyncio also works
        pass
    result: Any = asyncio.run(run(args))
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
