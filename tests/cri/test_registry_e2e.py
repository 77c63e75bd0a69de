"""PullImage from an OCI distribution registry: Debian's docker-registry (the real protocol) started on a free
loopback port with the busybox image pushed into it; and the bearer-token flow against a small stand-in that
demands a token from its realm (the real registry needs a JWT signing setup to do that)."""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator

import grpc
import pytest

from agents.cri import api, busybox, oci
from tests.conftest import free_port, wait_for

from .conftest import CRI
from .test_runtime_e2e import exited, run_pod

pytestmark = pytest.mark.e2e


def _image() -> tuple[bytes, bytes, list[bytes]]:
    """(manifest, config, layers) of the busybox image."""
    _, tarball = busybox.build()
    (img,) = oci.read_archive(tarball)
    return img.manifest, img.config, img.layers


def push(base: str, name: str, tag: str) -> str:
    """Push the busybox image with the distribution API's monolithic uploads; returns the manifest digest."""
    manifest, config, layers = _image()
    for blob in (config, *layers):
        req = urllib.request.Request(f"{base}/v2/{name}/blobs/uploads/", method="POST", data=b"")
        with urllib.request.urlopen(req) as resp:
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = base + location
        sep = "&" if "?" in location else "?"
        req = urllib.request.Request(f"{location}{sep}digest={oci.sha256(blob)}", method="PUT", data=blob,
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req).close()
    req = urllib.request.Request(f"{base}/v2/{name}/manifests/{tag}", method="PUT", data=manifest,
                                 headers={"Content-Type": oci.MEDIA_MANIFEST})
    urllib.request.urlopen(req).close()
    return oci.sha256(manifest)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    (root / "config.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")],
                            stdout=open(root / "log", "ab"), stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: urllib.request.urlopen(f"{base}/v2/").status == 200, 30, "docker-registry")
        yield base
    finally:
        proc.kill()
        proc.wait(10)


def test_pull_from_registry_and_run(cri: CRI, registry: str) -> None:
    host = registry.removeprefix("http://")
    digest = push(registry, "tools/bb", "v1")
    ref = f"{host}/tools/bb:v1"
    image_id = cri.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image=ref))).image_ref
    img = cri.images.ImageStatus(api.ImageStatusRequest(image=api.ImageSpec(image=ref))).image
    assert img.id == image_id and ref in img.repo_tags
    assert list(img.repo_digests) == [f"{host}/tools/bb@{digest}"]
    sid, cfg = run_pod(cri, "pulled")
    config = api.ContainerConfig(metadata=api.ContainerMetadata(name="c"), image=api.ImageSpec(image=ref),
                                 command=["sh", "-c", "echo from the registry"], log_path="c/0.log")
    cid = cri.runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=config)).container_id
    cri.runtime.StartContainer(api.StartContainerRequest(container_id=cid))
    s = exited(cri, cid)
    assert s.exit_code == 0 and s.image_ref == f"{host}/tools/bb@{digest}"
    with pytest.raises(grpc.RpcError) as err:
        cri.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image=f"{host}/tools/bb:nosuch")))
    assert err.value.details() == (  # type: ignore[attr-defined]
        f'failed to pull and unpack image "{host}/tools/bb:nosuch": failed to resolve reference '
        f'"{host}/tools/bb:nosuch": {host}/tools/bb:nosuch: not found')
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
    cri.images.RemoveImage(api.RemoveImageRequest(image=api.ImageSpec(image=ref)))
    assert not cri.images.ImageStatus(api.ImageStatusRequest(image=api.ImageSpec(image=ref))).HasField("image")


class _TokenRegistry(http.server.BaseHTTPRequestHandler):
    """/v2/ answers 401 with a Bearer challenge unless the token from /token (given for user:secret) is sent."""
    blobs: dict[str, bytes] = {}
    manifest = b""
    token_requests: list[str] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        port = self.server.server_address[1]
        if self.path.startswith("/token"):
            self.token_requests.append(self.path)
            ok = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"user:secret").decode()
            self._reply(200 if ok else 401, json.dumps({"token": "t0k3n"}).encode() if ok else b"{}")
            return
        if self.headers.get("Authorization") != "Bearer t0k3n":
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{port}/token",'
                                                 f'service="stand-in",scope="repository:private/bb:pull"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.endswith("/manifests/v1"):
            self._reply(200, self.manifest, oci.MEDIA_MANIFEST)
        elif "/blobs/" in self.path and self.path.rsplit("/", 1)[1] in self.blobs:
            self._reply(200, self.blobs[self.path.rsplit("/", 1)[1]])
        else:
            self._reply(404, b"{}")

    def _reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_bearer_token_flow(cri: CRI) -> None:
    manifest, config, layers = _image()
    _TokenRegistry.manifest = manifest
    _TokenRegistry.blobs = {oci.sha256(b): b for b in (config, *layers)}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ref = f"127.0.0.1:{server.server_address[1]}/private/bb:v1"
    try:
        with pytest.raises(grpc.RpcError) as err:  # anonymous: the realm refuses a token
            cri.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image=ref)))
        assert err.value.details() == (  # type: ignore[attr-defined]
            f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": failed to authorize: '
            'failed to fetch anonymous token: unexpected status: 401 Unauthorized')
        auth = api.AuthConfig(username="user", password="secret")
        image_id = cri.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image=ref), auth=auth)).image_ref
        assert image_id == oci.sha256(config)
        assert "scope=repository%3Aprivate%2Fbb%3Apull" in _TokenRegistry.token_requests[-1]
        assert "service=stand-in" in _TokenRegistry.token_requests[-1]
    finally:
        server.shutdown()
        server.server_close()
        cri.images.RemoveImage(api.RemoveImageRequest(image=api.ImageSpec(image=ref)))
