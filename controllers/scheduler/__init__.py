"""raftkv-scheduler: kube-scheduler 1.32's scheduling queue, cache, framework and default plugins, as a client of
the API server. The pure core (queue, cache, framework, plugins, preemption) takes time and randomness as inputs;
`scheduler.py` is the adapter (informers, binding, events, leader election)."""
