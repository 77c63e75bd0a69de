"""containerd + runc as a CRI endpoint for the same-behaviour tests: a private containerd (root, state, socket,
CNI conflist with its own bridge and subnet) with the busybox image and a locally built static pause image, as
notes/runtime.md §3 measured. Everything it made is removed afterwards, by PID and by the names it was given."""

from __future__ import annotations

import gzip
import io
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import time

from agents.cri import busybox, oci

PAUSE_C = r"""
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) { signal(SIGINT, stop); signal(SIGTERM, stop); signal(SIGCHLD, reap); for (;;) pause(); }
"""


def missing() -> str | None:
    for tool in ("containerd", "runc", "ctr", "gcc"):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt-get install containerd runc gcc)"
    return None


def pause_image(workdir: pathlib.Path) -> bytes:
    src = workdir / "pause.c"
    src.write_text(PAUSE_C)
    subprocess.run(["gcc", "-Os", "-static", "-o", str(workdir / "pause"), str(src)], check=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("pause")
        data = (workdir / "pause").read_bytes()
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    config = oci.canonical({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/pause"]},
                            "rootfs": {"type": "layers", "diff_ids": [oci.sha256(raw)]}})
    return oci.write_archive([("localhost/pause:1", config, [gzip.compress(raw, mtime=0)])])


class Containerd:
    def __init__(self, root: pathlib.Path, prefix: str, subnet: str) -> None:
        self.root, self.prefix, self.subnet = root, prefix, subnet
        self.socket = str(root / "containerd.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cni = self.root / "cni"
        cni.mkdir(parents=True, exist_ok=True)
        (cni / "10-test.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": self.prefix,
            "plugins": [{"type": "bridge", "bridge": f"{self.prefix}cd", "isGateway": True, "ipMasq": False,
                         "hairpinMode": True,
                         "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                                  "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(self.root / "ipam")}},
                        {"type": "loopback"}]}))
        (self.root / "config.toml").write_text(f"""version = 2
root = "{self.root}/root"
state = "{self.root}/state"
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
""")
        self.proc = subprocess.Popen(["containerd", "--config", str(self.root / "config.toml")],
                                     stdout=open(self.root / "containerd.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not start: {(self.root / 'containerd.log').read_text()[-2000:]}")
            time.sleep(0.02)
        _, bb = busybox.build()
        for name, data in (("busybox.tar", bb), ("pause.tar", pause_image(self.root))):
            (self.root / name).write_bytes(data)
            subprocess.run(["ctr", "-a", self.socket, "-n", "k8s.io", "images", "import", str(self.root / name)],
                           check=True, capture_output=True)

    def _pod_pids(self) -> list[int]:
        """Every process in a cgroup under our prefix: the pause and container processes this containerd ran."""
        pids: set[int] = set()
        for ctl in ("memory", "pids"):
            for dirpath, _, files in os.walk(f"/sys/fs/cgroup/{ctl}/{self.prefix}"):
                if "cgroup.procs" in files:
                    with open(os.path.join(dirpath, "cgroup.procs")) as f:
                        pids.update(int(p) for p in f.read().split())
        return sorted(pids)

    def stop(self) -> None:
        """Kill containerd and every shim it started (by their PIDs, found by our socket path), then what runc
        left running under our cgroups (a killed shim orphans its containers), their netns, and the rest."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shims = subprocess.run(["pgrep", "-f", f"containerd-shim.*-address {self.socket}"], capture_output=True,
                               text=True).stdout.split()
        for pid in shims:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        netns_inodes = set()
        for pid in self._pod_pids():
            try:
                netns_inodes.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
                os.kill(pid, 9)
            except (ProcessLookupError, FileNotFoundError):
                pass
        deadline = time.monotonic() + 10
        while self._pod_pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        netns_inodes.discard(os.stat("/proc/self/ns/net").st_ino)
        for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
            try:
                if name.startswith("cni-") and os.stat(f"/run/netns/{name}").st_ino in netns_inodes:
                    subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
            except OSError:
                pass
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            point = line.split()[4]
            if point.startswith(str(self.root)):
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        if os.path.exists(f"/sys/class/net/{self.prefix}cd"):
            subprocess.run(["ip", "link", "delete", f"{self.prefix}cd"], capture_output=True, check=False)
        for ctl in os.listdir("/sys/fs/cgroup"):
            base = f"/sys/fs/cgroup/{ctl}/{self.prefix}"
            for dirpath, _, _ in sorted(os.walk(base), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
