"""kube-controller-manager's namespace controller."""
