"""raftkv's kubelet: pure pod-worker cores (sync, back-off, probes, status, env, volumes) and thin adapters."""
