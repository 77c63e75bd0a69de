"""Applying rule sets with Debian's iptables (nf_tables backend), in the node's network namespace.

Every command runs as `ip netns exec <netns> ...` when a namespace is named, else in the proxy's own. Only chains
kube-proxy owns are created, rewritten (`iptables-restore --noflush`) or deleted; the jumps from the built-in chains
are checked (-C) and inserted (-I) once, as kube-proxy does.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass

from agents.proxy.rules import FILTER_CHAINS, JUMP_RULES, NAT_CHAINS, SERVICE_CHAIN_PREFIXES

log = logging.getLogger("raftkv-proxy")


class IPTablesError(Exception):
    pass


@dataclass
class IPTables:
    netns: str = ""
    wait_s: int = 5

    def _cmd(self, *args: str) -> list[str]:
        return (["ip", "netns", "exec", self.netns] if self.netns else []) + list(args)

    async def run(self, *args: str, stdin: bytes | None = None, check: bool = True) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            *self._cmd(*args), stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate(stdin)
        text = out.decode(errors="replace")
        if check and proc.returncode != 0:
            raise IPTablesError(f"{' '.join(args[:3])}...: exit {proc.returncode}: {text.strip()[:2000]}")
        return proc.returncode or 0, text

    async def usable(self) -> str:
        """"" when iptables works here, else why not (for the userspace fallback's message)."""
        for tool in ("iptables", "iptables-restore", "iptables-save") + (("ip",) if self.netns else ()):
            if shutil.which(tool) is None:
                return f"{tool} not found"
        rc, out = await self.run("iptables", "-w", str(self.wait_s), "-t", "nat", "-L", "-n", check=False)
        return "" if rc == 0 else f"iptables -t nat -L failed: {out.strip()[:300]}"

    async def ensure_base(self, localhost_nodeports: bool) -> None:
        """Our top-level chains and the jumps to them; route_localnet for NodePorts on 127.0.0.1 (kube-proxy's)."""
        for table, chains in (("filter", FILTER_CHAINS), ("nat", NAT_CHAINS)):
            for chain in chains:
                await self.run("iptables", "-w", str(self.wait_s), "-t", table, "-N", chain, check=False)
        for j in JUMP_RULES:
            rc, _ = await self.run("iptables", "-w", str(self.wait_s), "-t", j.table, "-C", j.chain, *j.args,
                                   check=False)
            if rc != 0:
                await self.run("iptables", "-w", str(self.wait_s), "-t", j.table, "-I", j.chain, *j.args)
        if localhost_nodeports:  # the kubelet's jumps to KUBE-FIREWALL, which guards route_localnet
            await self.run("iptables", "-w", str(self.wait_s), "-t", "filter", "-N", "KUBE-FIREWALL", check=False)
            for chain in ("INPUT", "OUTPUT"):
                rc, _ = await self.run("iptables", "-w", str(self.wait_s), "-t", "filter", "-C", chain,
                                       "-j", "KUBE-FIREWALL", check=False)
                if rc != 0:
                    await self.run("iptables", "-w", str(self.wait_s), "-t", "filter", "-I", chain,
                                   "-j", "KUBE-FIREWALL")
            await self.run("sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1", check=False)

    async def service_chains(self) -> set[str]:
        """The kube-proxy service chains that exist now (a restarted proxy deletes those it no longer needs)."""
        _, out = await self.run("iptables-save", "-t", "nat")
        return {line[1:].split()[0] for line in out.splitlines()
                if line.startswith(":") and line[1:].startswith(SERVICE_CHAIN_PREFIXES)}

    async def restore(self, text: str) -> None:
        await self.run("iptables-restore", "-w", str(self.wait_s), "--noflush", stdin=text.encode())

    async def cleanup(self) -> None:
        """kube-proxy --cleanup: remove the jumps, then flush and delete every chain we own."""
        for j in JUMP_RULES:
            await self.run("iptables", "-w", str(self.wait_s), "-t", j.table, "-D", j.chain, *j.args, check=False)
        for chain in ("INPUT", "OUTPUT"):
            await self.run("iptables", "-w", str(self.wait_s), "-t", "filter", "-D", chain, "-j", "KUBE-FIREWALL",
                           check=False)
        chains = await self.service_chains()
        for table, base in (("nat", NAT_CHAINS), ("filter", FILTER_CHAINS + ("KUBE-FIREWALL",))):
            names = list(base) + (sorted(chains) if table == "nat" else [])
            for c in names:
                await self.run("iptables", "-w", str(self.wait_s), "-t", table, "-F", c, check=False)
            for c in names:
                await self.run("iptables", "-w", str(self.wait_s), "-t", table, "-X", c, check=False)
