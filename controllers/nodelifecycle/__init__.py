"""kube-controller-manager's nodelifecycle controller."""
