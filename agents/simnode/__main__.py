"""`raftkv-simnode` / `python -m agents.simnode`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point; the agent itself lands in the next commits."""
    print("raftkv-simnode: not built yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
