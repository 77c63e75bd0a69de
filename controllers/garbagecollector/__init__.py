"""kube-controller-manager's garbagecollector controller."""
