"""`raftkv serve`: start one member — open its data, listen for clients and peers, run until stopped."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys
from typing import Any
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from raftkv import eventloop
from raftkv._pb.raftpb import raft_pb2_grpc as rpb_grpc
from raftkv.grpcwire.server import GrpcServer, server_ssl_context
from raftkv.server import learner, services
from raftkv.server.config import ConfigError, ServerConfig, parse_args, read_file
from raftkv.server.errors import to_status
from raftkv.server.http import answer, serve_metrics
from raftkv.server.join import fetch_membership
from raftkv.server.member import RaftMember, needs_discovery, peer_channel_credentials
from raftkv.server.transport import MAX_PEER_MESSAGE_BYTES, PeerService
from raftkv.snapshot import etcd_dir
from raftkv.storage.snap import SnapshotCorrupt
from raftkv.storage.wal import WALCorrupt

log = logging.getLogger("raftkv")

GRPC_OVERHEAD_BYTES = 512 * 1024
VERSIONS = (services.SERVER_VERSION, services.CLUSTER_VERSION)
DISCOVERY_DEADLINE_S = 30.0


def _server_credentials(cert: str, key: str, ca: str, require_client: bool) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(read_file(key), read_file(cert))], root_certificates=read_file(ca) if ca else None,
                                       require_client_auth=require_client)


def _add_ports(server: grpc.aio.Server, urls: list[str], creds: grpc.ServerCredentials | None, what: str) -> None:
    for url in urls:
        parts = urlsplit(url)
        addr = f"{parts.hostname}:{parts.port}"
        try:
            if parts.scheme == "https":
                if creds is None:
                    raise ConfigError(f"{what} {url} is https but no certificate is configured")
                bound = server.add_secure_port(addr, creds)
            else:
                bound = server.add_insecure_port(addr)
        except RuntimeError:  # grpc reports a port it cannot bind this way
            bound = 0
        if bound == 0:
            raise ConfigError(f"cannot listen on {what} {url}: address in use or not available")


def _client_server(cfg: ServerConfig) -> GrpcServer:
    """The client port: raftkv's own HTTP/2 gRPC server (see raftkv/grpcwire) — grpc.aio costs several times
    more CPU per call than the whole of etcd's request path."""
    server = GrpcServer(max_receive_message_length=cfg.max_request_bytes + GRPC_OVERHEAD_BYTES)
    tls = None
    for url in cfg.listen_client_urls:
        parts = urlsplit(url)
        if parts.scheme == "https":  # config.finish has checked that https comes with --cert-file/--key-file
            if tls is None:
                try:
                    tls = server_ssl_context(cfg.cert_file, cfg.key_file, cfg.trusted_ca_file, cfg.client_cert_auth)
                except (OSError, ValueError) as err:
                    raise ConfigError(f"cannot load the client certificate or key: {err}") from err
            server.add_port(parts.hostname or "", parts.port or 2379, tls)
        else:
            server.add_port(parts.hostname or "", parts.port or 2379, None)
    return server


async def run(cfg: ServerConfig) -> int:
    etcd_dir.adopt(cfg.data_dir, cfg.initial_cluster_token)  # a data dir etcd made becomes raftkv's first
    joined = None
    if needs_discovery(cfg):
        peers = [u for name, urls in cfg.initial_members().items() if name != cfg.name for u in urls]
        joined = await fetch_membership(peers, peer_channel_credentials(cfg), DISCOVERY_DEADLINE_S)
    member = RaftMember(cfg, joined)
    member.open()

    peer_creds = (_server_credentials(cfg.peer_cert_file, cfg.peer_key_file, cfg.peer_trusted_ca_file,
                                      cfg.peer_client_cert_auth) if cfg.peer_cert_file else None)
    client_server = _client_server(cfg)
    client_server.plain = functools.partial(answer, member, VERSIONS)  # /health, /metrics, /version, as etcd
    services.add_all(client_server, member)

    def learner_interceptor(method: str, request: Any, streaming: bool) -> tuple[grpc.StatusCode, str] | None:
        me = member.membership.members.get(member.id)
        refused = learner.refusal(method, request, streaming=streaming) if me is not None and me.is_learner else None
        return None if refused is None else to_status(refused)
    client_server.interceptor = learner_interceptor
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, client_server)

    peer_server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_PEER_MESSAGE_BYTES),
                                           ("grpc.so_reuseport", 0)])
    rpb_grpc.add_RaftPeerServicer_to_server(PeerService(member), peer_server)
    _add_ports(peer_server, cfg.listen_peer_urls, peer_creds, "--listen-peer-urls")

    async def set_health(lead: int) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if lead else health_pb2.HealthCheckResponse.NOT_SERVING
        await health_servicer.set("", status)

    def on_leader_change(lead: int) -> None:
        asyncio.get_running_loop().create_task(set_health(lead))

    member.on_leader_change.append(on_leader_change)
    await set_health(0)

    await peer_server.start()
    try:
        await client_server.start()
    except OSError as err:
        raise ConfigError(f"cannot listen on --listen-client-urls: {err}") from err
    metrics = [await serve_metrics(member, u, VERSIONS) for u in cfg.listen_metrics_urls]
    await member.start()
    log.info("raftkv member %s (%x) serving clients on %s, peers on %s", cfg.name, member.id,
             ",".join(cfg.listen_client_urls), ",".join(cfg.listen_peer_urls))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopped = loop.create_task(member.wait_stopped())
    stop_requested = loop.create_task(stop.wait())
    await asyncio.wait([stopped, stop_requested], return_when=asyncio.FIRST_COMPLETED)
    log.info("raftkv member %s stopping", cfg.name)
    await member.stop(transfer_leadership=stop.is_set())
    for srv in metrics:
        srv.close()
    await client_server.stop(grace=1)
    await peer_server.stop(grace=1)
    member.close()
    return 1 if member.fatal is not None else 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        cfg = parse_args(argv)
        logging.getLogger().setLevel(cfg.log_level.upper())
        return eventloop.run(run(cfg))
    except ConfigError as exc:
        print(f"raftkv serve: {exc}", file=sys.stderr)
        return 2
    except (WALCorrupt, SnapshotCorrupt) as exc:  # never start on damage the member cannot repair itself
        print(f"raftkv serve: refusing to start: {exc}; restore this member's data or remove and re-add the member",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"raftkv serve: {exc}", file=sys.stderr)
        return 1
