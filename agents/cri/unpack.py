"""Unpack image layers into a root filesystem, applying OCI whiteouts.

Layers are applied in order: `.wh.NAME` deletes NAME from the layers below, `.wh..wh..opq` empties its directory.
Members are extracted with tarfile's "tar" filter, which refuses anything that would land outside the rootfs
(absolute names, `..`, writes through a symlink that leaves it) — the layers come from image files we did not
write.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def _remove(path: str) -> None:
    if os.path.islink(path) or not os.path.isdir(path):
        if os.path.lexists(path):
            os.unlink(path)
    else:
        shutil.rmtree(path)


def apply_layer(rootfs: str, layer_tar: bytes) -> None:
    """Apply one uncompressed layer tar on top of `rootfs`."""
    with tarfile.open(fileobj=io.BytesIO(layer_tar), mode="r:") as tar:
        members = tar.getmembers()
        # whiteouts first: they remove lower-layer content, never what this layer adds beside them
        for m in members:
            name = os.path.normpath(m.name.lstrip("/"))
            base, parent = os.path.basename(name), os.path.dirname(name)
            target_dir = os.path.join(rootfs, parent)
            if not os.path.realpath(target_dir).startswith(os.path.realpath(rootfs)):
                raise ValueError(f"layer entry {m.name!r} escapes the root filesystem")
            if base == OPAQUE:
                if os.path.isdir(target_dir):
                    for entry in os.listdir(target_dir):
                        _remove(os.path.join(target_dir, entry))
            elif base.startswith(WHITEOUT):
                _remove(os.path.join(target_dir, base[len(WHITEOUT):]))
        for m in members:
            base = os.path.basename(os.path.normpath(m.name))
            if base.startswith(WHITEOUT):
                continue
            dest = os.path.join(rootfs, os.path.normpath(m.name.lstrip("/")))
            if not m.isdir() and os.path.lexists(dest) and (os.path.isdir(dest) and not os.path.islink(dest)):
                shutil.rmtree(dest)
            elif not m.isdir() and os.path.lexists(dest):
                os.unlink(dest)
            tar.extract(m, rootfs, filter="tar", numeric_owner=True)
            if not m.issym() and not m.islnk():
                # the filter strips sticky/setuid and group/other write bits; the image's own modes are wanted
                # (/tmp is 1777), and the path was just created by the filter-checked extraction
                os.chmod(dest, m.mode & 0o7777)
