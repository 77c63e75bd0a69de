"""Compile proto/k8s.io/**/*.proto into apiserver/k8sproto/k8s.binpb, the API server's wire schema.

The Kubernetes wire schema is data: one FileDescriptorSet (no generated Python classes), loaded at import
time by apiserver.k8sproto.schema. `--check` recompiles into memory and exits non-zero if the committed
file is stale, as scripts/gen_proto.py does for raftkv/_pb.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
SOURCES = PROTO / "k8s.io"
OUT = ROOT / "apiserver" / "k8sproto" / "k8s.binpb"


def compile_descriptors() -> bytes:
    from grpc_tools import protoc  # build-time dependency only

    files = sorted(str(p.relative_to(PROTO)) for p in SOURCES.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "k8s.binpb"
        if protoc.main(["protoc", f"-I{PROTO}", f"--descriptor_set_out={out}", "--include_imports", *files]) != 0:
            sys.exit("gen_k8s_proto: protoc failed")
        return out.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if apiserver/k8sproto/k8s.binpb is stale")
    args = parser.parse_args()
    data = compile_descriptors()
    if args.check:
        if not OUT.exists() or OUT.read_bytes() != data:
            sys.exit("gen_k8s_proto: apiserver/k8sproto/k8s.binpb is stale; run scripts/gen_k8s_proto.py and commit")
        print("gen_k8s_proto: apiserver/k8sproto/k8s.binpb is up to date")
        return
    OUT.write_bytes(data)
    print(f"gen_k8s_proto: wrote {OUT.relative_to(ROOT)} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
