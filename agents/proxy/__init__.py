"""raftkv-proxy: kube-proxy for raftkv nodes (see agents/proxy/README.md)."""
