"""Pod DNS and /etc/hosts as the 1.32 kubelet forms them (pkg/kubelet/network/dns, kubelet_pods.go's managed hosts
file). Pure: the host's resolv.conf and hosts text come in as strings; warnings (the DNSConfigForming /
MissingClusterDNS event texts) come back for the caller to record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

MAX_NAMESERVERS = 3          # validation.MaxDNSNameservers
MAX_SEARCH_PATHS = 32        # validation.MaxDNSSearchPaths
MAX_SEARCH_CHARS = 2048      # validation.MaxDNSSearchListChars
MAX_SEARCH_LEN = 253         # DNS1123SubdomainMaxLength
DEFAULT_OPTIONS = ["ndots:5"]


@dataclass
class ResolvConf:
    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass
class PodDNS:
    config: ResolvConf
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (reason, message) Warning events on the pod


def _omit_duplicates(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _append_options(options: list[str], new: list[str]) -> list[str]:
    """Later options of the same name win (kube keeps them in a map: its order is random; first seen here)."""
    by_name: dict[str, str] = {}
    for o in options + new:
        by_name[o.split(":")[0]] = o
    return list(by_name.values())


def parse_resolv_conf(text: str) -> ResolvConf:
    """parseResolvConf: nameservers accumulate, the last search line wins (trailing dots dropped, "." skipped),
    options merge by name."""
    out = ResolvConf()
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("#"):
            continue
        f = line.split()
        if not f:
            continue
        if f[0] == "nameserver" and len(f) >= 2:
            out.servers.append(f[1])
        elif f[0] == "search":
            out.searches = [s.removesuffix(".") for s in f[1:] if s != "."]
        elif f[0] == "options":
            out.options = _append_options(out.options, f[1:])
    return out


def dns_type(pod: Obj) -> str:
    """getPodDNSType: "None", "Cluster" or "Host"; ClusterFirst on the host network falls back to Host."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "None"
    if policy == "ClusterFirstWithHostNet":
        return "Cluster"
    if policy == "ClusterFirst" and not spec.get("hostNetwork"):
        return "Cluster"
    if policy in ("ClusterFirst", "Default"):
        return "Host"
    return "Cluster"  # an invalid policy: the kubelet falls back to ClusterFirst


def _merge_pod_options(existing: list[str], pod_opts: list[Obj]) -> list[str]:
    by_name: dict[str, str] = {}
    for o in existing:
        name, _, value = o.partition(":")
        by_name[name] = value
    for po in pod_opts:
        by_name[po.get("name", "")] = po.get("value") or ""
    return [f"{k}:{v}" if v else k for k, v in by_name.items()]


def _fit_searches(searches: list[str]) -> tuple[list[str], bool]:
    exceeded = len(searches) > MAX_SEARCH_PATHS
    searches = searches[:MAX_SEARCH_PATHS]
    kept = [s for s in searches if len(s) <= MAX_SEARCH_LEN]
    exceeded = exceeded or len(kept) != len(searches)
    line_len = len(" ".join(kept))
    if line_len > MAX_SEARCH_CHARS:
        cut_len = cut = 0
        for s in reversed(kept):
            cut_len += len(s) + 1
            cut += 1
            if line_len - cut_len <= MAX_SEARCH_CHARS:
                break
        kept = kept[:len(kept) - cut]
        exceeded = True
    return kept, exceeded


def pod_dns(pod: Obj, cluster_dns: list[str], cluster_domain: str, host_resolv: str | None,
            node_ips: list[str] | None = None) -> PodDNS:
    """GetPodDNS. host_resolv is the text of --resolv-conf (None when the flag is empty)."""
    base = parse_resolv_conf(host_resolv) if host_resolv is not None else ResolvConf()
    warnings: list[tuple[str, str]] = []
    kind = dns_type(pod)
    meta = pod.get("metadata") or {}
    if kind == "None":
        base = ResolvConf()
    elif kind == "Cluster" and cluster_dns:
        searches = base.searches
        if cluster_domain:
            ns = meta.get("namespace") or "default"
            searches = _omit_duplicates([f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
                                        + searches)
        base = ResolvConf(servers=list(cluster_dns), searches=searches, options=list(DEFAULT_OPTIONS))
    else:
        if kind == "Cluster":
            msg = ("kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" "
                   "policy. Falling back to \"Default\" policy.")
            warnings.append(("MissingClusterDNS", f"pod: \"{meta.get('name')}_{meta.get('namespace')}"
                                                  f"({meta.get('uid')})\". {msg}"))
        if host_resolv is None:
            base.servers = ["::1" if ":" in ip else "127.0.0.1" for ip in node_ips or []] or ["127.0.0.1"]
            base.searches = ["."]
    pod_cfg = (pod.get("spec") or {}).get("dnsConfig")
    if pod_cfg is not None:
        base.servers = _omit_duplicates(base.servers + list(pod_cfg.get("nameservers") or []))
        base.searches = _omit_duplicates(base.searches + list(pod_cfg.get("searches") or []))
        base.options = _merge_pod_options(base.options, list(pod_cfg.get("options") or []))
    if len(base.servers) > MAX_NAMESERVERS:
        base.servers = base.servers[:MAX_NAMESERVERS]
        warnings.append(("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been omitted, "
                                             f"the applied nameserver line is: {' '.join(base.servers)}"))
    base.searches, exceeded = _fit_searches(base.searches)
    if exceeded:
        warnings.append(("DNSConfigForming", "Search Line limits were exceeded, some search paths have been "
                                             f"omitted, the applied search line is: {' '.join(base.searches)}"))
    return PodDNS(base, warnings)


def resolv_conf_text(cfg: ResolvConf) -> str:
    """What containerd (and raftkv-cri) write from a CRI DNSConfig."""
    lines = [f"search {' '.join(cfg.searches)}"] if cfg.searches else []
    lines += [f"nameserver {s}" for s in cfg.servers]
    lines += [f"options {' '.join(cfg.options)}"] if cfg.options else []
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ /etc/hosts
def _aliases(pod: Obj) -> str:
    aliases = (pod.get("spec") or {}).get("hostAliases") or []
    if not aliases:
        return ""
    return "\n# Entries added by HostAliases.\n" + "".join(
        f"{a.get('ip', '')}\t{chr(9).join(a.get('hostnames') or [])}\n" for a in aliases)


def hostname_and_domain(pod: Obj, cluster_domain: str) -> tuple[str, str]:
    """GeneratePodHostNameAndDomain (hostname truncated to 63 as the kubelet does)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    host = spec.get("hostname") or meta.get("name") or ""
    if len(host) > 63:
        host = host[:63].rstrip("-.")
    domain = ""
    if spec.get("subdomain"):
        domain = f"{spec['subdomain']}.{meta.get('namespace') or 'default'}.svc.{cluster_domain}"
    return host, domain


def hosts_file(pod: Obj, pod_ips: list[str], cluster_domain: str, node_hosts: str = "") -> str:
    """managedHostsFileContent, or nodeHostsFileContent for a host-network pod (the node's file + aliases)."""
    if (pod.get("spec") or {}).get("hostNetwork"):
        return "# Kubernetes-managed hosts file (host network).\n" + node_hosts + _aliases(pod)
    host, domain = hostname_and_domain(pod, cluster_domain)
    out = ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
           "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
    for ip in pod_ips:
        out += f"{ip}\t{host}.{domain}\t{host}\n" if domain else f"{ip}\t{host}\n"
    return out + _aliases(pod)
