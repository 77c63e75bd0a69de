"""`raftkv images`: import, list, tag and remove images in a node's store, and build the local busybox image.

The output of `list` follows `crictl images` (IMAGE, TAG, IMAGE ID, SIZE), so what the kubelet reports as
`imageID` can be matched by eye.
"""

from __future__ import annotations

import argparse
import sys

from agents.cri import busybox, oci
from agents.cri.images import ImageNotFound, ImageStore

DEFAULT_ROOT = "/var/lib/raftkv-cri"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{n}B"
        n = n / 1000  # type: ignore[assignment]
    return f"{n}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raftkv images", description=__doc__)
    parser.add_argument("--root", default=DEFAULT_ROOT, help="the CRI server's --root (default %(default)s)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("import", help="import an OCI layout or docker-archive tarball")
    p.add_argument("file")
    p.add_argument("--tag", action="append", default=[], help="name the image(s) this instead of the archive's names")
    sub.add_parser("list", aliases=["ls"], help="list images")
    p = sub.add_parser("tag", help="give an image another name")
    p.add_argument("source")
    p.add_argument("target")
    p = sub.add_parser("rm", help="remove a name (or an image by id)")
    p.add_argument("ref", nargs="+")
    p = sub.add_parser("build-busybox", help="build localhost/busybox:<version> from busybox-static")
    p.add_argument("--tag", default=None)
    p.add_argument("--busybox", default=busybox.BUSYBOX)
    p.add_argument("-o", "--output", default=None, help="write the tarball here instead of importing it")
    args = parser.parse_args(argv)

    if args.cmd == "build-busybox":
        name, data = busybox.build(args.tag, args.busybox)
        if args.output:
            with open(args.output, "wb") as f:
                f.write(data)
            print(f"{name} written to {args.output}")
            return 0
        for img in ImageStore(args.root).import_archive(data):
            print(f"{name} {img.id}")
        return 0
    store = ImageStore(args.root)
    if args.cmd == "import":
        try:
            with open(args.file, "rb") as f:
                imported = store.import_archive(f.read(), args.tag or None)
        except (OSError, oci.ArchiveError, ValueError) as e:
            print(f"raftkv images: {args.file}: {e}", file=sys.stderr)
            return 1
        for img in imported:
            print(f"{' '.join(img.repo_tags) or '<none>'} {img.id}")
        return 0
    if args.cmd in ("list", "ls"):
        rows = [("IMAGE", "TAG", "IMAGE ID", "SIZE")]
        for img in store.list_images():
            for t in img.repo_tags or ["<none>:<none>"]:
                name, tag = t.rsplit(":", 1)
                rows.append((name, tag, img.id[7:20], _size(img.size)))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        return 0
    if args.cmd == "tag":
        try:
            store.tag(args.source, args.target)
        except ImageNotFound:
            print(f"raftkv images: no such image: {args.source}", file=sys.stderr)
            return 1
        return 0
    if args.cmd == "rm":
        rc = 0
        for ref in args.ref:
            if store.remove(ref) is None:
                print(f"raftkv images: no such image: {ref}", file=sys.stderr)
                rc = 1
            else:
                print(f"Deleted: {ref}")
        return rc
    return 2
