"""`python -m controllers` / `raftkv-controller-manager`: kube-controller-manager's command line."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from controllers.machinery.kubeconfig import KubeconfigError
from controllers.manager import run
from controllers.options import parse_options
from raftkv import eventloop


async def _main(argv: list[str]) -> int:
    options = parse_options(argv)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await run(options, stop)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    verbosity = parse_options(args).verbosity
    logging.basicConfig(level=logging.DEBUG if verbosity >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return eventloop.run(_main(args))
    except KubeconfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
