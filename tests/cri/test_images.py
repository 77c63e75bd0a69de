"""Image references, archive formats, whiteouts and the store, without root: what `raftkv images` and the CRI
ImageService rely on to name and find images as containerd does."""

from __future__ import annotations

import io
import json
import os
import pathlib
import shutil
import tarfile

import pytest

from agents.cri import busybox, imageref, oci
from agents.cri.images import ImageNotFound, ImageStore
from agents.cri.unpack import apply_layer

pytestmark = pytest.mark.unit

needs_busybox = pytest.mark.skipif(not shutil.which("busybox") and not os.path.exists(busybox.BUSYBOX),
                                   reason="busybox-static is not installed (apt-get install busybox-static)")


@pytest.mark.parametrize(("ref", "normalized"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("someone/app:v2", "docker.io/someone/app:v2"),
    ("localhost/busybox", "localhost/busybox:latest"),
    ("localhost:5000/a/b:c", "localhost:5000/a/b:c"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ("x@sha256:" + "a" * 64, "docker.io/library/x@sha256:" + "a" * 64),
])
def test_reference_normalization(ref: str, normalized: str) -> None:
    assert str(imageref.parse(ref)) == normalized


@pytest.mark.parametrize("ref", ["", "UPPER/case", "a b", "x@sha256:zz", "bad:tag!"])
def test_invalid_references(ref: str) -> None:
    with pytest.raises(imageref.InvalidReference):
        imageref.parse(ref)


def _tar(entries: list[tuple[str, bytes | None, str]]) -> bytes:
    """(name, data or None for a directory, symlink target) entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_whiteouts(tmp_path: pathlib.Path) -> None:
    root = str(tmp_path)
    apply_layer(root, _tar([("a", None, ""), ("a/keep", b"1", ""), ("a/gone", b"2", ""),
                            ("b", None, ""), ("b/old", b"3", ""), ("c", b"4", "")]))
    apply_layer(root, _tar([("a/.wh.gone", b"", ""), ("b/.wh..wh..opq", b"", ""), ("b/new", b"5", ""),
                            (".wh.c", b"", "")]))
    assert sorted(os.listdir(tmp_path / "a")) == ["keep"]
    assert sorted(os.listdir(tmp_path / "b")) == ["new"]
    assert not (tmp_path / "c").exists()


def test_layer_cannot_write_outside_rootfs(tmp_path: pathlib.Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises((ValueError, tarfile.TarError)):
        apply_layer(str(rootfs), _tar([("esc", None, str(outside)), ("esc/pwned", b"x", "")]))
    assert not (outside / "pwned").exists()


def _docker_archive(tag: str) -> bytes:
    layer = _tar([("hello", b"world", "")])
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello"]},
                         "rootfs": {"type": "layers", "diff_ids": [oci.sha256(layer)]}}).encode()
    cfg_name = oci.sha256(config)[7:] + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": ["l1/layer.tar"]}]).encode()
    return _tar([("manifest.json", manifest, ""), (cfg_name, config, ""), ("l1", None, ""),
                 ("l1/layer.tar", layer, "")])


def test_docker_archive_import_and_lookup(tmp_path: pathlib.Path) -> None:
    store = ImageStore(str(tmp_path))
    (img,) = store.import_archive(_docker_archive("example.com/app:v1"))
    assert img.repo_tags == ["example.com/app:v1"]
    assert img.repo_digests == [f"example.com/app@{img.manifest_digest}"]
    assert (pathlib.Path(store.rootfs(img.id)) / "hello").read_text() == "world"
    for ref in ("example.com/app:v1", img.id, img.id[7:19], f"example.com/app@{img.manifest_digest}"):
        assert store.resolve(ref).id == img.id
    with pytest.raises(ImageNotFound):
        store.resolve("example.com/app:v2")
    # another process's store object sees the tag at once (the server and `raftkv images` share the directory)
    ImageStore(str(tmp_path)).tag("example.com/app:v1", "app")
    assert store.resolve("docker.io/library/app:latest").id == img.id
    store.remove("example.com/app:v1")
    assert store.resolve("app").repo_tags == ["docker.io/library/app:latest"]
    store.remove("app")
    assert store.list_images() == [] and not os.path.exists(store.rootfs(img.id))


def test_corrupt_archive_is_refused(tmp_path: pathlib.Path) -> None:
    store = ImageStore(str(tmp_path))
    with pytest.raises(oci.ArchiveError):
        store.import_archive(b"not a tar")
    with pytest.raises(oci.ArchiveError):
        store.import_archive(_tar([("index.json", b"{", "")]))
    assert store.list_images() == []


@needs_busybox
def test_busybox_image_is_reproducible_and_has_applets(tmp_path: pathlib.Path) -> None:
    name, data = busybox.build()
    assert name.startswith("localhost/busybox:1.")
    assert busybox.build()[1] == data
    (img,) = ImageStore(str(tmp_path)).import_archive(data)
    assert img.repo_tags == [name]
    rootfs = pathlib.Path(ImageStore(str(tmp_path)).rootfs(img.id))
    for applet in ("sh", "httpd", "nc", "wget", "sleep"):
        assert os.readlink(rootfs / "bin" / applet) == "busybox"
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    index = json.loads(tarfile.open(fileobj=io.BytesIO(data)).extractfile("index.json").read())  # type: ignore[union-attr]
    assert index["manifests"][0]["annotations"][oci.ANNOTATION_IMAGE_NAME] == name
