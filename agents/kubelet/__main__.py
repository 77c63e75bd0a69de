"""raftkv-kubelet: the node agent (see agents/kubelet/kubelet.py)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from typing import Any

from agents.cri.client import RuntimeClient
from agents.kubelet.config import load
from agents.kubelet.kubelet import Kubelet
from controllers.machinery.client import RESTClient
from controllers.machinery.kubeconfig import KubeconfigError, load_kubeconfig

log = logging.getLogger("kubelet")


async def _serve(argv: list[str] | None) -> int:
    cfg, ns = load(argv)
    try:
        client_cfg = load_kubeconfig(cfg.kubeconfig)
    except (KubeconfigError, OSError) as e:
        print(f"raftkv-kubelet: --kubeconfig {cfg.kubeconfig}: {e}", file=sys.stderr)
        return 1
    client = RESTClient(client_cfg, qps=50, burst=100, user_agent=f"kubelet/v1.32.0 ({cfg.node_name})")
    runtime = RuntimeClient(cfg.container_runtime_endpoint)
    kubelet = Kubelet(cfg, client, runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    streaming = None
    try:
        await kubelet.start()
        streaming = await _start_streaming(kubelet)
        log.info("kubelet %s ready (runtime %s)", kubelet.name, cfg.container_runtime_endpoint)
        print(f"kubelet {kubelet.name} ready", flush=True)
        await stop.wait()
    finally:
        if streaming is not None:
            with contextlib.suppress(Exception):
                await streaming.stop()
        await kubelet.stop()
        await runtime.close()
        await client.close()
    return 0


async def _start_streaming(kubelet: Kubelet) -> Any:
    """The HTTPS server on --port (logs/exec/attach/portForward) lives in agents/kubelet/streaming.py, owned by
    the streaming work; it is started when present: `await streaming.start(kubelet)` returning an object
    with `async stop()`."""
    try:
        mod = importlib.import_module("agents.kubelet.streaming")
    except ImportError:
        return None
    start = getattr(mod, "start", None)
    if start is None:
        return None
    try:
        return await start(kubelet)
    except Exception as e:
        log.warning("streaming server not started: %s", e)
        return None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    verbose = any(a.startswith(("-v=", "--v=")) and a.split("=", 1)[1] not in ("0", "") for a in args)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s")
    sys.exit(asyncio.run(_serve(args)))


if __name__ == "__main__":
    main()
