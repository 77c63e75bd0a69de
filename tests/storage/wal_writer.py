"""Child process for the crash test: writes group-committed batches forever, printing each acknowledged index."""

import sys

from raftkv.raft.types import Entry, EntryType, HardState
from raftkv.storage import WAL

path = sys.argv[1]
wal = WAL.create(path, b"crash-test") if not WAL.exists(path) else WAL.open(path)[0]
wal.segment_bytes = 256 * 1024
i = wal.last_index
while True:
    batch = [Entry(1, i + k, EntryType.NORMAL, b"x" * 300) for k in range(1, 51)]
    wal.save(HardState(1, 1, i), batch, sync=True)
    i += 50
    print(i, flush=True)
