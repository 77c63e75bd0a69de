"""Service ports → the iptables-restore text kube-proxy 1.32's iptables mode writes (filter and nat tables).

Pure: the same chains, rule order, comments, chain-name hashes and probabilities as kube-proxy's syncProxyRules, so a
node programmed by raftkv-proxy reads like one programmed by kube-proxy in `iptables-save`. The text is applied with
`iptables-restore --noflush`: chains named here are flushed and rewritten, chains of services that went away are
flushed and deleted (`stale`), everything else on the host is untouched.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.proxy.model import Endpoint, ServicePort

MASQ_MARK = "0x4000"
LARGE_CLUSTER_ENDPOINTS = 1000  # kube-proxy drops per-endpoint comments past this many endpoints
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")
FILTER_CHAINS = ("KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL")
NAT_CHAINS = ("KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-MARK-MASQ", "KUBE-POSTROUTING")


@dataclass(frozen=True)
class Config:
    node_name: str
    cluster_cidr: str = ""                    # kube-proxy's local detector: "" = none (no pod-source rules)
    masquerade_all: bool = False
    nodeport_addresses: tuple[str, ...] = ()  # () = every local address (addrtype LOCAL)
    localhost_nodeports: bool = True


@dataclass(frozen=True)
class JumpRule:
    """A rule in a built-in chain that hands packets to ours; kube-proxy ensures these with `iptables -C/-I`."""
    table: str
    chain: str
    args: tuple[str, ...]


JUMP_RULES = (
    JumpRule("filter", "INPUT", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                 "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL")),
    JumpRule("filter", "INPUT", ("-m", "comment", "--comment", "kubernetes health check service ports",
                                 "-j", "KUBE-NODEPORTS")),
    JumpRule("filter", "INPUT", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                 "kubernetes externally-visible service portals", "-j", "KUBE-EXTERNAL-SERVICES")),
    JumpRule("filter", "FORWARD", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                   "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL")),
    JumpRule("filter", "FORWARD", ("-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD")),
    JumpRule("filter", "FORWARD", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                   "kubernetes service portals", "-j", "KUBE-SERVICES")),
    JumpRule("filter", "FORWARD", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                   "kubernetes externally-visible service portals", "-j", "KUBE-EXTERNAL-SERVICES")),
    JumpRule("filter", "OUTPUT", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                  "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL")),
    JumpRule("filter", "OUTPUT", ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                  "kubernetes service portals", "-j", "KUBE-SERVICES")),
    JumpRule("nat", "OUTPUT", ("-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")),
    JumpRule("nat", "PREROUTING", ("-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")),
    JumpRule("nat", "POSTROUTING", ("-m", "comment", "--comment", "kubernetes postrouting rules",
                                    "-j", "KUBE-POSTROUTING")),
)


def _hash16(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def port_proto_hash(sp: ServicePort) -> str:
    """kube-proxy's portProtoHash: sha256 of ServicePortName.String() + lower-case protocol, base32, 16 chars."""
    return _hash16(sp.name_string + sp.protocol.lower())


def svc_chain(sp: ServicePort) -> str:
    return "KUBE-SVC-" + port_proto_hash(sp)


def svl_chain(sp: ServicePort) -> str:
    return "KUBE-SVL-" + port_proto_hash(sp)


def ext_chain(sp: ServicePort) -> str:
    return "KUBE-EXT-" + port_proto_hash(sp)


def sep_chain(sp: ServicePort, ep: Endpoint) -> str:
    return "KUBE-SEP-" + _hash16(sp.name_string + sp.protocol.lower() + str(ep))


def probability(n: int) -> str:
    return f"{1.0 / n:0.10f}"


def _q(comment: str) -> str:
    return f'"{comment}"'


def _ready(ep: Endpoint) -> bool:
    return ep.ready and not ep.terminating


def _serving_terminating(ep: Endpoint) -> bool:
    return ep.serving and ep.terminating


def categorize(sp: ServicePort, node_name: str) -> tuple[list[Endpoint], list[Endpoint], list[Endpoint], bool]:
    """kube-proxy's CategorizeEndpoints (without topology hints): cluster, local, all reachable, has any."""
    eps = sp.endpoints
    uses_cluster = not sp.internal_local or sp.externally_accessible
    uses_local = sp.internal_local or sp.external_policy_local
    cluster: list[Endpoint] = []
    local: list[Endpoint] = []
    has_any = False
    if uses_cluster:
        cluster = [e for e in eps if _ready(e)] or [e for e in eps if _serving_terminating(e)]
        has_any = bool(cluster)
    if not uses_local:
        return cluster, local, cluster, has_any
    has_any = has_any or any(_ready(e) or _serving_terminating(e) for e in eps)
    local = [e for e in eps if e.node_name == node_name and _ready(e)] or \
            [e for e in eps if e.node_name == node_name and _serving_terminating(e)]
    if not uses_cluster:
        return cluster, local, local, has_any
    merged = {str(e): e for e in cluster}
    merged.update({str(e): e for e in local})
    return cluster, local, sorted(merged.values(), key=str), has_any


@dataclass
class RuleSet:
    """The restore text plus what the adapter needs: the service chains written (to find stale ones)."""
    text: str
    nat_chains: frozenset[str]
    filter_rules: int
    nat_rules: int


class _Buf:
    def __init__(self) -> None:
        self.chains: list[str] = []
        self.rules: list[str] = []

    def chain(self, name: str) -> None:
        self.chains.append(f":{name} - [0:0]")

    def rule(self, *args: str) -> None:
        self.rules.append(" ".join(args))


@dataclass
class _Block:
    """One service port's lines: filter rules, entry rules in KUBE-SERVICES/KUBE-NODEPORTS, and its own chains."""
    filter_rules: list[str]
    entry_rules: list[str]
    chains: list[str]
    rules: list[str]
    active: list[str]


Memo = dict[tuple[ServicePort, bool, "Config"], _Block]


def compute(ports: Sequence[ServicePort], cfg: Config, stale: Iterable[str] = (),
            unchanged: frozenset[ServicePort] = frozenset(), memo: Memo | None = None) -> RuleSet:
    """The filter+nat restore input for these service ports; `stale` service chains are flushed and deleted.

    The per-service chains (SVC/SVL/EXT/SEP) of `unchanged` ports (the same port with the same endpoints as in the
    last applied set) are left out: `--noflush` keeps chains the input does not name, so a sync rewrites only the
    services that changed (kube-proxy's partial sync). KUBE-SERVICES, KUBE-NODEPORTS and the filter table are
    always written whole. `memo` (a dict the caller keeps between syncs) holds each port's lines, so a port
    seen before costs a look-up; entries of ports no longer given are dropped from it."""
    f, n = _Buf(), _Buf()
    for c in FILTER_CHAINS:
        f.chain(c)
    for c in NAT_CHAINS:
        n.chain(c)
    n.rule("-A", "KUBE-POSTROUTING", "-m", "mark", "!", "--mark", f"{MASQ_MARK}/{MASQ_MARK}", "-j", "RETURN")
    n.rule("-A", "KUBE-POSTROUTING", "-j", "MARK", "--xor-mark", MASQ_MARK)
    n.rule("-A", "KUBE-POSTROUTING", "-m", "comment", "--comment", _q("kubernetes service traffic requiring SNAT"),
           "-j", "MASQUERADE", "--random-fully")
    n.rule("-A", "KUBE-MARK-MASQ", "-j", "MARK", "--or-mark", MASQ_MARK)
    if cfg.localhost_nodeports:
        f.chain("KUBE-FIREWALL")
        f.rule("-A", "KUBE-FIREWALL", "-m", "comment", "--comment", _q("block incoming localnet connections"),
               "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8", "-m", "conntrack", "!", "--ctstate",
               "RELATED,ESTABLISHED,DNAT", "-j", "DROP")
    large = sum(len(sp.endpoints) for sp in ports) > LARGE_CLUSTER_ENDPOINTS
    active: set[str] = set()
    fresh: Memo = {}
    for sp in ports:
        key = (sp, large, cfg)
        block = memo.get(key) if memo is not None else None
        if block is None:
            fb, nb, own = _Buf(), _Buf(), _Buf()
            acts: set[str] = set()
            _service(sp, cfg, fb, nb, own, acts, large)
            block = _Block(fb.rules, nb.rules, own.chains, own.rules, sorted(acts))
        fresh[key] = block
        f.rules.extend(block.filter_rules)
        n.rules.extend(block.entry_rules)
        if sp not in unchanged:
            n.chains.extend(block.chains)
            n.rules.extend(block.rules)
        active.update(block.active)
    if memo is not None:
        memo.clear()
        memo.update(fresh)
    for chain in sorted(set(stale) - active):
        if chain.startswith(SERVICE_CHAIN_PREFIXES):
            n.chain(chain)
            n.rule("-X", chain)
    nodeports = "KUBE-NODEPORTS"
    last = _q("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
    if not cfg.nodeport_addresses:
        dest = ["-m", "addrtype", "--dst-type", "LOCAL"]
        if not cfg.localhost_nodeports:
            dest += ["!", "-d", "127.0.0.0/8"]
        n.rule("-A", "KUBE-SERVICES", "-m", "comment", "--comment", last, *dest, "-j", nodeports)
    else:
        for ip in cfg.nodeport_addresses:
            n.rule("-A", "KUBE-SERVICES", "-m", "comment", "--comment", last, "-d", ip, "-j", nodeports)
    f.rule("-A", "KUBE-FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
    f.rule("-A", "KUBE-FORWARD", "-m", "comment", "--comment", _q("kubernetes forwarding rules"),
           "-m", "mark", "--mark", f"{MASQ_MARK}/{MASQ_MARK}", "-j", "ACCEPT")
    f.rule("-A", "KUBE-FORWARD", "-m", "comment", "--comment", _q("kubernetes forwarding conntrack rule"),
           "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
    text = "\n".join(["*filter", *f.chains, *f.rules, "COMMIT", "*nat", *n.chains, *n.rules, "COMMIT"]) + "\n"
    return RuleSet(text, frozenset(active), len(f.rules), len(n.rules))


def _service(sp: ServicePort, cfg: Config, f: _Buf, n: _Buf, own: _Buf, active: set[str], large: bool) -> None:
    """One service port's rules: entry rules into f/n, its own chains into `own` (a throwaway when unchanged)."""
    proto = sp.protocol.lower()
    name = sp.name_string
    cluster, local, reachable, has_any = categorize(sp, cfg.node_name)
    cluster_chain, local_chain, external_chain = svc_chain(sp), svl_chain(sp), ext_chain(sp)
    uses_cluster_chain = bool(cluster) and (not sp.internal_local or sp.externally_accessible)
    uses_local_chain = bool(local) and (sp.internal_local or sp.external_policy_local)
    internal_chain, has_internal = cluster_chain, has_any
    if sp.internal_local:
        internal_chain, has_internal = local_chain, bool(local)
    external_policy_chain, has_external = cluster_chain, has_any
    if sp.external_policy_local:
        external_policy_chain, has_external = local_chain, bool(local)
    uses_ext_chain = has_any and sp.externally_accessible
    if not has_any:
        int_target, int_comment = "REJECT", _q(f"{name} has no endpoints")
        ext_target, ext_comment = int_target, int_comment
    else:
        int_target, int_comment = "DROP", _q(f"{name} has no local endpoints")
        ext_target, ext_comment = int_target, int_comment
    port = str(sp.port)
    cip = ("-m", proto, "-p", proto, "-d", sp.cluster_ip, "--dport", port)
    if has_internal:
        n.rule("-A", "KUBE-SERVICES", "-m", "comment", "--comment", _q(f"{name} cluster IP"), *cip, "-j", internal_chain)
    else:
        f.rule("-A", "KUBE-SERVICES", "-m", "comment", "--comment", int_comment, *cip, "-j", int_target)
    for ip in sp.external_ips:
        dst = ("-m", proto, "-p", proto, "-d", ip, "--dport", port)
        if has_any:
            n.rule("-A", "KUBE-SERVICES", "-m", "comment", "--comment", _q(f"{name} external IP"), *dst,
                   "-j", external_chain)
        if not has_external:
            f.rule("-A", "KUBE-EXTERNAL-SERVICES", "-m", "comment", "--comment", ext_comment, *dst, "-j", ext_target)
    for ip in sp.lb_ips:
        if has_any:
            n.rule("-A", "KUBE-SERVICES", "-m", "comment", "--comment", _q(f"{name} loadbalancer IP"),
                   "-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", external_chain)
    if not has_external:
        for ip in sp.lb_ips:
            f.rule("-A", "KUBE-EXTERNAL-SERVICES", "-m", "comment", "--comment", ext_comment,
                   "-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", ext_target)
    if sp.node_port:
        np = str(sp.node_port)
        if has_any:
            n.rule("-A", "KUBE-NODEPORTS", "-m", "comment", "--comment", name, "-m", proto, "-p", proto,
                   "--dport", np, "-j", external_chain)
        if not has_external:
            f.rule("-A", "KUBE-EXTERNAL-SERVICES", "-m", "comment", "--comment", ext_comment,
                   "-m", "addrtype", "--dst-type", "LOCAL", "-m", proto, "-p", proto, "--dport", np, "-j", ext_target)
    if has_internal:
        head = ("-A", internal_chain, "-m", "comment", "--comment", _q(f"{name} cluster IP"), *cip)
        if cfg.masquerade_all:
            own.rule(*head, "-j", "KUBE-MARK-MASQ")
        elif cfg.cluster_cidr:
            own.rule(*head, "!", "-s", cfg.cluster_cidr, "-j", "KUBE-MARK-MASQ")
    if uses_ext_chain:
        own.chain(external_chain)
        active.add(external_chain)
        if not sp.external_policy_local:
            own.rule("-A", external_chain, "-m", "comment", "--comment",
                   _q(f"masquerade traffic for {name} external destinations"), "-j", "KUBE-MARK-MASQ")
        else:
            if cfg.cluster_cidr:
                own.rule("-A", external_chain, "-m", "comment", "--comment",
                       _q(f"pod traffic for {name} external destinations"), "-s", cfg.cluster_cidr, "-j", cluster_chain)
            own.rule("-A", external_chain, "-m", "comment", "--comment",
                   _q(f"masquerade LOCAL traffic for {name} external destinations"),
                   "-m", "addrtype", "--src-type", "LOCAL", "-j", "KUBE-MARK-MASQ")
            own.rule("-A", external_chain, "-m", "comment", "--comment",
                   _q(f"route LOCAL traffic for {name} external destinations"),
                   "-m", "addrtype", "--src-type", "LOCAL", "-j", cluster_chain)
        if has_external:
            own.rule("-A", external_chain, "-j", external_policy_chain)
    if uses_cluster_chain:
        own.chain(cluster_chain)
        active.add(cluster_chain)
        _to_endpoints(own, sp, cluster_chain, cluster, large)
    if uses_local_chain:
        own.chain(local_chain)
        active.add(local_chain)
        _to_endpoints(own, sp, local_chain, local, large)
    for ep in reachable:
        chain = sep_chain(sp, ep)
        own.chain(chain)
        active.add(chain)
        sep_head: list[str] = ["-A", chain] + ([] if large else ["-m", "comment", "--comment", name])
        own.rule(*sep_head, "-s", ep.ip, "-j", "KUBE-MARK-MASQ")
        if sp.affinity_seconds:
            sep_head += ["-m", "recent", "--name", chain, "--set"]
        own.rule(*sep_head, "-m", proto, "-p", proto, "-j", "DNAT", "--to-destination", str(ep))


def _to_endpoints(n: _Buf, sp: ServicePort, chain: str, eps: list[Endpoint], large: bool) -> None:
    """Affinity checks first, then one random-probability rule per endpoint (1/n, 1/(n-1), ..., the last certain)."""
    def comment(ep: Endpoint) -> list[str]:
        return [] if large else ["-m", "comment", "--comment", _q(f"{sp.name_string} -> {ep}")]
    if sp.affinity_seconds:
        for ep in eps:
            sep = sep_chain(sp, ep)
            n.rule("-A", chain, *comment(ep), "-m", "recent", "--name", sep, "--rcheck", "--seconds",
                   str(sp.affinity_seconds), "--reap", "-j", sep)
    for i, ep in enumerate(eps):
        stat = ["-m", "statistic", "--mode", "random", "--probability", probability(len(eps) - i)] \
            if i < len(eps) - 1 else []
        n.rule("-A", chain, *comment(ep), *stat, "-j", sep_chain(sp, ep))
