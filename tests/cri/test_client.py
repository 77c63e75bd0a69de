"""The CRI client against a stub runtime.v1 server on a unix socket: messages cross unchanged and gRPC errors
arrive as CRIError with the code and the message the kubelet prints ("rpc error: code = NotFound desc = ...")."""

from __future__ import annotations

import asyncio
import pathlib

import grpc
import grpc.aio
import pytest

from agents.cri import api
from agents.cri.client import CRIError, RuntimeClient, channel_target
from raftkv._pb.runtime.v1 import api_pb2_grpc

pytestmark = pytest.mark.unit


class _Stub(api_pb2_grpc.RuntimeServiceServicer):
    async def Version(self, request, context):  # type: ignore[no-untyped-def]
        return api.VersionResponse(version=request.version, runtime_name="stub", runtime_api_version="v1")

    async def ContainerStatus(self, request, context):  # type: ignore[no-untyped-def]
        await context.abort(grpc.StatusCode.NOT_FOUND, f'an error occurred when try to find container "{request.container_id}": not found')


def test_channel_target() -> None:
    assert channel_target("unix:///run/raftkv/cri.sock") == "unix:/run/raftkv/cri.sock"
    assert channel_target("/run/x.sock") == "unix:/run/x.sock"


def test_round_trip_and_errors(tmp_path: pathlib.Path) -> None:
    async def main() -> None:
        sock = tmp_path / "cri.sock"
        server = grpc.aio.server()
        api_pb2_grpc.add_RuntimeServiceServicer_to_server(_Stub(), server)
        server.add_insecure_port(f"unix:{sock}")
        await server.start()
        try:
            async with RuntimeClient(f"unix://{sock}", timeout=5) as cri:
                v = await cri.Version(api.VersionRequest(version="v1"))
                assert (v.version, v.runtime_name) == ("v1", "stub")
                with pytest.raises(CRIError) as err:
                    await cri.ContainerStatus(api.ContainerStatusRequest(container_id="abc"))
                assert err.value.not_found
                assert str(err.value).startswith('rpc error: code = NotFound desc = an error occurred when try')
                with pytest.raises(CRIError) as err:
                    await cri.ListImages(api.ListImagesRequest())
                assert err.value.code == grpc.StatusCode.UNIMPLEMENTED
        finally:
            await server.stop(None)

    asyncio.run(main())
