"""Deterministic addresses: the i-th node gets the i-th /24 (by default) of the cluster CIDR as spec.podCIDR and
an InternalIP from the node range; pods get the lowest free address of their node's CIDR from .2 up (.1 is the
bridge's gateway, as host-local IPAM hands them out)."""

from __future__ import annotations

import ipaddress


class AddressError(ValueError):
    """The ranges given cannot hold the nodes or pods asked for."""


def pod_cidr(cluster_cidr: str, mask: int, index: int) -> str:
    """The `index`-th subnet of size /`mask` in `cluster_cidr` (the nodeipam controller's job, done up front)."""
    net = ipaddress.ip_network(cluster_cidr, strict=False)
    if mask < net.prefixlen:
        raise AddressError(f"node CIDR mask /{mask} is larger than the cluster CIDR {cluster_cidr}")
    count = 1 << (mask - net.prefixlen)
    if index >= count:
        raise AddressError(f"cluster CIDR {cluster_cidr} holds {count} /{mask} node CIDRs; node {index} needs more "
                           f"(pass a larger --cluster-cidr)")
    size = 1 << (net.max_prefixlen - mask)
    return f"{net.network_address + index * size}/{mask}"


def node_ip(node_cidr: str, index: int) -> str:
    """The `index`-th node's InternalIP: the range's addresses from .1 on."""
    net = ipaddress.ip_network(node_cidr, strict=False)
    if index + 2 >= net.num_addresses:
        raise AddressError(f"node IP range {node_cidr} holds {net.num_addresses - 2} nodes; pass a larger "
                           f"--node-ip-range")
    return str(net.network_address + index + 1)


class PodIPs:
    """One node's pod addresses: the lowest free one, released when the pod is gone; `reserve` adopts an address
    a pod already reports (a restarted simnode must not hand it out twice)."""

    def __init__(self, cidr: str) -> None:
        self.net = ipaddress.ip_network(cidr, strict=False)
        self._by_uid: dict[str, int] = {}
        self._used: set[int] = set()
        self._capacity = self.net.num_addresses - 2  # neither the network nor the broadcast address

    def allocate(self, uid: str) -> str:
        if uid in self._by_uid:
            return str(self.net.network_address + self._by_uid[uid])
        for offset in range(2, self._capacity + 1):
            if offset not in self._used:
                self._used.add(offset)
                self._by_uid[uid] = offset
                return str(self.net.network_address + offset)
        raise AddressError(f"no free pod address left in {self.net}")

    def reserve(self, uid: str, ip: str) -> bool:
        """Record `ip` as `uid`'s; False when it is not in this node's range or already someone else's."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr not in self.net:
            return False
        offset = int(addr) - int(self.net.network_address)
        if offset in self._used and self._by_uid.get(uid) != offset:
            return False
        self._used.add(offset)
        self._by_uid[uid] = offset
        return True

    def release(self, uid: str) -> None:
        offset = self._by_uid.pop(uid, None)
        if offset is not None:
            self._used.discard(offset)

    def __len__(self) -> int:
        return len(self._by_uid)
