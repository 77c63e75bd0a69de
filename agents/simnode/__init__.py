"""Simulated (hollow) nodes, kwok-like: one process registers N Nodes through the API server, renews their
kube-node-lease Leases and moves the pods bound to them through the kubelet's observable states."""
