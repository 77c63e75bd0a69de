"""Reading and writing image tarballs: OCI image layouts and `docker save` archives (pure file-format code).

Both hold one or more images as a manifest (which names a config blob and layer blobs) plus the tags they were
saved under. `read_archive` returns them uniformly, each with its blobs' bytes reachable by digest, so the store
never cares which of the two formats it was given.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
# containerd's annotations for the full name of an image in an exported layout
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"


class ArchiveError(ValueError):
    """The tarball is not an image archive we can read; the message says which part is wrong."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class ArchiveImage:
    """One image found in an archive: its tags, manifest and config documents and its layer blobs in order."""

    names: list[str]
    manifest: bytes
    config: bytes
    layers: list[bytes]
    layer_media: list[str] = field(default_factory=list)

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise ArchiveError(f"{what} is not JSON: {e}") from None


class _Tar:
    def __init__(self, data: bytes) -> None:
        try:
            self._tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
        except tarfile.TarError as e:
            raise ArchiveError(f"not a tar archive: {e}") from None
        self._members = {m.name.lstrip("./"): m for m in self._tar.getmembers() if m.isfile()}

    def has(self, name: str) -> bool:
        return name in self._members

    def read(self, name: str) -> bytes:
        member = self._members.get(name)
        if member is None:
            raise ArchiveError(f"archive has no {name}")
        f = self._tar.extractfile(member)
        assert f is not None
        return f.read()

    def blob(self, digest: str) -> bytes:
        algo, _, hexd = digest.partition(":")
        data = self.read(f"blobs/{algo}/{hexd}")
        if sha256(data) != digest:
            raise ArchiveError(f"blob {digest} does not match its digest")
        return data


def read_archive(data: bytes, arch: str = "amd64") -> list[ArchiveImage]:
    """Every image in an OCI layout or docker-archive tarball (an OCI index is preferred when both are present)."""
    tar = _Tar(data)
    if tar.has("index.json"):
        return _read_oci(tar, arch)
    if tar.has("manifest.json"):
        return _read_docker(tar)
    raise ArchiveError("neither an OCI layout (index.json) nor a docker archive (manifest.json)")


def _read_oci(tar: _Tar, arch: str) -> list[ArchiveImage]:
    index = _json(tar.read("index.json"), "index.json")
    images = []
    for desc in index.get("manifests", []):
        names = []
        ann = desc.get("annotations") or {}
        if ann.get(ANNOTATION_IMAGE_NAME):
            names.append(ann[ANNOTATION_IMAGE_NAME])
        elif ann.get(ANNOTATION_REF_NAME):
            names.append(ann[ANNOTATION_REF_NAME])
        manifest_bytes = tar.blob(desc["digest"])
        manifest = _json(manifest_bytes, f"manifest {desc['digest']}")
        if manifest.get("mediaType", desc.get("mediaType")) in (MEDIA_INDEX, DOCKER_MANIFEST_LIST) \
                or "manifests" in manifest:
            chosen = _pick_platform(manifest.get("manifests", []), arch)
            manifest_bytes = tar.blob(chosen["digest"])
            manifest = _json(manifest_bytes, f"manifest {chosen['digest']}")
        images.append(_image(tar, names, manifest_bytes, manifest))
    if not images:
        raise ArchiveError("index.json lists no images")
    return images


def _pick_platform(manifests: list[dict[str, Any]], arch: str) -> dict[str, Any]:
    for m in manifests:
        plat = m.get("platform") or {}
        if plat.get("os", "linux") == "linux" and plat.get("architecture", arch) == arch:
            return m
    raise ArchiveError(f"no linux/{arch} image in the index")


def _image(tar: _Tar, names: list[str], manifest_bytes: bytes, manifest: dict[str, Any]) -> ArchiveImage:
    config = tar.blob(manifest["config"]["digest"])
    layers = [tar.blob(layer["digest"]) for layer in manifest.get("layers", [])]
    media = [layer.get("mediaType", MEDIA_LAYER_GZIP) for layer in manifest.get("layers", [])]
    return ArchiveImage(names, manifest_bytes, config, layers, media)


def _read_docker(tar: _Tar) -> list[ArchiveImage]:
    """`docker save` format: manifest.json names the config file and layer tars by path; make an OCI manifest."""
    entries = _json(tar.read("manifest.json"), "manifest.json")
    images = []
    for entry in entries:
        config = tar.read(entry["Config"])
        layers = [tar.read(p) for p in entry.get("Layers", [])]
        media = [MEDIA_LAYER_GZIP if layer[:2] == b"\x1f\x8b" else MEDIA_LAYER for layer in layers]
        manifest = build_manifest(config, layers, media)
        images.append(ArchiveImage(list(entry.get("RepoTags") or []), manifest, config, layers, media))
    return images


def build_manifest(config: bytes, layers: list[bytes], media: list[str]) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": m, "digest": sha256(b), "size": len(b)} for b, m in zip(layers, media, strict=True)],
    }
    return canonical(doc)


def canonical(doc: Any) -> bytes:
    """Deterministic JSON, so an image built twice from the same files has the same digests."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def layer_tar_bytes(layer: bytes) -> bytes:
    """A layer blob as an uncompressed tar (the form whose digest is the config's diff_id)."""
    return gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer


def write_archive(images: list[tuple[str, bytes, list[bytes]]]) -> bytes:
    """An OCI layout tarball that also carries docker's manifest.json, as `ctr images export` writes one.

    `images` is (name, config, gzip layers). Entries are sorted and time-stamped 0 so the tarball is reproducible.
    """
    blobs: dict[str, bytes] = {}
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []}  # type: dict[str, Any]
    docker = []
    for name, config, layers in images:
        manifest = build_manifest(config, layers, [MEDIA_LAYER_GZIP] * len(layers))
        for b in (config, manifest, *layers):
            blobs[sha256(b)] = b
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
        index["manifests"].append({
            "mediaType": MEDIA_MANIFEST, "digest": sha256(manifest), "size": len(manifest),
            "annotations": {ANNOTATION_IMAGE_NAME: name, ANNOTATION_REF_NAME: tag},
            "platform": {"architecture": "amd64", "os": "linux"},
        })
        docker.append({"Config": f"blobs/sha256/{sha256(config)[7:]}", "RepoTags": [name],
                       "Layers": [f"blobs/sha256/{sha256(b)[7:]}" for b in layers]})
    files = {"oci-layout": canonical({"imageLayoutVersion": "1.0.0"}), "index.json": canonical(index),
             "manifest.json": canonical(docker)}
    files.update({f"blobs/sha256/{d[7:]}": b for d, b in blobs.items()})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs/", "blobs/sha256/"):
            info = tarfile.TarInfo(d.rstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(files[path]), 0o644
            tar.addfile(info, io.BytesIO(files[path]))
    return out.getvalue()
