"""The etcd boundary: an `Interface`-like store that speaks only the etcd v3 gRPC API (`raftkv._pb`)."""
