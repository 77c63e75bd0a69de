"""Child process for the crash tests: writes group-committed batches forever, printing each
acknowledged index only after the batch's fsync returned."""

import sys

from raftkv.raft.types import Entry, EntryType, HardState
from raftkv.storage import WAL

BATCH = 50

path = sys.argv[1]
wal = WAL.create(path, b"crash-test") if not WAL.exists(path) else WAL.open(path)[0]
wal.segment_bytes = 256 * 1024
i = wal.last_index
while True:
    batch = [Entry(1, i + k, EntryType.NORMAL, b"x" * 300) for k in range(1, BATCH + 1)]
    wal.save(HardState(1, 1, i), batch, sync=True)
    i += BATCH
    print(i, flush=True)
