"""raftkv-cri end to end, as root: real network namespaces, CNI bridge, cgroup v1 and processes.

A busybox httpd pod is reachable from the host at its pod IP; ExecSync runs in the pod's namespaces; StopContainer
gives SIGTERM, the grace period, then SIGKILL; a memory limit ends in OOMKilled; a missing command is a
StartError; a server restart adopts running containers; and removing a pod leaves no netns, cgroup, mount or
process behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import grpc
import pytest

from agents.cri import api, logformat
from tests.conftest import wait_for

from .conftest import CRI

pytestmark = pytest.mark.e2e


def http_get(ip: str, port: int, path: str = "/") -> bytes:
    with socket.create_connection((ip, port), timeout=2) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


CONFIGS: dict[str, api.PodSandboxConfig] = {}


def run_pod(cri: CRI, name: str) -> tuple[str, api.PodSandboxConfig]:
    cfg = cri.sandbox_config(name)
    sid = cri.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    CONFIGS[sid] = cfg
    return sid, cfg


def start(cri: CRI, sid: str, cfg: api.PodSandboxConfig, name: str, command: list[str],
          memory: int = 0, mounts: list[api.Mount] | None = None, pid: int = api.CONTAINER) -> str:
    """pid CONTAINER by default, as the kubelet asks for a pod without shareProcessNamespace."""
    sec = api.LinuxContainerSecurityContext(namespace_options=api.NamespaceOption(pid=pid))  # type: ignore[arg-type]
    config = api.ContainerConfig(
        metadata=api.ContainerMetadata(name=name), image=api.ImageSpec(image=cri.image), command=command,
        log_path=f"{name}/0.log", envs=[api.KeyValue(key="GREETING", value="hi")], mounts=mounts or [],
        linux=api.LinuxContainerConfig(resources=api.LinuxContainerResources(memory_limit_in_bytes=memory),
                                       security_context=sec))
    cid = cri.runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=config,
                                                                 sandbox_config=cfg)).container_id
    cri.runtime.StartContainer(api.StartContainerRequest(container_id=cid))
    return cid


def status(cri: CRI, cid: str) -> api.ContainerStatus:
    return cri.runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid)).status


def exited(cri: CRI, cid: str, timeout: float = 30) -> api.ContainerStatus:
    return wait_for(lambda: (s := status(cri, cid)).state == api.CONTAINER_EXITED and s, timeout,
                    f"container {cid[:12]} to exit")


def leftovers(cri: CRI, sid: str) -> list[str]:
    found = []
    if any(n.startswith(f"{cri.prefix}-{sid[:16]}") for n in os.listdir("/run/netns")):
        found.append("netns")
    for ctl in ("memory", "cpu", "pids"):
        pod_cgroup = f"/sys/fs/cgroup/{ctl}{CONFIGS[sid].linux.cgroup_parent}"
        if os.path.exists(pod_cgroup):
            found.append(f"cgroup {pod_cgroup}")
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {line.split()[4]}" for line in f
                  if str(cri.root) in line and ("/containers/" in line or f"/sandboxes/{sid}" in line)]
    return found


def test_httpd_pod_exec_logs_and_graceful_stop(cri: CRI) -> None:
    sid, cfg = run_pod(cri, "web")
    st = cri.runtime.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert st.state == api.SANDBOX_READY and st.metadata.name == "web"
    ip = st.network.ip
    assert ip and ip.startswith(cri.subnet.rsplit(".", 1)[0])

    web = start(cri, sid, cfg, "httpd", ["httpd", "-f", "-p", "8080", "-h", "/var/www"])
    assert status(cri, web).state == api.CONTAINER_RUNNING
    body = wait_for(lambda: http_get(ip, 8080, "/index.html"), 20, "httpd to answer at the pod IP")
    assert body.startswith(b"HTTP/1.") and b"hello from busybox" in body

    r = cri.runtime.ExecSync(api.ExecSyncRequest(container_id=web, cmd=["sh", "-c", "hostname; echo $GREETING; "
                                                                         "echo oops >&2; exit 3"], timeout=10))
    assert (r.stdout, r.stderr, r.exit_code) == (b"web\nhi\n", b"oops\n", 3)
    r = cri.runtime.ExecSync(api.ExecSyncRequest(container_id=web, cmd=["cat", "/proc/1/cmdline"], timeout=10))
    assert r.stdout.split(b"\0")[0] == b"httpd"  # the exec sees the container's own PID namespace
    with pytest.raises(grpc.RpcError) as err:
        cri.runtime.ExecSync(api.ExecSyncRequest(container_id=web, cmd=["nosuch"], timeout=10))
    assert 'exec: "nosuch": executable file not found in $PATH' in err.value.details()  # type: ignore[attr-defined]

    # a second container of the pod shares its network: it reaches httpd on localhost
    chatty = start(cri, sid, cfg, "chatty", ["sh", "-c", "echo hello; echo err >&2; "
                                             "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080 | head -1"])
    done = exited(cri, chatty)
    assert (done.exit_code, done.reason) == (0, "Completed")
    with open(done.log_path, "rb") as f:
        records = [logformat.parse(line) for line in f]
    out = [r.content for r in records if r.stream == "stdout" and not r.partial]
    assert [r.content for r in records if r.stream == "stderr"] == [b"err"]  # (the two pipes' order is free)
    assert out[0] == b"hello" and out[1].startswith(b"HTTP/1.") and len(out) == 2

    # httpd as PID 1 has no SIGTERM handler: the stop takes the grace period, then SIGKILL (137)
    t0 = time.monotonic()
    cri.runtime.StopContainer(api.StopContainerRequest(container_id=web, timeout=2))
    took = time.monotonic() - t0
    s = status(cri, web)
    assert 1.9 <= took < 10 and (s.state, s.exit_code, s.reason) == (api.CONTAINER_EXITED, 137, "Error")

    # a shell that traps SIGTERM exits at once, with its own code
    trap = start(cri, sid, cfg, "trap", ["sh", "-c", "trap 'exit 0' TERM; echo ready; "
                                         "while true; do sleep 0.05; done"])
    wait_for(lambda: os.path.exists(status(cri, trap).log_path) and b"ready" in open(status(cri, trap).log_path, "rb").read(),
             10, "the trap to be installed")
    t0 = time.monotonic()
    cri.runtime.StopContainer(api.StopContainerRequest(container_id=trap, timeout=30))
    assert time.monotonic() - t0 < 5
    assert (status(cri, trap).exit_code, status(cri, trap).reason) == (0, "Completed")

    cri.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid))
    assert cri.runtime.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.state == \
        api.SANDBOX_NOTREADY
    cri.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid))  # idempotent
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert leftovers(cri, sid) == []
    with pytest.raises(grpc.RpcError) as err:
        status(cri, web)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_oom_kill_and_start_error(cri: CRI) -> None:
    sid, cfg = run_pod(cri, "limits")
    # PID 1 itself grows (tail keeps the one endless "line" of /dev/zero) until the memcg's OOM killer takes it
    hog = start(cri, sid, cfg, "hog", ["tail", "/dev/zero"], memory=20 << 20)
    s = exited(cri, hog)
    assert (s.exit_code, s.reason) == (137, "OOMKilled")

    config = api.ContainerConfig(metadata=api.ContainerMetadata(name="bad"), image=api.ImageSpec(image=cri.image),
                                 command=["/no/such/binary"])
    cid = cri.runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=config)).container_id
    with pytest.raises(grpc.RpcError) as err:
        cri.runtime.StartContainer(api.StartContainerRequest(container_id=cid))
    assert "stat /no/such/binary: no such file or directory" in err.value.details()  # type: ignore[attr-defined]
    s = status(cri, cid)
    assert (s.state, s.exit_code, s.reason) == (api.CONTAINER_EXITED, 128, "StartError")

    with pytest.raises(grpc.RpcError) as err:
        cri.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image="nosuch:1")))
    # no registry is reachable here: containerd's DNS failure for docker.io's registry host
    assert err.value.details().startswith(  # type: ignore[attr-defined]
        'failed to pull and unpack image "docker.io/library/nosuch:1": failed to resolve reference '
        '"docker.io/library/nosuch:1": failed to do request: Head '
        '"https://registry-1.docker.io/v2/library/nosuch/manifests/1": dial tcp: lookup registry-1.docker.io')
    assert not cri.images.ImageStatus(api.ImageStatusRequest(image=api.ImageSpec(image="nosuch:1"))).HasField("image")
    img = cri.images.ImageStatus(api.ImageStatusRequest(image=api.ImageSpec(image=cri.image))).image
    assert img.id.startswith("sha256:") and cri.image in img.repo_tags
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert leftovers(cri, sid) == []


def test_restart_adopts_running_containers(cri: CRI) -> None:
    sid, cfg = run_pod(cri, "survivor")
    cid = start(cri, sid, cfg, "sleeper", ["sh", "-c", "echo $$; exec sleep 1000"])
    info = cri.runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid, verbose=True)).info["info"]
    cri.kill()  # SIGKILL: nothing is cleaned up, the container stays under its shim
    cri.start()
    assert cri.runtime.ContainerStatus(api.ContainerStatusRequest(container_id=cid, verbose=True)).info["info"] == info
    assert status(cri, cid).state == api.CONTAINER_RUNNING
    r = cri.runtime.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=["cat", "/proc/1/comm"], timeout=10))
    assert r.stdout == b"sleep\n"
    cri.runtime.StopContainer(api.StopContainerRequest(container_id=cid, timeout=0))
    assert status(cri, cid).exit_code == 137
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert leftovers(cri, sid) == []
    assert subprocess.run(["pgrep", "-f", f"containers/{cid}"], capture_output=True).returncode == 1


def test_mounts_user_workdir_and_runtime_info(cri: CRI, tmp_path_factory: pytest.TempPathFactory) -> None:
    host = tmp_path_factory.mktemp("vol")
    (host / "ro").mkdir()
    (host / "ro" / "config").write_text("from the host\n")
    (host / "rw").mkdir()
    (host / "rw").chmod(0o777)
    sid, cfg = run_pod(cri, "vols")
    config = api.ContainerConfig(
        metadata=api.ContainerMetadata(name="c"), image=api.ImageSpec(image=cri.image), working_dir="/data",
        command=["sh", "-c", "id -u; pwd; cat /etc/config/config; echo written > /data/out; "
                             "echo x > /etc/config/nope || echo read-only; cat /etc/hostname"],
        mounts=[api.Mount(container_path="/etc/config", host_path=str(host / "ro"), readonly=True),
                api.Mount(container_path="/data", host_path=str(host / "rw"))],
        log_path="c/0.log",
        linux=api.LinuxContainerConfig(security_context=api.LinuxContainerSecurityContext(
            run_as_user=api.Int64Value(value=1000))))
    cid = cri.runtime.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=config)).container_id
    cri.runtime.StartContainer(api.StartContainerRequest(container_id=cid))
    s = exited(cri, cid)
    with open(s.log_path, "rb") as f:
        out = [r.content for r in map(logformat.parse, f) if r.stream == "stdout"]
    assert out == [b"1000", b"/data", b"from the host", b"read-only", b"vols"], out
    assert (host / "rw" / "out").read_text() == "written\n" and s.exit_code == 0
    assert [m.container_path for m in s.mounts] == ["/etc/config", "/data"]

    v = cri.runtime.Version(api.VersionRequest(version="v1"))
    assert (v.runtime_name, v.runtime_api_version) == ("raftkv-cri", "v1")
    conds = {c.type: c.status for c in cri.runtime.Status(api.StatusRequest()).status.conditions}
    assert conds == {"RuntimeReady": True, "NetworkReady": True}
    assert cri.runtime.RuntimeConfig(api.RuntimeConfigRequest()).linux.cgroup_driver == api.CGROUPFS
    fs = cri.images.ImageFsInfo(api.ImageFsInfoRequest()).image_filesystems[0]
    assert fs.used_bytes.value > 500_000 and fs.fs_id.mountpoint.endswith("/images")
    listed = cri.runtime.ListContainers(api.ListContainersRequest(filter=api.ContainerFilter(pod_sandbox_id=sid)))
    assert [c.id for c in listed.containers] == [cid]
    running = api.ContainerFilter(state=api.ContainerStateValue(state=api.CONTAINER_RUNNING), pod_sandbox_id=sid)
    assert cri.runtime.ListContainers(api.ListContainersRequest(filter=running)).containers == []
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))  # without a stop first
    assert leftovers(cri, sid) == []
    assert cri.runtime.ListPodSandbox(api.ListPodSandboxRequest(filter=api.PodSandboxFilter(id=sid))).items == []


def test_stats_of_a_running_container(cri: CRI) -> None:
    sid, cfg = run_pod(cri, "stats")
    cid = start(cri, sid, cfg, "busy", ["sh", "-c", "x=$(head -c 3000000 /dev/zero | tr '\\0' a); "
                                        "while true; do :; done"], memory=64 << 20)
    stats = wait_for(lambda: (st := cri.runtime.ContainerStats(api.ContainerStatsRequest(container_id=cid)).stats)
                     .cpu.usage_core_nano_seconds.value > 50_000_000 and st, 20, "CPU time to accumulate")
    assert stats.memory.working_set_bytes.value > 1_000_000
    assert stats.memory.available_bytes.value < 64 << 20
    assert [s.attributes.id for s in cri.runtime.ListContainerStats(api.ListContainerStatsRequest(
        filter=api.ContainerStatsFilter(pod_sandbox_id=sid))).stats] == [cid]
    cri.runtime.UpdateContainerResources(api.UpdateContainerResourcesRequest(
        container_id=cid, linux=api.LinuxContainerResources(memory_limit_in_bytes=48 << 20)))
    with open(f"/sys/fs/cgroup/memory{cfg.linux.cgroup_parent}/{cid}/memory.limit_in_bytes") as f:
        assert int(f.read()) == 48 << 20
    cri.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid))
    assert status(cri, cid).exit_code == 137
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert leftovers(cri, sid) == []


def test_reopen_container_log_after_rotation(cri: CRI) -> None:
    sid, cfg = run_pod(cri, "rotate")
    cid = start(cri, sid, cfg, "ticker", ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line$i; sleep 0.05; done"])
    path = status(cri, cid).log_path
    wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0, 10, "the first lines")
    os.rename(path, path + ".1")  # what the kubelet's log manager does before asking to reopen
    cri.runtime.ReopenContainerLog(api.ReopenContainerLogRequest(container_id=cid))
    wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0, 10, "lines in the new file")
    with open(path + ".1", "rb") as old, open(path, "rb") as new:
        last_old = int(logformat.parse(old.read().splitlines()[-1]).content[4:])
        first_new = int(logformat.parse(new.readline()).content[4:])
    assert first_new == last_old + 1  # no line lost or doubled across the rotation
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert leftovers(cri, sid) == []


def test_host_network_and_host_pid(cri: CRI) -> None:
    cfg = cri.sandbox_config("hostns")
    cfg.linux.security_context.namespace_options.CopyFrom(api.NamespaceOption(network=api.NODE, pid=api.NODE))
    sid = cri.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    CONFIGS[sid] = cfg
    st = cri.runtime.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert st.network.ip == "" and st.linux.namespaces.options.network == api.NODE
    cid = start(cri, sid, cfg, "c", ["sh", "-c", "echo $$; ip -o link | grep -c ': lo:'; "
                                     f"ip -o link | grep -c ': {cri.prefix}br:'"])
    s = exited(cri, cid)
    with open(s.log_path, "rb") as f:
        out = [r.content for r in map(logformat.parse, f)]
    assert out[0] != b"1" and out[1:] == [b"1", b"1"], out  # a host pid; the host's interfaces incl. our bridge
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert leftovers(cri, sid) == []


def test_a_server_killed_mid_sandbox_leaves_nothing_after_restart(cri: CRI, tmp_path_factory: pytest.TempPathFactory,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.cri import linux
    from agents.cri.runtime import Options, ProcessRuntime, cleanup_root

    root = tmp_path_factory.mktemp("crash")
    opts = Options(root=str(root), bridge=f"{cri.prefix}x", netns_prefix=f"{cri.prefix}x-",
                   cgroup_parent=f"{cri.prefix}x", network_name=f"{cri.prefix}x", pod_cidr=cri.subnet)
    try:
        rt = ProcessRuntime(opts)

        def die(*args: object, **kw: object) -> None:
            raise KeyboardInterrupt  # not an Exception: nothing in run_sandbox cleans up, as with a SIGKILL

        monkeypatch.setattr(linux, "cni", die)
        cfg = cri.sandbox_config("crash")
        with pytest.raises(KeyboardInterrupt):
            rt.run_sandbox(cfg, "")
        (sid,) = os.listdir(root / "sandboxes")
        assert os.path.exists(f"/run/netns/{cri.prefix}x-{sid[:16]}")
        monkeypatch.undo()
        rt = ProcessRuntime(opts)  # the restarted server
        assert rt.sandboxes == {} and os.listdir(root / "sandboxes") == []
        assert not os.path.exists(f"/run/netns/{cri.prefix}x-{sid[:16]}")
        assert not os.path.exists(f"/sys/fs/cgroup/memory{cfg.linux.cgroup_parent}")
    finally:
        cleanup_root(opts)


def test_shared_cgroup_parent_is_removed_by_the_last_pod(cri: CRI) -> None:
    parent = f"/{cri.prefix}/kubepods/besteffort"  # the kubelet's --cgroup-root, the same for every pod
    ids = []
    for name in ("first", "second"):
        cfg = cri.sandbox_config(name)
        cfg.linux.cgroup_parent = parent
        sid = cri.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
        CONFIGS[sid] = cfg
        start(cri, sid, cfg, "c", ["sleep", "1000"])
        ids.append(sid)
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=ids[0]))
    assert os.path.isdir(f"/sys/fs/cgroup/memory{parent}")  # the second pod still lives in it
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=ids[1]))
    for ctl in ("memory", "cpu", "pids", "freezer"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctl}/{cri.prefix}/kubepods"), ctl


def test_host_port_reaches_the_pod(cri: CRI) -> None:
    from tests.conftest import free_port

    def nat_rules() -> str:
        return subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout

    had_scaffold = "-N CNI-HOSTPORT-DNAT" in nat_rules()
    node_ip = subprocess.run(["ip", "-4", "-o", "route", "get", "192.0.2.250"], capture_output=True,
                             text=True).stdout.split(" src ")[1].split()[0]
    host_port = free_port()
    cfg = cri.sandbox_config("hostport")
    cfg.port_mappings.append(api.PortMapping(protocol=api.TCP, container_port=8080, host_port=host_port))
    sid = cri.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    CONFIGS[sid] = cfg
    try:
        start(cri, sid, cfg, "web", ["httpd", "-f", "-p", "8080", "-h", "/var/www"])
        body = wait_for(lambda: http_get(node_ip, host_port, "/index.html"), 20, f"httpd at {node_ip}:{host_port}")
        assert b"hello from busybox" in body
        cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
        assert f"--dport {host_port}" not in nat_rules()  # the DNAT went with the pod
        assert leftovers(cri, sid) == []
    finally:
        cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
        # the plugin's shared chains stay after DEL (as under containerd); ours to remove only if we made them
        # and no other pod's mapping is in them now
        rules = nat_rules()
        if not had_scaffold and "-A CNI-HOSTPORT-DNAT" not in rules and "-A CNI-DN-" not in rules:
            for args in (["-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"],
                         ["-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"],
                         ["-D", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade",
                          "-j", "CNI-HOSTPORT-MASQ"],
                         ["-F", "CNI-HOSTPORT-MASQ"], ["-F", "CNI-HOSTPORT-SETMARK"],
                         ["-X", "CNI-HOSTPORT-DNAT"], ["-X", "CNI-HOSTPORT-MASQ"], ["-X", "CNI-HOSTPORT-SETMARK"]):
                subprocess.run(["iptables", "-t", "nat", *args], capture_output=True, check=False)


def test_share_process_namespace(cri: CRI) -> None:
    """pid POD (shareProcessNamespace, and the CRI default): the pod's containers see each other's processes and
    none is PID 1 — a holder is, as pause is under containerd — so SIGTERM without a handler ends httpd at once."""
    sid, cfg = run_pod(cri, "shared")
    web = start(cri, sid, cfg, "httpd", ["httpd", "-f", "-p", "8080"], pid=api.POD)
    side = start(cri, sid, cfg, "side", ["sleep", "1000"], pid=api.POD)
    r = cri.runtime.ExecSync(api.ExecSyncRequest(container_id=side, cmd=["ps", "-o", "pid,comm"], timeout=10))
    procs = {line.split()[1]: line.split()[0] for line in r.stdout.decode().splitlines()[1:]}
    assert "httpd" in procs and "sleep" in procs and procs["httpd"] != "1" and procs["sleep"] != "1", procs
    t0 = time.monotonic()
    cri.runtime.StopContainer(api.StopContainerRequest(container_id=web, timeout=10))
    assert time.monotonic() - t0 < 5 and status(cri, web).exit_code == 143
    cri.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid))
    assert status(cri, side).exit_code == 137
    cri.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))
    assert leftovers(cri, sid) == []
    assert subprocess.run(["pgrep", "-f", f"shim.py --pause {cri.root}/sandboxes/{sid}"],
                          capture_output=True).returncode == 1
