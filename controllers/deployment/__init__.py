"""The Deployment controller: pure core (`reconcile`, `util`, `hashing`) and its adapter (`controller`)."""
