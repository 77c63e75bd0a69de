"""Generate the Python protobuf/gRPC modules in raftkv/_pb from proto/.

The one build step for wire code. `--check` regenerates into a temporary
directory and exits non-zero if the committed modules differ (stale).
"""

from __future__ import annotations

import argparse
import filecmp
import pathlib
import re
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
OUT = ROOT / "raftkv" / "_pb"
# runtime: the kubelet's CRI (runtime.v1) subset, proto/runtime/v1
PACKAGES = ("mvccpb", "authpb", "etcdserverpb", "raftpb", "runtime")


def generate(out: pathlib.Path) -> None:
    from grpc_tools import protoc  # build-time dependency only

    proto_include = pathlib.Path(protoc.__file__).parent / "_proto"
    # only raftkv's packages: proto/k8s.io is the API server's schema (scripts/gen_k8s_proto.py)
    files = sorted(str(p.relative_to(PROTO)) for pkg in PACKAGES for p in (PROTO / pkg).rglob("*.proto"))
    out.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO}", f"-I{proto_include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}", *files]
    if protoc.main(args) != 0:
        sys.exit("gen_proto: protoc failed")
    # protoc writes absolute imports rooted at proto/ ("from mvccpb import kv_pb2");
    # make them package-relative to raftkv._pb.
    pattern = re.compile(r"^from ((?:{})(?:\.\w+)*) import".format("|".join(PACKAGES)), re.M)
    for path in out.rglob("*.py*"):
        text = path.read_text()
        new = pattern.sub(r"from raftkv._pb.\1 import", text)
        if new != text:
            path.write_text(new)
    (out / "__init__.py").write_text('"""Generated wire code: run scripts/gen_proto.py, never edit by hand."""\n')
    for pkg in PACKAGES:
        for sub in [out / pkg, *(d for d in (out / pkg).rglob("*") if d.is_dir())]:
            if sub.name != "__pycache__":
                (sub / "__init__.py").write_text("")


def same_tree(a: pathlib.Path, b: pathlib.Path) -> bool:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if raftkv/_pb is stale")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(pathlib.Path(tmp))
            if not OUT.exists() or not same_tree(pathlib.Path(tmp), OUT):
                sys.exit("gen_proto: raftkv/_pb is stale; run scripts/gen_proto.py and commit")
        print("gen_proto: raftkv/_pb is up to date")
        return
    if OUT.exists():
        shutil.rmtree(OUT)
    generate(OUT)
    print(f"gen_proto: wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
