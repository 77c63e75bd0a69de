"""`raftkv up`, `raftkv down`, `raftkv status`: a whole HA cluster on this machine in one command.

    raftkv up [--members 3|5] [--nodes N] [--simulated-nodes M] [--dir D] [--apiserver-port P]
    raftkv down [--dir D]
    raftkv status [--dir D]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import sys
import time
from importlib.util import find_spec
from typing import Any, NoReturn

from raftkv.up import procs
from raftkv.up.checks import Probe, free_port, ready_nodes
from raftkv.up.layout import Layout, LayoutError, Options, check_same_shape, new_layout, parse_layout
from raftkv.up.plan import (
    Available,
    Plan,
    apiserver_urls,
    cri_cleanup_argv,
    member_endpoints,
    node_names,
    plan,
)
from raftkv.up.supervisor import PY, StartError, Supervisor, log_tail, run_quiet, stop_recorded

DEFAULT_DIR = os.path.join(".local", "up")
NODES_READY_TIMEOUT_S = 120.0
BUSYBOX_TAGS = ("docker.io/library/busybox:latest", "docker.io/library/busybox:1.35")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _say(msg: str) -> None:
    print(f"raftkv up: {msg}", flush=True)


def _fail(cmd: str, msg: str, code: int = 1) -> int:
    print(f"raftkv {cmd}: {msg}", file=sys.stderr, flush=True)
    return code


def _layout_path(d: str) -> str:
    return os.path.join(d, "cluster.json")


def _read_layout(d: str) -> Layout | None:
    path = _layout_path(d)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return parse_layout(f.read(), path)


def _free_subnet(taken: list[str]) -> str:
    import ipaddress
    import subprocess
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
    used = [ipaddress.ip_network(w, strict=False) for w in routes.split() if "/" in w and w[0].isdigit()]
    used += [ipaddress.ip_network(t) for t in taken]
    while True:
        net = ipaddress.ip_network(f"10.{secrets.randbelow(50) + 200}.{secrets.randbelow(256)}.0/24")
        if not any(net.overlaps(u) for u in used):
            taken.append(str(net))
            return str(net)


def real_nodes_reason() -> str:
    """Why real kubelets cannot run here ("" when they can): root, cgroup v1, tools, CNI plugins, busybox."""
    if os.geteuid() != 0:
        return "no root (network namespaces and cgroups need it)"
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        return "no cgroup v1 memory hierarchy"
    for tool in ("ip", "unshare", "nsenter"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if not os.access("/usr/lib/cni/bridge", os.X_OK):
        return "containernetworking-plugins is not installed"
    if not os.path.exists("/bin/busybox"):
        return "busybox-static is not installed"
    return ""


def _runnable(package: str) -> bool:
    """A component is there once its package can run (`python -m` finds its __main__)."""
    try:
        return find_spec(f"{package}.__main__") is not None
    except ImportError:
        return False


def available() -> Available:
    return Available(scheduler=_runnable("controllers.scheduler"),
                     kubelet=_runnable("agents.kubelet") and _runnable("agents.cri"),
                     proxy=_runnable("agents.proxy"), dns=_runnable("agents.dns"), real_nodes=real_nodes_reason())


# ---------------------------------------------------------------------------------------------------- up
def default_nodes(nodes: int | None, simulated: int | None, real_reason: str) -> tuple[int, int]:
    """(real, simulated) nodes: what was asked, else two real nodes where they can run, else three hollow
    ones (`up_main` says why when real nodes were asked for and cannot run)."""
    if nodes is None and simulated is None:
        return (0, 3) if real_reason else (2, 0)
    return nodes or 0, simulated or 0


def _up_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="raftkv up", description="Start (or bring back) a whole HA cluster on this machine.")
    p.add_argument("--dir", default=DEFAULT_DIR, help="the cluster's directory (default %(default)s)")
    p.add_argument("--members", type=int, default=3, choices=(1, 3, 5), help="raftkv members (default 3)")
    p.add_argument("--nodes", type=int, default=None,
                   help="real nodes: a kubelet and raftkv-cri each, needs root (default 2 when neither this nor "
                        "--simulated-nodes is given and this machine can run them)")
    p.add_argument("--simulated-nodes", type=int, default=None,
                   help="hollow nodes (default 0; 3 when real nodes cannot run and no count is given)")
    p.add_argument("--apiserver-port", type=int, default=0, help="the API servers' port (default: a free one)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the nodes to be Ready")
    return p


def _lock(d: str) -> Any:
    os.makedirs(os.path.join(d, "run"), exist_ok=True)
    fh = open(os.path.join(d, "run", "up.lock"), "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def up_main(argv: list[str]) -> int:
    args = _up_parser().parse_args(argv)
    d = os.path.abspath(args.dir)
    flags = {a.split("=", 1)[0] for a in argv}
    given = {n for n, f in (("members", "--members"), ("nodes", "--nodes"), ("simulated_nodes", "--simulated-nodes"))
             if f in flags}
    nodes, sim = default_nodes(args.nodes, args.simulated_nodes, real_nodes_reason())
    opts = Options(members=args.members, nodes=nodes, simulated_nodes=sim, apiserver_port=args.apiserver_port)
    lock = _lock(d)
    if lock is None:
        st = procs.State(os.path.join(d, "run", "state.json")).load()
        pid = st.supervisor.pid if st.supervisor else "?"
        return _fail("up", f"another `raftkv up` (PID {pid}) already runs the cluster in {d}; it restarts what "
                           f"dies by itself. `raftkv status --dir {args.dir}` shows it, `raftkv down --dir "
                           f"{args.dir}` stops it")
    try:
        layout = _read_layout(d)
        if layout is not None:
            check_same_shape(layout, opts, given)
        avail = available()
        if layout is None:
            if opts.nodes and avail.real_nodes:
                _say(f"real nodes need root, network namespaces and cgroups: {avail.real_nodes}; starting "
                     f"{opts.nodes} simulated nodes instead")
                opts = Options(members=opts.members, nodes=0, simulated_nodes=opts.simulated_nodes + opts.nodes,
                               apiserver_port=opts.apiserver_port)
            taken: list[str] = []
            prefix = "rku" + hashlib.sha256(d.encode()).hexdigest()[:4]
            layout = new_layout(opts, prefix, f"raftkv-up-{secrets.token_hex(4)}", free_port,
                                lambda: _free_subnet(taken))
            fresh = True
        else:
            fresh = False
            if not layout.dns_port:  # written before DNS existed
                layout.dns_port = free_port()
                with open(_layout_path(d), "w") as f:
                    f.write(layout.to_json())
    except LayoutError as exc:
        lock.close()
        return _fail("up", str(exc), 2)
    try:
        return _run(d, args, layout, avail, fresh)
    except LayoutError as exc:
        return _fail("up", str(exc), 2)
    finally:
        lock.close()


def _run(d: str, args: argparse.Namespace, layout: Layout, avail: Available, fresh: bool) -> int:
    t0 = time.monotonic()
    p = plan(layout, d, PY, avail)
    state = procs.State(os.path.join(d, "run", "state.json")).load()
    state.supervisor = procs.record_of(os.getpid())
    for n in p.notices:
        _say(n)
    from raftkv.up.materialize import write_files, write_pki  # cryptography: loaded only by who writes files
    if fresh:
        write_pki(d, layout)
    else:
        _check_dir(d, layout)
    sup = Supervisor(d, p, state, _say)
    kept = sup.adopt()
    if kept:
        _say(f"still running from before: {', '.join(kept)}")
    taken = sup.taken_ports()
    if taken:
        return _fail("up", f"port(s) already in use by another program: {', '.join(taken)}; nothing was started. "
                           f"Free them, or start a new cluster elsewhere with --dir (and --apiserver-port)")
    if fresh:
        write_files(d, p)
        with open(_layout_path(d), "w") as f:
            f.write(layout.to_json())
    else:
        write_files(d, p)
    state.save()
    _preload_images(d, layout, p)
    stopping = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stopping["now"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background, where SIGINT comes ignored
    try:
        try:
            sup.start_all()
            if not args.no_wait:
                _wait_nodes(sup, layout)
        except StartError as exc:
            _fail("up", f"{exc}\nstopping what was started")
            _stop(d, sup, layout, p)
            return 1
        _report(d, layout, p, time.monotonic() - t0)
        while True:
            sup.tend()
            time.sleep(1)
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _say("stopping the cluster")
        _stop(d, sup, layout, p)
        _say(f"stopped; `raftkv up --dir {args.dir}` brings it back with its data")
        return 0


def _check_dir(d: str, layout: Layout) -> None:
    """A directory from an earlier start must still hold what that start wrote."""
    for path in ("pki/ca.crt", "pki/etcd/ca.crt", "pki/sa.key", "pki/admin.crt"):
        if not os.path.exists(os.path.join(d, path)):
            raise LayoutError(f"{d}/{path} is missing: this directory is damaged - use another --dir")


def _preload_images(d: str, layout: Layout, p: Plan) -> None:
    """busybox (from busybox-static) in each real node's image store, under its Docker Hub names too, so
    `image: busybox` works with no registry."""
    for node in layout.nodes:
        if not any(x.name == f"kubelet-{node['name']}" for x in p.procs):
            continue
        root = f"{d}/nodes/{node['name']}/cri"
        if os.path.exists(f"{root}/images.json"):
            continue
        log = f"{d}/logs/images-{node['name']}.log"
        if run_quiet((PY, "-m", "raftkv", "images", "--root", root, "build-busybox"), log) != 0:
            raise StartError(f"could not build the busybox image for {node['name']}: {log_tail(log)}")
        with open(log) as f:
            name = f.read().split()[-2]
        for tag in BUSYBOX_TAGS:
            run_quiet((PY, "-m", "raftkv", "images", "--root", root, "tag", name, tag), log)


def _wait_nodes(sup: Supervisor, layout: Layout) -> None:
    want = set(node_names(layout))
    if not any(r.spec.role in ("kubelet", "simnode") for r in sup.running.values()):
        return
    want = {n for n in want if n.startswith("simnode-")} | {r.spec.name.removeprefix("kubelet-")
                                                           for r in sup.running.values() if r.spec.role == "kubelet"}
    servers = apiserver_urls(layout)
    deadline = time.monotonic() + NODES_READY_TIMEOUT_S
    while True:
        ready = ready_nodes(sup.probe, servers)
        missing = sorted(n for n in want if not ready.get(n))
        if not missing:
            return
        for r in sup.running.values():
            if r.exited():
                raise StartError(f"{r.spec.name} exited with {r.returncode()}; the end of {r.spec.log}:\n"
                                 f"{log_tail(r.spec.log)}")
        if time.monotonic() > deadline:
            raise StartError(f"nodes not Ready after {NODES_READY_TIMEOUT_S:.0f}s: {', '.join(missing)}")
        time.sleep(0.5)


def _stop(d: str, sup: Supervisor, layout: Layout, p: Plan) -> None:
    sup.stop_all()
    _cleanup_nodes(d, layout, p)


def _cleanup_nodes(d: str, layout: Layout, p: Plan) -> None:
    """raftkv-cri --cleanup of every real node, in parallel: their pods, mounts, cgroups, netns and bridges."""
    from concurrent.futures import ThreadPoolExecutor
    jobs = [(cri_cleanup_argv(d, PY, layout, i), f"{d}/logs/cri-{node['name']}.log")
            for i, node in enumerate(layout.nodes) if any(x.name == f"cri-{node['name']}" for x in p.procs)]
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        list(pool.map(lambda job: run_quiet(*job), jobs))


def _report(d: str, layout: Layout, p: Plan, took: float) -> None:
    urls = apiserver_urls(layout)
    print(f"\nraftkv up: the cluster is up ({took:.1f}s)\n", flush=True)
    print(f"  export KUBECONFIG={d}/kubeconfig")
    print("  kubectl get nodes\n")
    print("What runs where (logs in " + f"{d}/logs):")
    for x in p.procs:
        where = _where(x, layout)
        print(f"  {x.name:<26} {where}")
    e = f"{d}/pki/etcd"
    print("\nThe members, with etcdctl:")
    print(f"  ETCDCTL_API=3 etcdctl --endpoints={','.join(member_endpoints(layout))} --cacert={e}/ca.crt "
          f"--cert={e}/healthcheck-client.crt --key={e}/healthcheck-client.key endpoint status -w table")
    if len(urls) > 1:
        print(f"\nThe kubeconfig's contexts name each API server (`kubectl config use-context raftkv-apiserver-2` "
              f"fails over to {urls[1]}).")
    print("`raftkv status` shows every process; Ctrl-C or `raftkv down` stops the cluster.", flush=True)


def _where(x: Any, layout: Layout) -> str:
    if x.role == "dns":
        return f"udp+tcp 127.0.0.1:{x.argv[x.argv.index('--port') + 1]} (kube-system/kube-dns, 10.0.0.10)"
    if x.role == "proxy":
        return f"userspace, NodePorts on {x.argv[x.argv.index('--nodeport-addresses') + 1]}"
    for a in ("--listen-client-urls", "--secure-port", "--control-port", "--listen"):
        if a in x.argv:
            v = x.argv[x.argv.index(a) + 1]
            if a == "--secure-port" and "--bind-address" in x.argv:
                return f"https://{x.argv[x.argv.index('--bind-address') + 1]}:{v}"
            if a == "--control-port":
                return f"http://127.0.0.1:{v} ({layout.simulated_nodes} hollow nodes)"
            return v
    if x.role == "kubelet":
        return f"https://{x.argv[x.argv.index('--address') + 1]}:{x.argv[x.argv.index('--port') + 1]}"
    return ""


# ---------------------------------------------------------------------------------------------------- down
def down_main(argv: list[str]) -> int:
    ap = _Parser(prog="raftkv down", description="Stop every process `raftkv up` started for a directory.")
    ap.add_argument("--dir", default=DEFAULT_DIR)
    args = ap.parse_args(argv)
    d = os.path.abspath(args.dir)
    try:
        layout = _read_layout(d)
    except LayoutError as exc:
        return _fail("down", str(exc), 2)
    if layout is None:
        return _fail("down", f"no cluster in {d} (nothing to stop)", 1)
    state = procs.State(os.path.join(d, "run", "state.json")).load()
    if state.supervisor is not None and procs.alive(state.supervisor) and state.supervisor.pid != os.getpid():
        print(f"raftkv down: stopping `raftkv up` (PID {state.supervisor.pid}) and its cluster", flush=True)
        os.kill(state.supervisor.pid, signal.SIGTERM)
        deadline = time.monotonic() + 120
        while procs.alive(state.supervisor) and time.monotonic() < deadline:
            time.sleep(0.1)
        state.load()
    p = plan(layout, d, PY, available())
    order = [x.name for x in sorted(p.procs, key=lambda x: -x.stage)]
    n = stop_recorded(state, order)
    _cleanup_nodes(d, layout, p)
    state.supervisor = None
    state.save()
    print(f"raftkv down: stopped ({n} left-over processes ended by PID); data kept in {d}", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------------- status
def status_main(argv: list[str]) -> int:
    ap = _Parser(prog="raftkv status", description="Each component of a `raftkv up` cluster: PID, health, "
                                                   "leader, RSS and CPU.")
    ap.add_argument("--dir", default=DEFAULT_DIR)
    ap.add_argument("--sample", type=float, default=1.0, help="seconds over which CPU is measured (default 1)")
    args = ap.parse_args(argv)
    d = os.path.abspath(args.dir)
    try:
        layout = _read_layout(d)
    except LayoutError as exc:
        return _fail("status", str(exc), 2)
    if layout is None:
        return _fail("status", f"no cluster in {d}", 1)
    from raftkv.up.status import render
    print(render(d, layout, plan(layout, d, PY, available()),
                 procs.State(os.path.join(d, "run", "state.json")).load(), Probe(d), max(0.1, args.sample)),
          flush=True)
    return 0
