"""The ReplicaSet and ReplicationController controllers: one pure core (`reconcile`), two adapters (`controller`)."""
