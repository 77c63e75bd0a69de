"""raftkv-cri's streaming URLs (what the kubelet relays kubectl exec/attach/port-forward to), as root: exec over
channel.k8s.io v4 with stdin, stdout, stderr and the exit code; port-forward over v4 channels to a port bound to
the pod's own localhost; attach sees the container's output from then on."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from agents.cri import api, logformat
from tests.conftest import wait_for

from .conftest import CRI
from .test_runtime_e2e import exited, run_pod, start, status

pytestmark = pytest.mark.e2e


async def _collect(ws: aiohttp.ClientWebSocketResponse, timeout: float = 20) -> dict[int, bytes]:
    got: dict[int, bytes] = {}
    async with asyncio.timeout(timeout):
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY and msg.data:
                got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
    return got


def test_exec_portforward_attach(cri: CRI) -> None:
    sid, cfg = run_pod(cri, "stream")
    cid = start(cri, sid, cfg, "srv", ["sh", "-c", "httpd -p 127.0.0.1:9000 -h /var/www; "
                                       "while true; do echo tick; sleep 0.2; done"])
    wait_for(lambda: cri.runtime.ExecSync(api.ExecSyncRequest(
        container_id=cid, cmd=["sh", "-c", "netstat -ltn | grep -q 127.0.0.1:9000"], timeout=5)).exit_code == 0,
        10, "httpd to listen on the pod's localhost")
    exec_url = cri.runtime.Exec(api.ExecRequest(container_id=cid, cmd=["sh", "-c", "read x; echo got $x; "
                                                                       "echo bad >&2; exit 2"],
                                                stdin=True, stdout=True, stderr=True)).url
    pf_url = cri.runtime.PortForward(api.PortForwardRequest(pod_sandbox_id=sid, port=[9000])).url
    attach_url = cri.runtime.Attach(api.AttachRequest(container_id=cid, stdout=True, stderr=True)).url
    assert exec_url.startswith("http://127.0.0.1:") and "/exec/" in exec_url

    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(exec_url, protocols=["v4.channel.k8s.io"]) as ws:
                assert ws.protocol == "v4.channel.k8s.io"
                await ws.send_bytes(b"\x00hello\n")
                got = await _collect(ws)
            assert got[1] == b"got hello\n" and got[2] == b"bad\n"
            st = json.loads(got[3])
            assert st["reason"] == "NonZeroExitCode" and st["details"]["causes"][0]["message"] == "2"

            with pytest.raises(aiohttp.WSServerHandshakeError) as err:  # a URL serves one stream only
                await s.ws_connect(exec_url, protocols=["v4.channel.k8s.io"])
            assert err.value.status == 404

            async with s.ws_connect(pf_url, protocols=["v4.channel.k8s.io"]) as ws:
                await ws.send_bytes(b"\x00GET /index.html HTTP/1.0\r\n\r\n")
                got = await _collect(ws)
            assert got[0][:2] == (9000).to_bytes(2, "little")
            assert b"200 OK" in got[0] and b"hello from busybox" in got[0]

            async with s.ws_connect(attach_url, protocols=["v4.channel.k8s.io"]) as ws:
                async with asyncio.timeout(10):
                    msg = await ws.receive()
                assert msg.data[:1] == b"\x01" and b"tick" in msg.data

    asyncio.run(main())

    # a container created with stdin (stdinOnce): attach writes into it; the session's end is its EOF
    config = api.ContainerConfig(metadata=api.ContainerMetadata(name="reader"), image=api.ImageSpec(image=cri.image),
                                 command=["sh", "-c", "while read line; do echo \"read $line\"; done; echo eof"],
                                 log_path="reader/0.log", stdin=True, stdin_once=True)
    reader = cri.runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=config)).container_id
    cri.runtime.StartContainer(api.StartContainerRequest(container_id=reader))
    url = cri.runtime.Attach(api.AttachRequest(container_id=reader, stdin=True, stdout=True)).url

    async def attach_stdin() -> dict[int, bytes]:
        async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=["v5.channel.k8s.io"]) as ws:
            await ws.send_bytes(b"\x00one\n")
            got = b""
            async with asyncio.timeout(10):
                while b"read one" not in got:
                    got += (await ws.receive()).data[1:]
            await ws.send_bytes(b"\xff\x00")  # v5: close stdin
            return await _collect(ws)

    got = asyncio.run(attach_stdin())
    assert b"eof" in got.get(1, b""), got
    s = wait_for(lambda: (x := status(cri, reader)).state == api.CONTAINER_EXITED and x, 10, "EOF to end it")
    assert s.exit_code == 0

    # tty: true — the container's stdio is a terminal; attach types into it and reads its echo
    config = api.ContainerConfig(metadata=api.ContainerMetadata(name="term"), image=api.ImageSpec(image=cri.image),
                                 command=["sh", "-c", "[ -t 0 ] && echo is-a-tty; read x; echo \"got $x\""],
                                 log_path="term/0.log", stdin=True, tty=True)
    term = cri.runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=config)).container_id
    cri.runtime.StartContainer(api.StartContainerRequest(container_id=term))
    url = cri.runtime.Attach(api.AttachRequest(container_id=term, stdin=True, stdout=True, tty=True)).url

    async def attach_tty() -> bytes:
        async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=["v4.channel.k8s.io"]) as ws:
            await ws.send_bytes(b"\x00typed\r")
            return (await _collect(ws)).get(1, b"")

    out = asyncio.run(attach_tty())
    assert b"got typed" in out, out
    s = exited(cri, term)
    with open(s.log_path, "rb") as f:
        logged = b"".join(r.content for r in map(logformat.parse, f))
    assert b"is-a-tty" in logged and s.exit_code == 0
    cri.runtime.StopContainer(api.StopContainerRequest(container_id=cid, timeout=0))
    assert status(cri, cid).state == api.CONTAINER_EXITED
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
