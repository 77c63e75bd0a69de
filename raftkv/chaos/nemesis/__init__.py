"""Fault mechanisms: signals to processes the harness started, and a TCP proxy for peer links."""

from raftkv.chaos.nemesis.process import NotOurProcessError, ProcessTable
from raftkv.chaos.nemesis.proxy import Direction, LinkProxy

__all__ = ["Direction", "LinkProxy", "NotOurProcessError", "ProcessTable"]
