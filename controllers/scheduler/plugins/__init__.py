"""The default plugins of kube-scheduler 1.32's default profile, each a pure function of (pod, node snapshot)."""
