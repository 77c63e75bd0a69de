"""The node's image store: imported image tarballs, their blobs and one unpacked root filesystem per image.

Layout under `<root>/images`: `blobs/sha256/<hex>` (manifests, configs, layers), `rootfs/<config hex>/` (the layers
applied in order), and `images.json` mapping image ids (the config digest, as containerd reports them) to their
tags and manifest digest. `raftkv images import` and the CRI server share the directory: writers take an flock,
readers reload `images.json` when it changed, so an import is visible to a running server at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agents.cri import imageref, oci
from agents.cri.unpack import apply_layer


@dataclass
class StoredImage:
    id: str  # sha256:<config digest>
    manifest_digest: str
    repo_tags: list[str] = field(default_factory=list)
    size: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    # name@manifest-digest of each registry it was pulled from (an imported image has none, as in containerd)
    pulled_digests: list[str] = field(default_factory=list)

    @property
    def repo_digests(self) -> list[str]:
        """Every name@digest it answers to (for lookups); what the CRI reports is `pulled_digests`."""
        names = sorted({t.rsplit(":", 1)[0] for t in self.repo_tags})
        return [f"{n}@{self.manifest_digest}" for n in names]

    @property
    def user(self) -> str:
        return str(self.config.get("config", {}).get("User", ""))


class ImageNotFound(LookupError):
    pass


class ImageStore:
    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "images")
        self.blobs = os.path.join(self.root, "blobs", "sha256")
        self.rootfs_dir = os.path.join(self.root, "rootfs")
        self.index_path = os.path.join(self.root, "images.json")
        for d in (self.blobs, self.rootfs_dir):
            os.makedirs(d, exist_ok=True)
        self._images: dict[str, StoredImage] = {}
        self._stamp: tuple[int, int] | None = None

    # ---- index file
    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(os.path.join(self.root, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._reload(force=True)
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _reload(self, force: bool = False) -> None:
        try:
            st = os.stat(self.index_path)
        except FileNotFoundError:
            self._images, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_ino)
        if not force and stamp == self._stamp:
            return
        with open(self.index_path) as f:
            doc = json.load(f)
        self._images = {i["id"]: StoredImage(**i) for i in doc.get("images", [])}
        self._stamp = stamp

    def _save(self) -> None:
        doc = {"images": [vars(i) for i in sorted(self._images.values(), key=lambda i: i.id)]}
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".images.")
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, self.index_path)
        self._stamp = None

    # ---- queries
    def list_images(self) -> list[StoredImage]:
        self._reload()
        return sorted(self._images.values(), key=lambda i: (i.repo_tags[:1], i.id))

    def resolve(self, ref: str) -> StoredImage:
        """An image by id (`sha256:...` or its hex prefix of 12+), tag, or name@digest; ImageNotFound otherwise."""
        self._reload()
        if ref in self._images:
            return self._images[ref]
        bare = ref[7:] if ref.startswith("sha256:") else ref
        if len(bare) >= 12 and all(c in "0123456789abcdef" for c in bare):
            hits = [i for i in self._images.values() if i.id[7:].startswith(bare)]
            if len(hits) == 1:
                return hits[0]
        try:
            parsed = imageref.parse(ref)
        except imageref.InvalidReference:
            raise ImageNotFound(ref) from None
        for img in self._images.values():
            if parsed.digest:
                if img.manifest_digest == parsed.digest and any(t.startswith(parsed.name + ":") for t in img.repo_tags):
                    return img
            elif parsed.tagged() in img.repo_tags:
                return img
        raise ImageNotFound(ref)

    def rootfs(self, image_id: str) -> str:
        return os.path.join(self.rootfs_dir, image_id[7:])

    def used_bytes(self) -> tuple[int, int]:
        """Bytes and inodes under the store (for ImageFsInfo)."""
        size = inodes = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in filenames:
                try:
                    size += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                except OSError:
                    continue
            inodes += len(filenames) + len(dirnames)
        return size, inodes

    # ---- changes
    def import_archive(self, data: bytes, tags: list[str] | None = None) -> list[StoredImage]:
        """Store every image in an OCI/docker tarball, unpack its rootfs, and tag it (its own names or `tags`)."""
        found = oci.read_archive(data)
        out = []
        for arch_img in found:
            names = tags if tags else arch_img.names
            out.append(self._store(arch_img, [imageref.parse(n).tagged() for n in names]))
        return out

    def store_pulled(self, arch_img: oci.ArchiveImage, name: str) -> StoredImage:
        """Keep an image fetched from a registry under its tag (if it had one) and its name@digest."""
        img = self._store(arch_img, arch_img.names)
        with self._locked():
            img = self._images[img.id]
            digest = f"{name}@{arch_img.manifest_digest}"
            if digest not in img.pulled_digests:
                img.pulled_digests = sorted(set(img.pulled_digests) | {digest})
            self._save()
        return img

    def _store(self, arch_img: oci.ArchiveImage, tags: list[str]) -> StoredImage:
        image_id = arch_img.config_digest
        config = json.loads(arch_img.config)
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        layer_tars = [oci.layer_tar_bytes(b) for b in arch_img.layers]
        if diff_ids and [oci.sha256(t) for t in layer_tars] != diff_ids:
            raise oci.ArchiveError(f"layers of {image_id} do not match the config's diff_ids")
        for blob in (arch_img.manifest, arch_img.config, *arch_img.layers):
            path = os.path.join(self.blobs, oci.sha256(blob)[7:])
            if not os.path.exists(path):
                with open(path + ".tmp", "wb") as f:
                    f.write(blob)
                os.replace(path + ".tmp", path)
        target = self.rootfs(image_id)
        if not os.path.isdir(target):
            tmp = tempfile.mkdtemp(dir=self.rootfs_dir, prefix=".unpack-")
            try:
                for t in layer_tars:
                    apply_layer(tmp, t)
                os.chmod(tmp, 0o755)
                os.rename(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        size = len(arch_img.config) + sum(len(b) for b in arch_img.layers)
        with self._locked():
            for other in self._images.values():
                other.repo_tags = [t for t in other.repo_tags if t not in tags]
            img = self._images.get(image_id) or StoredImage(image_id, arch_img.manifest_digest, [], size, config)
            img.repo_tags = sorted(set(img.repo_tags) | set(tags))
            self._images[image_id] = img
            self._save()
        return img

    def tag(self, source: str, target: str) -> StoredImage:
        tagged = imageref.parse(target).tagged()
        with self._locked():
            img = self.resolve(source)
            for other in self._images.values():
                if tagged in other.repo_tags:
                    other.repo_tags.remove(tagged)
            img.repo_tags = sorted(set(img.repo_tags) | {tagged})
            self._save()
        return img

    def remove(self, ref: str, in_use: set[str] | None = None) -> StoredImage | None:
        """Untag a name (or drop an id with all its tags); the image's files go with its last tag unless in use."""
        with self._locked():
            try:
                img = self.resolve(ref)
            except ImageNotFound:
                return None
            if ref == img.id or ref.startswith("sha256:") or img.id[7:].startswith(ref):
                img.repo_tags = []
            else:
                try:
                    tagged = imageref.parse(ref).tagged()
                except imageref.InvalidReference:
                    tagged = ref
                img.repo_tags = [t for t in img.repo_tags if t != tagged]
            if not img.repo_tags and img.id not in (in_use or set()):
                del self._images[img.id]
                shutil.rmtree(self.rootfs(img.id), ignore_errors=True)
            self._save()
        return img
