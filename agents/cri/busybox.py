"""Build a busybox image locally from Debian's busybox-static: no registry is reachable here, and tests and the
local cluster need a small image with a shell, httpd, nc, wget and sleep.

One layer: /bin/busybox plus a relative symlink per applet it reports, a minimal /etc (passwd, group, hosts),
the usual empty directories, and /var/www for httpd. Everything is time-stamped 0 and sorted, so the same
busybox binary always yields the same image id.
"""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import tarfile

from agents.cri import oci

BUSYBOX = "/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSWD = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"
DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700, "sys": 0o555,
        "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "var": 0o755, "var/www": 0o755,
        "sbin": 0o755}


def busybox_version(binary: str = BUSYBOX) -> str:
    """"1.35.0" from the banner busybox prints."""
    out = subprocess.run([binary], capture_output=True, text=True, check=False).stdout
    m = re.search(r"BusyBox v(\d+\.\d+(?:\.\d+)?)", out)
    if not m:
        raise RuntimeError(f"{binary} is not busybox")
    return m.group(1)


def applets(binary: str = BUSYBOX) -> list[str]:
    out = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({a for a in out.split() if a and "/" not in a and a != "busybox"})


def layer(binary: str = BUSYBOX) -> bytes:
    """The uncompressed layer tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for d in sorted(DIRS):
            add(d, tarfile.DIRTYPE, DIRS[d])
        with open(binary, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, 0o755, f.read())
        for a in applets(binary):
            add(f"bin/{a}", tarfile.SYMTYPE, 0o777, link="busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
        add("etc/hosts", tarfile.REGTYPE, 0o644, b"127.0.0.1\tlocalhost\n")
        add("var/www/index.html", tarfile.REGTYPE, 0o644, b"hello from busybox\n")
    return buf.getvalue()


def build(name: str | None = None, binary: str = BUSYBOX) -> tuple[str, bytes]:
    """(name, tarball) for the busybox image; the name defaults to localhost/busybox:<busybox version>."""
    version = busybox_version(binary)
    name = name or f"localhost/busybox:{version}"
    raw = layer(binary)
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    config = oci.canonical({
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [oci.sha256(raw)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"raftkv images build-busybox ({version})"}],
    })
    return name, oci.write_archive([(name, config, [gz])])
