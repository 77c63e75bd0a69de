"""raftkv-kubelet: the node agent (see agents/kubelet/kubelet.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from agents.cri.client import RuntimeClient
from agents.kubelet import selfsigned
from agents.kubelet.config import load
from agents.kubelet.kubelet import Kubelet
from agents.kubelet.server import AlwaysAllow, KubeletServer, WebhookAuthorizer, server_ssl_context
from agents.kubelet.streamhost import KubeletStreamingHost
from controllers.machinery.client import RESTClient
from controllers.machinery.kubeconfig import KubeconfigError, load_kubeconfig
from controllers.machinery.resources import Resource

log = logging.getLogger("kubelet")
SUBJECT_ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview",
                                  namespaced=False)


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
        streaming = await _start_streaming(kubelet, client)
        log.info("kubelet %s ready (runtime %s)", kubelet.name, cfg.container_runtime_endpoint)
        print(f"kubelet {kubelet.name} ready", flush=True)
        await stop.wait()
    finally:
        if streaming is not None:
            with contextlib.suppress(Exception):
                await streaming.cleanup()
        await kubelet.stop()
        await runtime.close()
        await client.close()
    return 0


async def _start_streaming(kubelet: Kubelet, client: RESTClient) -> Any:
    """The HTTPS server on --port (/containerLogs, /exec, /attach, /portForward; agents/kubelet/server.py)
    over this kubelet's pods: the API server's client certificate checked against --client-ca-file, requests
    authorized by SubjectAccessReview (Webhook) or not at all (AlwaysAllow)."""
    cfg = kubelet.cfg
    cert, key = cfg.tls_cert_file, cfg.tls_private_key_file
    if not (cert and key):
        cert, key = selfsigned.ensure(cfg.root_dir, kubelet.name, cfg.node_ip)
    authorizer: Any = AlwaysAllow()
    if cfg.authorization_mode == "Webhook":
        async def review(body: dict[str, Any]) -> dict[str, Any]:
            return await client.create(SUBJECT_ACCESS_REVIEWS, None, body)  # type: ignore[no-any-return]
        authorizer = WebhookAuthorizer(create=review)
    server = KubeletServer(KubeletStreamingHost(kubelet), kubelet.name, authorizer, anonymous=cfg.anonymous_auth)
    return await server.start(cfg.address, cfg.port, server_ssl_context(cert, key, cfg.client_ca_file))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    verbose = any(a.startswith(("-v=", "--v=")) and a.split("=", 1)[1] not in ("0", "") for a in args)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s")
    sys.exit(asyncio.run(_serve(args)))


if __name__ == "__main__":
    main()
