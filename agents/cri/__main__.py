"""`python -m agents.cri` is `raftkv-cri`."""

import sys

from agents.cri.server import main

sys.exit(main())
