"""The cluster plan: from a Layout, which processes run, with which flags, files and readiness checks, in which
start order, and which kubeconfigs exist. Pure: `raftkv.up.supervisor` carries it out.

Start order (stages; a stage starts once every process of the one before is ready): the members; the API
servers; controller managers, schedulers, simulated nodes and container runtimes; kubelets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftkv.up.layout import APISERVER_HOSTS, Layout

ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class Check:
    """How the supervisor knows a process is ready (and `raftkv status` that it is healthy)."""
    kind: str  # https or http (GET answers 200: a member's /health only with a leader), unix (socket accepts),
    # dns ("host port name": an A query answered), log (the text appears in its log after its start)
    target: str


@dataclass(frozen=True)
class Proc:
    name: str
    role: str
    argv: tuple[str, ...]
    log: str
    check: Check
    stage: int
    ports: tuple[tuple[str, int], ...] = ()  # (host, port) that must be free before it starts


@dataclass(frozen=True)
class Kubeconfig:
    path: str
    user: str  # the client certificate's file name in pki/ (CN/O decided by pkiplan)
    servers: tuple[tuple[str, str], ...]  # (context name, server URL); the first is the current context


@dataclass(frozen=True)
class Available:
    """What exists in this checkout and on this machine, found by the adapter."""
    scheduler: bool = True
    kubelet: bool = True
    proxy: bool = False
    dns: bool = False
    real_nodes: str = ""  # "" when kubelets can run, else the reason they cannot


@dataclass
class Plan:
    procs: list[Proc]
    kubeconfigs: list[Kubeconfig]
    notices: list[str] = field(default_factory=list)  # what is skipped and why, said at start
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content (kubelet configs)

    def by_name(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)


def apiserver_urls(layout: Layout) -> list[str]:
    return [f"https://{APISERVER_HOSTS[i]}:{layout.apiserver_port}" for i in range(layout.apiservers)]


def member_endpoints(layout: Layout) -> list[str]:
    return [f"https://127.0.0.1:{m['client']}" for m in layout.members]


def _member(d: str, py: str, layout: Layout, m: dict[str, object]) -> Proc:
    cluster = ",".join(f"{x['name']}=https://127.0.0.1:{x['peer']}" for x in layout.members)
    e = f"{d}/pki/etcd"
    argv = (py, "-m", "raftkv", "serve", "--name", str(m["name"]), "--data-dir", f"{d}/data/{m['name']}",
            "--listen-client-urls", f"https://127.0.0.1:{m['client']}",
            "--advertise-client-urls", f"https://127.0.0.1:{m['client']}",
            "--listen-peer-urls", f"https://127.0.0.1:{m['peer']}",
            "--initial-advertise-peer-urls", f"https://127.0.0.1:{m['peer']}",
            "--listen-metrics-urls", f"http://127.0.0.1:{m['metrics']}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", layout.token,
            "--client-cert-auth", "--trusted-ca-file", f"{e}/ca.crt",
            "--cert-file", f"{e}/server.crt", "--key-file", f"{e}/server.key",
            "--peer-client-cert-auth", "--peer-trusted-ca-file", f"{e}/ca.crt",
            "--peer-cert-file", f"{e}/peer.crt", "--peer-key-file", f"{e}/peer.key")
    ports = tuple(("127.0.0.1", int(str(m[k]))) for k in ("client", "peer", "metrics"))
    return Proc(str(m["name"]), "member", argv, f"{d}/logs/{m['name']}.log",
                Check("http", f"http://127.0.0.1:{m['metrics']}/health"), 0, ports)


def _apiserver(d: str, py: str, layout: Layout, i: int) -> Proc:
    host = APISERVER_HOSTS[i]
    p = f"{d}/pki"
    argv = (py, "-m", "apiserver", "--etcd-servers", ",".join(member_endpoints(layout)),
            "--etcd-cafile", f"{p}/etcd/ca.crt", "--etcd-certfile", f"{p}/etcd/apiserver-etcd-client.crt",
            "--etcd-keyfile", f"{p}/etcd/apiserver-etcd-client.key",
            "--bind-address", host, "--advertise-address", host, "--secure-port", str(layout.apiserver_port),
            "--tls-cert-file", f"{p}/apiserver.crt", "--tls-private-key-file", f"{p}/apiserver.key",
            "--client-ca-file", f"{p}/ca.crt", "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", "NodeRestriction",
            "--service-account-signing-key-file", f"{p}/sa.key", "--service-account-key-file", f"{p}/sa.pub",
            "--service-account-issuer", ISSUER,
            "--kubelet-client-certificate", f"{p}/apiserver-kubelet-client.crt",
            "--kubelet-client-key", f"{p}/apiserver-kubelet-client.key",
            "--kubelet-certificate-authority", f"{p}/ca.crt")
    name = f"apiserver-{i + 1}"
    return Proc(name, "apiserver", argv, f"{d}/logs/{name}.log",
                Check("https", f"https://{host}:{layout.apiserver_port}/readyz"), 1,
                ((host, layout.apiserver_port),))


def _server_for(layout: Layout, i: int) -> str:
    """Clients are spread over the API servers, so losing one leaves a leader or a standby connected."""
    return apiserver_urls(layout)[i % layout.apiservers]


def plan(layout: Layout, d: str, py: str, avail: Available) -> Plan:
    """Every process and kubeconfig of the cluster in `d` (absolute), run by the Python `py`."""
    procs = [_member(d, py, layout, m) for m in layout.members]
    procs += [_apiserver(d, py, layout, i) for i in range(layout.apiservers)]
    urls = apiserver_urls(layout)
    contexts = tuple([("raftkv", urls[0])] + [(f"raftkv-apiserver-{i + 1}", u) for i, u in enumerate(urls)])
    kcs = [Kubeconfig(f"{d}/kubeconfig", "admin", contexts),
           Kubeconfig(f"{d}/conf/admin.conf", "admin", (("raftkv", urls[0]),))]
    notices: list[str] = []
    files: dict[str, str] = {}
    for i, port in enumerate(layout.controller_managers):
        name = f"controller-manager-{i + 1}"
        kc = f"{d}/conf/{name}.conf"
        kcs.append(Kubeconfig(kc, "controller-manager", (("raftkv", _server_for(layout, i)),)))
        argv: tuple[str, ...] = (py, "-m", "controllers", "--kubeconfig", kc, "--leader-elect=true",
                "--use-service-account-credentials=true", "--root-ca-file", f"{d}/pki/ca.crt",
                "--bind-address", "127.0.0.1", "--secure-port", str(port))
        procs.append(Proc(name, "controller-manager", argv, f"{d}/logs/{name}.log",
                          Check("https", f"https://127.0.0.1:{port}/healthz"), 2, (("127.0.0.1", port),)))
    if avail.scheduler:
        for i, port in enumerate(layout.schedulers):
            name = f"scheduler-{i + 1}"
            kc = f"{d}/conf/{name}.conf"
            kcs.append(Kubeconfig(kc, "scheduler", (("raftkv", _server_for(layout, i)),)))
            argv = (py, "-m", "controllers.scheduler", "--kubeconfig", kc, "--leader-elect=true",
                    "--bind-address", "127.0.0.1", "--secure-port", str(port))
            procs.append(Proc(name, "scheduler", argv, f"{d}/logs/{name}.log",
                              Check("https", f"https://127.0.0.1:{port}/healthz"), 2, (("127.0.0.1", port),)))
    else:
        notices.append("scheduler: not built yet, skipping (pods stay Pending unless they name a node)")
    if layout.simulated_nodes:
        argv = (py, "-m", "agents.simnode", "--kubeconfig", f"{d}/conf/admin.conf",
                "--nodes", str(layout.simulated_nodes), "--node-name-prefix", "simnode-",
                "--control-port", str(layout.simnode_port))
        procs.append(Proc("simnodes", "simnode", argv, f"{d}/logs/simnodes.log",
                          Check("http", f"http://127.0.0.1:{layout.simnode_port}/healthz"), 2,
                          (("127.0.0.1", layout.simnode_port),)))
    if layout.nodes and not avail.kubelet:
        notices.append("kubelet: not built yet, skipping the real nodes")
    elif layout.nodes and avail.real_nodes:
        notices.append(f"real nodes: {avail.real_nodes}; skipping them (use --simulated-nodes)")
    elif layout.nodes:
        notices.append("real nodes: kubelets run on the host's network namespace, each on its own loopback "
                       "address (127.0.1.N:10250); their pods get network namespaces of their own")
        for i, node in enumerate(layout.nodes):
            procs += _node(d, py, layout, i, node, kcs, files)
    real = [x for x in procs if x.role == "kubelet"]
    if not avail.proxy:
        notices.append("kube-proxy: not built yet, skipping (Service ClusterIPs are not forwarded)")
    elif real:
        notices.append("kube-proxy: userspace mode on each real node (NodePorts on the node's IP; ClusterIPs are "
                       "not forwarded: the host's iptables are left alone)")
        procs += [_proxy(d, py, layout, i, node) for i, node in enumerate(layout.nodes)]
    if not avail.dns:
        notices.append("DNS: not built yet, skipping")
    elif layout.dns_port:
        argv = (py, "-m", "agents.dns", "--kubeconfig", f"{d}/conf/admin.conf", "--bind-address", "127.0.0.1",
                "--port", str(layout.dns_port), "--register-service=true", "--advertise-address", "127.0.0.1")
        procs.append(Proc("dns", "dns", argv, f"{d}/logs/dns.log", Check("dns", f"127.0.0.1 {layout.dns_port} kubernetes.default.svc.cluster.local"), 2,
                          (("127.0.0.1", layout.dns_port),)))
    return Plan(procs, kcs, notices, files)


def _proxy(d: str, py: str, layout: Layout, i: int, node: dict[str, str]) -> Proc:
    """kube-proxy of a real node, in userspace mode: kubelets share the host's network namespace here, whose
    iptables are not ours to program."""
    name = node["name"]
    argv = (py, "-m", "agents.proxy", "--kubeconfig", f"{d}/conf/admin.conf", "--hostname-override", name,
            "--proxy-mode", "userspace", "--nodeport-addresses", node["ip"])
    return Proc(f"proxy-{name}", "proxy", argv, f"{d}/logs/proxy-{name}.log",
                Check("log", f"Using userspace proxy on node {name}"), 3)


def node_names(layout: Layout) -> list[str]:
    """Every node `kubectl get nodes` should show Ready."""
    return [n["name"] for n in layout.nodes] + [f"simnode-{i}" for i in range(layout.simulated_nodes)]


def cri_cleanup_argv(d: str, py: str, layout: Layout, i: int) -> tuple[str, ...]:
    """raftkv-cri's --cleanup for node i: every pod, mount, cgroup, netns and the bridge it made."""
    return (py, "-m", "agents.cri", *_cri_flags(d, layout, i), "--cleanup")


def _cri_flags(d: str, layout: Layout, i: int) -> tuple[str, ...]:
    node = layout.nodes[i]
    nd = f"{d}/nodes/{node['name']}"
    tag = f"{layout.prefix}n{i + 1}"
    return ("--listen", f"{nd}/cri.sock", "--root", f"{nd}/cri", "--bridge", f"{tag}br",
            "--pod-cidr", node["pod_cidr"], "--netns-prefix", f"{tag}-", "--cgroup-parent", tag,
            "--network-name", tag, "--stream-address", "127.0.0.1", "--stream-port", str(node["stream_port"]))


def _node(d: str, py: str, layout: Layout, i: int, node: dict[str, str], kcs: list[Kubeconfig],
          files: dict[str, str]) -> list[Proc]:
    name = node["name"]
    nd = f"{d}/nodes/{name}"
    tag = f"{layout.prefix}n{i + 1}"
    cri = Proc(f"cri-{name}", "cri", (py, "-m", "agents.cri", *_cri_flags(d, layout, i)), f"{d}/logs/cri-{name}.log",
               Check("unix", f"{nd}/cri.sock"), 2, (("127.0.0.1", int(node["stream_port"])),))
    kc = f"{d}/conf/kubelet-{name}.conf"
    kcs.append(Kubeconfig(kc, f"kubelet-{name}", (("raftkv", _server_for(layout, i)),)))
    files[f"nodes/{name}/kubelet-config.yaml"] = (
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
        f"podLogsDir: {nd}/pod-logs\n")
    argv = (py, "-m", "agents.kubelet", "--kubeconfig", kc, "--config", f"{nd}/kubelet-config.yaml",
            "--hostname-override", name, "--node-ip", node["ip"], "--address", node["ip"], "--port", str(node["port"]),
            "--container-runtime-endpoint", f"unix://{nd}/cri.sock", "--root-dir", f"{nd}/kubelet",
            "--pod-manifest-path", f"{nd}/manifests", "--client-ca-file", f"{d}/pki/ca.crt",
            "--tls-cert-file", f"{d}/pki/kubelet-{name}-serving.crt",
            "--tls-private-key-file", f"{d}/pki/kubelet-{name}-serving.key",
            "--authorization-mode", "Webhook", "--cgroup-root", f"/{tag}")
    kubelet = Proc(f"kubelet-{name}", "kubelet", argv, f"{d}/logs/kubelet-{name}.log",
                   Check("log", f"kubelet {name} ready"), 3, ((node["ip"], int(node["port"])),))
    return [cri, kubelet]
