"""The ceiling for any Python etcd server on this machine: a do-nothing grpc.aio KV server.

It answers Put and Range from a dict (no Raft, no disk, no MVCC) over the same mutual TLS and the
same event loop (uvloop) as raftkv. `bench_vs_etcd.py --floor` runs the same load against it, so the
report shows how much of etcd's speed grpc-python alone leaves to reach.

usage: bench_floor_server.py PORT PKI_DIR
"""

from __future__ import annotations

import asyncio
import pathlib
import sys

import grpc
import uvloop

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from raftkv._pb.etcdserverpb import rpc_pb2 as pb  # noqa: E402
from raftkv._pb.etcdserverpb import rpc_pb2_grpc as pb_grpc  # noqa: E402


class DictKV(pb_grpc.KVServicer):
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.rev = 1

    async def Put(self, request: pb.PutRequest, context: grpc.aio.ServicerContext) -> pb.PutResponse:
        self.rev += 1
        self.data[request.key] = request.value
        resp = pb.PutResponse()
        resp.header.revision = self.rev
        return resp

    async def Range(self, request: pb.RangeRequest, context: grpc.aio.ServicerContext) -> pb.RangeResponse:
        resp = pb.RangeResponse()
        resp.header.revision = self.rev
        value = self.data.get(request.key)
        if value is not None:
            resp.kvs.add(key=request.key, value=value)
            resp.count = 1
        return resp


class OneMember(pb_grpc.MaintenanceServicer):
    async def Status(self, request: pb.StatusRequest, context: grpc.aio.ServicerContext) -> pb.StatusResponse:
        resp = pb.StatusResponse(leader=1)
        resp.header.member_id = 1
        return resp


async def serve(port: int, pki: pathlib.Path, wire: str) -> None:
    if wire == "grpcwire":
        from raftkv.grpcwire.server import GrpcServer, server_ssl_context
        own = GrpcServer()
        pb_grpc.add_KVServicer_to_server(DictKV(), own)
        pb_grpc.add_MaintenanceServicer_to_server(OneMember(), own)
        own.add_port("127.0.0.1", port, server_ssl_context(str(pki / "server.crt"), str(pki / "server.key"),
                                                           str(pki / "ca.crt"), True))
        await own.start()
        await asyncio.Event().wait()
    server = grpc.aio.server()
    pb_grpc.add_KVServicer_to_server(DictKV(), server)
    pb_grpc.add_MaintenanceServicer_to_server(OneMember(), server)
    creds = grpc.ssl_server_credentials([((pki / "server.key").read_bytes(), (pki / "server.crt").read_bytes())],
                                        (pki / "ca.crt").read_bytes(), require_client_auth=True)
    server.add_secure_port(f"127.0.0.1:{port}", creds)
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "grpc"))
