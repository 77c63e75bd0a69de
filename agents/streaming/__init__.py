"""Streaming between kubectl, the API server, the kubelet and a runtime: logs, exec, attach and port-forward.

Pure parts (channel framing, SPDY/3.1 framing, CRI log parsing) are plain functions and classes with no I/O;
the aiohttp adapters that run them over WebSockets live beside them.
"""
