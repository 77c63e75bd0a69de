"""The Kubernetes protobuf wire schema of the served kinds, as data.

`proto/k8s.io/**` holds our own .proto files (k8s.io/api v0.32 names and field numbers);
scripts/gen_k8s_proto.py compiles them into `k8s.binpb`, a FileDescriptorSet that `schema` loads.
`convert` turns a parsed message into the JSON-shaped dict the JSON path produces.
"""
