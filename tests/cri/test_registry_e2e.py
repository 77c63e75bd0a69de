"""PullImage from an OCI distribution registry: Debian's docker-registry (the real protocol) started on a free
loopback port with the busybox image pushed into it; and the bearer-token flow against a small stand-in that
demands a token from its realm (the real registry needs a JWT signing setup to do that)."""

from __future__ import annotations

import base64
import http.server
import json
import pathlib
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
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


def push(base: str, name: str, tag: str, token: str = "") -> str:
    """Push the busybox image with the distribution API's monolithic uploads; returns the manifest digest."""
    manifest, config, layers = _image()
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    for blob in (config, *layers):
        req = urllib.request.Request(f"{base}/v2/{name}/blobs/uploads/", method="POST", data=b"", headers=auth)
        with urllib.request.urlopen(req) as resp:
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = base + location
        sep = "&" if "?" in location else "?"
        req = urllib.request.Request(f"{location}{sep}digest={oci.sha256(blob)}", method="PUT", data=blob,
                                     headers={"Content-Type": "application/octet-stream", **auth})
        urllib.request.urlopen(req).close()
    req = urllib.request.Request(f"{base}/v2/{name}/manifests/{tag}", method="PUT", data=manifest,
                                 headers={"Content-Type": oci.MEDIA_MANIFEST, **auth})
    urllib.request.urlopen(req).close()
    return oci.sha256(manifest)


def _serve_registry(root: pathlib.Path, extra: str = "") -> tuple[subprocess.Popen[bytes], str]:
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    (root / "config.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{extra}")
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")],
                            stdout=open(root / "log", "ab"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(f"{base}/v2/")
        except urllib.error.HTTPError as e:
            return e.code == 401  # a registry with auth answers, refusing
        return True
    try:
        wait_for(up, 30, "docker-registry")
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise
    return proc, base


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, base = _serve_registry(tmp_path_factory.mktemp("registry"))
    try:
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


class _TokenServer(http.server.BaseHTTPRequestHandler):
    """A registry token service (docker's token auth): Basic user:secret buys a JWT for the asked scope, signed
    with a key whose certificate the registry trusts (rootcertbundle)."""
    key: object = None
    cert_der = b""

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        from urllib.parse import parse_qs, urlsplit

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"user:secret").decode():
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        q = parse_qs(urlsplit(self.path).query)
        access = []
        for scope in q.get("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": "raftkv-test", "sub": "user", "aud": q.get("service", [""])[0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]
        body = json.dumps({"token": f"{signing}.{b64(sig)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _signing_cert(path: pathlib.Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raftkv-test token signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _TokenServer.key = key
    _TokenServer.cert_der = cert.public_bytes(serialization.Encoding.DER)


def test_pull_with_token_auth_from_the_real_registry(cri: CRI, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("token-registry")
    _signing_cert(root / "signer.pem")
    tokens = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenServer)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    realm = f"http://127.0.0.1:{tokens.server_address[1]}/token"
    proc, base = _serve_registry(root, f"auth:\n  token:\n    realm: {realm}\n    service: test-registry\n"
                                       f"    issuer: raftkv-test\n    rootcertbundle: {root}/signer.pem\n")
    host = base.removeprefix("http://")
    ref = f"{host}/private/bb:v1"
    try:
        req = urllib.request.Request(f"{realm}?service=test-registry&scope=repository:private/bb:pull,push",
                                     headers={"Authorization": "Basic " + base64.b64encode(b"user:secret").decode()})
        with urllib.request.urlopen(req) as resp:
            push_token = json.loads(resp.read())["token"]
        digest = push(base, "private/bb", "v1", push_token)
        with pytest.raises(grpc.RpcError) as err:  # no credentials: the token service refuses
            cri.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image=ref)))
        assert "failed to fetch anonymous token: unexpected status: 401 Unauthorized" in \
            err.value.details()  # type: ignore[attr-defined]
        auth = api.AuthConfig(auth=base64.b64encode(b"user:secret").decode())  # the kubelet's docker config form
        image_id = cri.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image=ref), auth=auth)).image_ref
        img = cri.images.ImageStatus(api.ImageStatusRequest(image=api.ImageSpec(image=ref))).image
        assert img.id == image_id and list(img.repo_digests) == [f"{host}/private/bb@{digest}"]
    finally:
        cri.images.RemoveImage(api.RemoveImageRequest(image=api.ImageSpec(image=ref)))
        proc.kill()
        proc.wait(10)
        tokens.shutdown()
        tokens.server_close()
