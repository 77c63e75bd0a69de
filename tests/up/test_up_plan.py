"""The cluster plan of `raftkv up`, without I/O: which processes, ports, flags, certificates and start order
follow from the options, and which layouts a later start refuses."""

from __future__ import annotations

import itertools
import json

import pytest

from raftkv.up.cli import default_nodes
from raftkv.up.layout import FORMAT, Layout, LayoutError, Options, check_same_shape, new_layout, parse_layout
from raftkv.up.pkiplan import cert_specs
from raftkv.up.plan import Available, apiserver_urls, node_names, plan

pytestmark = pytest.mark.unit
D = "/c"


def layout(**kw: int) -> Layout:
    ports = itertools.count(20000)
    subnets = (f"10.250.{i}.0/24" for i in itertools.count())
    return new_layout(Options(**kw), "rkuabcd", "tok", lambda: next(ports), lambda: next(subnets))


def argv_flag(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_default_cluster_is_ha_three_members_two_of_each_control_plane_process() -> None:
    p = plan(layout(simulated_nodes=3), D, "py", Available())
    roles = [x.role for x in p.procs]
    assert roles == ["member"] * 3 + ["apiserver"] * 2 + ["controller-manager"] * 2 + ["scheduler"] * 2 + ["simnode"]
    assert [x.stage for x in p.procs] == [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
    ports = [port for x in p.procs for _, port in x.ports]
    api = [x for x in p.procs if x.role == "apiserver"]
    # one port shared by the API servers, on their own loopback addresses; every other port distinct
    assert api[0].ports[0][1] == api[1].ports[0][1]
    assert len(set(ports)) == len(ports) - 1
    assert [argv_flag(a.argv, "--advertise-address") for a in api] == ["127.0.0.1", "127.0.0.2"]


def test_members_form_one_cluster_over_mutual_tls_with_the_etcd_ca() -> None:
    lay = layout(members=5)
    p = plan(lay, D, "py", Available())
    members = [x for x in p.procs if x.role == "member"]
    assert len(members) == 5
    initial = {argv_flag(m.argv, "--initial-cluster") for m in members}
    assert len(initial) == 1 and initial.pop().count("=https://127.0.0.1:") == 5
    for m in members:
        assert "--client-cert-auth" in m.argv and "--peer-client-cert-auth" in m.argv
        assert argv_flag(m.argv, "--trusted-ca-file") == f"{D}/pki/etcd/ca.crt"
        assert argv_flag(m.argv, "--data-dir") == f"{D}/data/{m.name}"
        assert m.check.kind == "http" and m.check.target.endswith("/health")  # 503 without a leader


def test_api_servers_use_every_member_the_kubernetes_ca_and_service_account_keys() -> None:
    p = plan(layout(), D, "py", Available())
    a = p.by_name("apiserver-2")
    assert argv_flag(a.argv, "--etcd-servers").count("https://127.0.0.1:") == 3
    assert argv_flag(a.argv, "--etcd-certfile") == f"{D}/pki/etcd/apiserver-etcd-client.crt"
    assert argv_flag(a.argv, "--client-ca-file") == f"{D}/pki/ca.crt"
    assert argv_flag(a.argv, "--authorization-mode") == "Node,RBAC"
    assert argv_flag(a.argv, "--service-account-key-file") == f"{D}/pki/sa.pub"
    assert argv_flag(a.argv, "--kubelet-client-certificate") == f"{D}/pki/apiserver-kubelet-client.crt"
    assert a.check.target.startswith("https://127.0.0.2:") and a.check.target.endswith("/readyz")


def test_controller_managers_and_schedulers_are_leader_elected_and_spread_over_the_api_servers() -> None:
    lay = layout()
    p = plan(lay, D, "py", Available())
    kcm = [x for x in p.procs if x.role == "controller-manager"]
    for x in kcm:
        assert "--leader-elect=true" in x.argv and "--use-service-account-credentials=true" in x.argv
        assert argv_flag(x.argv, "--root-ca-file") == f"{D}/pki/ca.crt"
    servers = {kc.path: kc.servers[0][1] for kc in p.kubeconfigs}
    urls = apiserver_urls(lay)
    assert servers[f"{D}/conf/controller-manager-1.conf"] == urls[0]
    assert servers[f"{D}/conf/controller-manager-2.conf"] == urls[1]
    assert servers[f"{D}/conf/scheduler-2.conf"] == urls[1]
    user = next(kc for kc in p.kubeconfigs if kc.path == f"{D}/kubeconfig")
    assert [name for name, _ in user.servers] == ["raftkv", "raftkv-apiserver-1", "raftkv-apiserver-2"]


def test_certificates_carry_kubeadms_names_and_groups() -> None:
    specs = {s.name: s for s in cert_specs(layout(nodes=2))}
    assert (specs["admin"].cn, specs["admin"].orgs) == ("kubernetes-admin", ("system:masters",))
    assert specs["controller-manager"].cn == "system:kube-controller-manager"
    assert specs["scheduler"].cn == "system:kube-scheduler"
    assert specs["kube-proxy"].cn == "system:kube-proxy"
    assert (specs["kubelet-node-2"].cn, specs["kubelet-node-2"].orgs) == ("system:node:node-2", ("system:nodes",))
    assert specs["apiserver-etcd-client"].ca == "etcd" and specs["apiserver-etcd-client"].cn == "kube-apiserver-etcd-client"
    api = specs["apiserver"]
    assert api.kind == "server" and {"kubernetes.default.svc", "10.0.0.1", "127.0.0.1", "127.0.0.2"} <= set(api.hosts)
    assert "127.0.1.2" in specs["kubelet-node-2-serving"].hosts


def test_real_nodes_get_a_runtime_and_a_kubelet_each_on_their_own_loopback_address() -> None:
    lay = layout(nodes=2)
    p = plan(lay, D, "py", Available())
    cri = [x for x in p.procs if x.role == "cri"]
    kubelets = [x for x in p.procs if x.role == "kubelet"]
    assert [x.stage for x in cri] == [2, 2] and [x.stage for x in kubelets] == [3, 3]
    assert [argv_flag(k.argv, "--node-ip") for k in kubelets] == ["127.0.1.1", "127.0.1.2"]
    assert len({argv_flag(c.argv, "--pod-cidr") for c in cri}) == 2
    assert len({argv_flag(c.argv, "--bridge") for c in cri}) == 2
    assert all(len(argv_flag(c.argv, "--bridge")) <= 15 for c in cri)  # IFNAMSIZ
    assert kubelets[0].check.target == "kubelet node-1 ready"
    assert "nodes/node-1/kubelet-config.yaml" in p.files
    assert node_names(lay) == ["node-1", "node-2"]


def test_missing_components_and_machines_without_root_are_said_at_start() -> None:
    p = plan(layout(nodes=2), D, "py", Available(scheduler=False, real_nodes="no root"))
    assert not [x for x in p.procs if x.role in ("scheduler", "kubelet", "cri")]
    text = "\n".join(p.notices)
    assert "scheduler: not built yet, skipping" in text
    assert "real nodes: no root" in text
    assert "kube-proxy: not built yet" in text and "DNS: not built yet" in text


def test_node_defaults_two_real_where_they_can_run_else_three_simulated() -> None:
    assert default_nodes(None, None, "") == (2, 0)
    assert default_nodes(None, None, "no root") == (0, 3)
    assert default_nodes(None, 3, "") == (0, 3)
    assert default_nodes(1, None, "") == (1, 0)


def test_a_layout_round_trips_and_bad_ones_are_refused_with_the_reason() -> None:
    lay = layout(nodes=1, simulated_nodes=2)
    assert parse_layout(lay.to_json(), "x") == lay
    with pytest.raises(LayoutError, match="not valid JSON"):
        parse_layout("{", "cluster.json")
    with pytest.raises(LayoutError, match="no format field"):
        parse_layout("{}", "cluster.json")
    with pytest.raises(LayoutError, match=f"format 99, this raftkv reads format {FORMAT}"):
        parse_layout(json.dumps({**json.loads(lay.to_json()), "format": 99}), "cluster.json")
    with pytest.raises(LayoutError, match="incomplete or damaged"):
        parse_layout(json.dumps({"format": FORMAT, "token": "t"}), "cluster.json")


def test_a_started_cluster_keeps_its_shape() -> None:
    lay = layout(members=3, simulated_nodes=2)
    check_same_shape(lay, Options(members=5), set())  # not given: the directory's shape wins
    with pytest.raises(LayoutError, match="--members 3, not 5"):
        check_same_shape(lay, Options(members=5), {"members"})
    with pytest.raises(LayoutError, match="--simulated-nodes 2, not 4"):
        check_same_shape(lay, Options(simulated_nodes=4), {"simulated_nodes"})


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(LayoutError, match="--members must be 1, 3 or 5"):
        layout(members=4)
    with pytest.raises(LayoutError, match="cannot be negative"):
        layout(nodes=-1)


def test_dns_once_and_a_userspace_proxy_per_real_node_when_they_are_built() -> None:
    lay = layout(nodes=2, simulated_nodes=1)
    p = plan(lay, D, "py", Available(proxy=True, dns=True))
    dns = p.by_name("dns")
    assert dns.stage == 2 and argv_flag(dns.argv, "--port") == str(lay.dns_port)
    assert "--register-service=true" in dns.argv
    proxies = [x for x in p.procs if x.role == "proxy"]
    assert [x.name for x in proxies] == ["proxy-node-1", "proxy-node-2"]
    assert [argv_flag(x.argv, "--nodeport-addresses") for x in proxies] == ["127.0.1.1", "127.0.1.2"]
    assert all(argv_flag(x.argv, "--proxy-mode") == "userspace" for x in proxies)
    assert "the host's iptables are left alone" in "\n".join(p.notices)
    old = Layout(**{**json.loads(lay.to_json()), "dns_port": 0})  # a layout from before DNS: no DNS planned
    assert not [x for x in plan(old, D, "py", Available(dns=True)).procs if x.role == "dns"]
