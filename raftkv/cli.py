"""The `raftkv` command: `serve` a member, bring `up` a whole cluster, start a local `cluster`, manage `pki`."""

from __future__ import annotations

import sys

USAGE = """usage: raftkv <command> [flags]

commands:
  serve     run one member (etcd-compatible flags; `raftkv serve --help`)
  up        a whole HA cluster on this machine: members, API servers, controllers, nodes (`raftkv up --help`)
  down      stop what `raftkv up` started (`--dir D`)
  status    each component of a `raftkv up` cluster: PID, health, leader, RSS, CPU
  cluster   start a local 3- or 5-member cluster with mutual TLS on loopback
  pki       create a CA and issue certificates (`raftkv pki --help`)
  snapshot  `snapshot status FILE`, `snapshot restore FILE --data-dir D ...` (etcdctl's, on etcd's format)
  chaos     fault-injection scenarios with checked histories (`raftkv chaos list`, `raftkv chaos run`)
  images    a node's container images: import, list, tag, rm, build-busybox (`raftkv images --help`)
  version   print the version
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    cmd, rest = args[0], args[1:]
    if cmd == "serve":
        from raftkv.server.main import main as serve_main

        return serve_main(rest)
    if cmd in ("up", "down", "status"):
        from raftkv.up import cli as up_cli

        return {"up": up_cli.up_main, "down": up_cli.down_main, "status": up_cli.status_main}[cmd](rest)
    if cmd == "cluster":
        from raftkv.server.launcher import main as cluster_main

        return cluster_main(rest)
    if cmd == "pki":
        from raftkv.pki import main as pki_main

        return pki_main(rest)
    if cmd == "snapshot":
        from raftkv.snapshot.cli import main as snapshot_main

        return snapshot_main(rest)
    if cmd == "chaos":
        from raftkv.chaos.cli import main as chaos_main

        return chaos_main(rest)
    if cmd == "images":
        from agents.cri.images_cli import main as images_main

        return images_main(rest)
    if cmd == "version":
        from raftkv.server.services import SERVER_VERSION

        print(f"raftkv (etcd API {SERVER_VERSION})")
        return 0
    print(f"raftkv: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr, end="")
    return 2


if __name__ == "__main__":
    sys.exit(main())
