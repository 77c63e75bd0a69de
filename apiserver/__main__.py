"""`python -m apiserver` with kube-apiserver's flag names."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import NoReturn

from aiohttp import web

from apiserver import flags
from apiserver.http.app import ServingOptions, build_app, server_ssl_context
from apiserver.http.kubelet_proxy import DEFAULT_ADDRESS_TYPES, KubeletClientOptions
from apiserver.http.security import AuthOptions, parse_list
from apiserver.registry import allocation
from apiserver.storage import compaction
from apiserver.storage.etcd3 import Etcd3Store
from raftkv import eventloop

SHUTDOWN_GRACE_S = 5.0  # on SIGTERM, in-flight requests get this long; open watches end at once


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(1, f"Error: {message}\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """kube-apiserver's command line: our flags, kube-apiserver's no-effect flags (apiserver/flags.py, logged at
    start), and kube's refusal of anything else (`Error: unknown flag: --x`, exit 1)."""
    p = _Parser(prog="apiserver", description="A Kubernetes API server on the etcd v3 API.", allow_abbrev=False)
    p.add_argument("--etcd-servers", required=True, help="comma-separated etcd client URLs")
    p.add_argument("--etcd-cafile", default="")
    p.add_argument("--max-requests-inflight", type=int, default=400,
                   help="read-only requests served at once (beyond: 429); 0 = unlimited")
    p.add_argument("--max-mutating-requests-inflight", type=int, default=200,
                   help="mutating requests served at once (beyond: 429); 0 = unlimited")
    p.add_argument("--etcd-prefix", default="/registry", help="the root of every key in etcd (kube-apiserver's flag)")
    p.add_argument("--etcd-certfile", default="")
    p.add_argument("--etcd-keyfile", default="")
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--advertise-address", default="",
                   help="the address listed in the kubernetes Service's endpoints (default: the bind address)")
    p.add_argument("--service-cluster-ip-range", default=allocation.DEFAULT_SERVICE_CIDR,
                   help="CIDR from which Service cluster IPs are allocated (IPv4 single-stack)")
    p.add_argument("--service-node-port-range", default=allocation.DEFAULT_NODE_PORT_RANGE,
                   help="port range reserved for NodePort Services, e.g. 30000-32767")
    p.add_argument("--secure-port", type=int, default=6443)
    p.add_argument("--tls-cert-file", required=True)
    p.add_argument("--tls-private-key-file", required=True)
    p.add_argument("--client-ca-file", default="")
    p.add_argument("--anonymous-auth", type=_bool, nargs="?", const=True, default=True,
                   help="serve requests without credentials as system:anonymous (kube-apiserver's default: true)")
    p.add_argument("--token-auth-file", default="", help='static tokens, CSV: token,user,uid,"group1,group2"')
    p.add_argument("--authorization-mode", action="append", default=[],
                   help="comma list of AlwaysAllow, AlwaysDeny, Node, RBAC (default Node,RBAC)")
    p.add_argument("--enable-admission-plugins", action="append", default=[])
    p.add_argument("--disable-admission-plugins", action="append", default=[])
    p.add_argument("--service-account-key-file", action="append", default=[],
                   help="PEM public (or private) keys that verify service account tokens; repeatable")
    p.add_argument("--service-account-signing-key-file", default="", help="PEM private key that signs tokens")
    p.add_argument("--service-account-issuer", action="append", default=[],
                   help="token issuer; the first signs, all are accepted; repeatable")
    p.add_argument("--api-audiences", action="append", default=[],
                   help="audiences a token must carry (default: the issuers)")
    p.add_argument("--watch-bookmark-interval", type=float, default=60.0,
                   help="seconds between BOOKMARK events on watches that allow them (not a kube-apiserver flag)")
    p.add_argument("--kubelet-client-certificate", default="", help="client certificate presented to kubelets")
    p.add_argument("--kubelet-client-key", default="")
    p.add_argument("--kubelet-certificate-authority", default="",
                   help="CA that kubelets' serving certificates must chain to (unverified when empty)")
    p.add_argument("--kubelet-preferred-address-types", default=",".join(DEFAULT_ADDRESS_TYPES),
                   help="node address types to reach kubelets at, in order")
    p.add_argument("--etcd-compaction-interval", default="5m0s",
                   help="how often the store's history is compacted (Go duration, default 5m0s; 0 disables)")
    p.add_argument("-v", "--v", type=int, default=0, help="log verbosity")
    implemented = {opt[2:] for action in p._actions for opt in action.option_strings if opt.startswith("--")}
    try:  # a flag implemented above is never taken for a no-effect one
        argv, accepted = flags.split_accepted(argv, implemented)
    except flags.FlagError as e:
        p.error(str(e))
    args, unknown = p.parse_known_args(argv)
    for arg in unknown:
        if arg.startswith("-"):
            p.error(f"unknown flag: {arg.split('=', 1)[0]}")
    if unknown:
        p.error(f'"raftkv-apiserver" does not take any arguments, got {unknown}')
    args.no_effect = list(dict.fromkeys(a.name for a in accepted))
    try:
        args.etcd_compaction_interval = compaction.parse_duration(args.etcd_compaction_interval)
    except ValueError as e:  # pflag's words for a bad duration
        p.error(f'invalid argument "{args.etcd_compaction_interval}" for "--etcd-compaction-interval" flag: {e}')
    try:
        allocation.IPRange.parse(args.service_cluster_ip_range)
        allocation.PortRange.parse(args.service_node_port_range)
    except ValueError as e:
        p.error(str(e))
    return args


def _read(path: str) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in args.no_effect:
        logging.getLogger("apiserver").warning(flags.no_effect_message(name))
    try:
        eventloop.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


async def serve(args: argparse.Namespace) -> None:
    """Connect to the store inside the running loop (grpc.aio channels belong to one loop), then serve."""
    storage = Etcd3Store.connect(args.etcd_servers.split(","), ca=_read(args.etcd_cafile),
                                 cert=_read(args.etcd_certfile), key=_read(args.etcd_keyfile),
                                 prefix=args.etcd_prefix)
    auth = AuthOptions(anonymous_auth=args.anonymous_auth, token_auth_file=args.token_auth_file,
                       authorization_mode=parse_list(args.authorization_mode) or ("Node", "RBAC"),
                       enable_admission_plugins=parse_list(args.enable_admission_plugins),
                       disable_admission_plugins=parse_list(args.disable_admission_plugins),
                       service_account_key_files=tuple(args.service_account_key_file),
                       service_account_signing_key_file=args.service_account_signing_key_file,
                       service_account_issuers=tuple(args.service_account_issuer),
                       api_audiences=parse_list(args.api_audiences))
    opts = ServingOptions(args.bind_address, args.secure_port, args.tls_cert_file, args.tls_private_key_file,
                          args.client_ca_file, args.watch_bookmark_interval, auth, args.max_requests_inflight,
                          args.max_mutating_requests_inflight, args.service_cluster_ip_range,
                          args.service_node_port_range, args.advertise_address,
                          KubeletClientOptions(args.kubelet_client_certificate, args.kubelet_client_key,
                                               args.kubelet_certificate_authority,
                                               parse_list([args.kubelet_preferred_address_types])),
                          args.etcd_compaction_interval)
    runner = web.AppRunner(build_app(storage, opts), shutdown_timeout=SHUTDOWN_GRACE_S,
                           access_log=logging.getLogger("apiserver.access") if args.v >= 2 else None)
    await runner.setup()
    site = web.TCPSite(runner, opts.bind_address, opts.secure_port, ssl_context=server_ssl_context(opts))
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
