"""CRC-32C (Castagnoli), the checksum `etcdctl snapshot status` prints as the snapshot's hash.

The standard library only has zlib's CRC-32 (another polynomial), so this is the table-driven
form in pure Python: about 10 MB/s, enough for a status report on a backup file.
"""

from __future__ import annotations

_POLY = 0x82F63B78  # reflected Castagnoli polynomial


def _table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """The CRC-32C of `data`, continuing from `crc` (the value returned for the bytes before it)."""
    t = _TABLE
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
