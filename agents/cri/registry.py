"""Pulling an image from an OCI distribution registry (the /v2/ API docker-registry serves): manifests (an index
is narrowed to linux/amd64), config and layer blobs checked against their digests, anonymous or with
credentials — HTTP basic, or the bearer token flow (401 with `WWW-Authenticate: Bearer realm=...,service=...`,
a token fetched from the realm with the scope `repository:<name>:pull`) — or a registry token the kubelet passed.

Blocking (urllib); the CRI server calls it in a thread. Failures carry containerd's wording, since the kubelet
puts the message into ErrImagePull events.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from agents.cri import oci
from agents.cri.imageref import Reference

ACCEPT = ", ".join([oci.MEDIA_MANIFEST, oci.MEDIA_INDEX, oci.DOCKER_MANIFEST, oci.DOCKER_MANIFEST_LIST])
TIMEOUT_S = 30.0


class PullError(Exception):
    """The reason a pull failed, after containerd's `failed to pull and unpack image "X": ` prefix."""


@dataclass
class Credentials:
    username: str = ""
    password: str = ""
    registry_token: str = ""


def _scheme(domain: str, insecure: set[str]) -> str:
    host = domain.rsplit(":", 1)[0]
    return "http" if domain in insecure or host in ("localhost", "127.0.0.1", "::1") else "https"


class _Session:
    def __init__(self, ref: Reference, creds: Credentials, insecure: set[str]) -> None:
        self.ref = ref
        self.creds = creds
        host = "registry-1.docker.io" if ref.domain == "docker.io" else ref.domain  # docker.io's API host
        self.host = host
        self.base = f"{_scheme(ref.domain, insecure)}://{host}/v2/{ref.path}"
        self.auth: str | None = f"Bearer {creds.registry_token}" if creds.registry_token else None

    def get(self, url: str, accept: str = "") -> tuple[bytes, dict[str, str]]:
        for attempt in range(2):
            req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
            if self.auth:
                req.add_header("Authorization", self.auth)
            try:
                with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                    return resp.read(), {k.lower(): v for k, v in resp.headers.items()}
            except urllib.error.HTTPError as e:
                if e.code == 401 and attempt == 0 and self._authorize(e.headers.get("WWW-Authenticate", "")):
                    continue
                raise
        raise AssertionError("unreachable")

    def _authorize(self, challenge: str) -> bool:
        scheme, _, params = challenge.partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if scheme.lower() == "basic":
            if not self.creds.username:
                return False
            raw = f"{self.creds.username}:{self.creds.password}".encode()
            self.auth = "Basic " + base64.b64encode(raw).decode()
            return True
        if scheme.lower() != "bearer" or "realm" not in fields:
            return False
        query = {"scope": fields.get("scope") or f"repository:{self.ref.path}:pull"}
        if fields.get("service"):
            query["service"] = fields["service"]
        req = urllib.request.Request(f"{fields['realm']}?{urllib.parse.urlencode(query)}")
        if self.creds.username:
            raw = f"{self.creds.username}:{self.creds.password}".encode()
            req.add_header("Authorization", "Basic " + base64.b64encode(raw).decode())
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                doc = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            kind = "oauth" if self.creds.username else "anonymous"
            raise PullError(f"failed to resolve reference \"{self.ref}\": failed to authorize: failed to fetch "
                            f"{kind} token: unexpected status: {e.code} {e.reason}") from None
        except (urllib.error.URLError, ValueError) as e:
            raise PullError(f"failed to resolve reference \"{self.ref}\": failed to authorize: {e}") from None
        token = doc.get("token") or doc.get("access_token")
        if not token:
            return False
        self.auth = f"Bearer {token}"
        return True

    def blob(self, digest: str) -> bytes:
        data, _ = self.get(f"{self.base}/blobs/{digest}")
        if oci.sha256(data) != digest:
            raise PullError(f"failed to copy: {digest}: digest mismatch")
        return data


def pull(ref: Reference, creds: Credentials, insecure: set[str] | None = None) -> oci.ArchiveImage:
    """The image `ref` names, fetched and verified."""
    s = _Session(ref, creds, insecure or set())
    name = str(ref)
    target = ref.digest or ref.tag or "latest"
    try:
        try:
            body, headers = s.get(f"{s.base}/manifests/{target}", ACCEPT)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise PullError(f"failed to resolve reference \"{name}\": {name}: not found") from None
            if e.code in (401, 403):
                raise PullError(f"failed to resolve reference \"{name}\": pull access denied, repository does not "
                                f"exist or may require authorization: authorization failed") from None
            raise PullError(f"failed to resolve reference \"{name}\": unexpected status from GET request to "
                            f"{s.base}/manifests/{target}: {e.code} {e.reason}") from None
        if ref.digest and oci.sha256(body) != ref.digest:
            raise PullError(f"failed to resolve reference \"{name}\": manifest digest mismatch")
        manifest: dict[str, Any] = json.loads(body)
        if "manifests" in manifest:
            chosen = next((m for m in manifest["manifests"]
                           if (m.get("platform") or {}).get("architecture", "amd64") == "amd64"
                           and (m.get("platform") or {}).get("os", "linux") == "linux"), None)
            if chosen is None:
                raise PullError(f"no match for platform in manifest: not found ({name})")
            body, _ = s.get(f"{s.base}/manifests/{chosen['digest']}", ACCEPT)
            if oci.sha256(body) != chosen["digest"]:
                raise PullError(f"failed to copy: {chosen['digest']}: digest mismatch")
            manifest = json.loads(body)
        config = s.blob(manifest["config"]["digest"])
        layers = [s.blob(layer["digest"]) for layer in manifest.get("layers", [])]
        media = [layer.get("mediaType", oci.MEDIA_LAYER_GZIP) for layer in manifest.get("layers", [])]
    except urllib.error.URLError as e:
        if isinstance(e.reason, socket.gaierror):
            detail = f"dial tcp: lookup {s.host.rsplit(':', 1)[0]}: no such host"
        elif isinstance(e.reason, ConnectionRefusedError):
            detail = f"dial tcp {s.host}: connect: connection refused"
        else:
            detail = str(e.reason)
        raise PullError(f"failed to resolve reference \"{name}\": failed to do request: Head "
                        f"\"{s.base}/manifests/{target}\": {detail}") from None
    except (ValueError, KeyError) as e:
        raise PullError(f"failed to resolve reference \"{name}\": invalid manifest: {e}") from None
    return oci.ArchiveImage([ref.tagged()] if ref.tag else [], body, config, layers, media)
