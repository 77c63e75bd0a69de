"""`etcdctl snapshot status`: the figures and etcd 3.4's four output formats, byte for byte.

Hash: CRC-32C over every bucket's name, then each of its keys and values, buckets in name order
(bbolt's). Revision: the main revision of the last key in the `key` bucket. Total keys: entries
in all buckets. Total size: the database's pages in use (the high-water mark), not the file size.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from raftkv.bbolt import Database
from raftkv.bbolt.crc32c import crc32c
from raftkv.snapshot.schema import parse_etcd_rev_key

FORMATS = ("simple", "table", "json", "fields")


@dataclass(frozen=True)
class Status:
    hash: int
    revision: int
    total_key: int
    total_size: int


def status_of(db: Database) -> Status:
    h = 0
    keys = 0
    rev = 0
    for name in sorted(db.root.buckets):
        h = crc32c(name, h)
        bucket = db.root.buckets[name]
        for k, v in bucket.items:
            keys += 1
            h = crc32c(k, h)
            if v:
                h = crc32c(v, h)
            if name == b"key":
                rev = parse_etcd_rev_key(k)[0]
    return Status(hash=h, revision=rev, total_key=keys, total_size=db.size)


def human_bytes(n: int) -> str:
    """go-humanize's Bytes (SI units, as etcdctl prints sizes): 65536 -> '66 kB'."""
    if n < 10:
        return f"{n} B"
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    e = int(math.floor(math.log(n) / math.log(1000)))
    val = math.floor(n / 1000 ** e * 10 + 0.5) / 10
    return (f"{val:.1f} {units[e]}" if val < 10 else f"{val:.0f} {units[e]}")


def _table(header: list[str], row: list[str]) -> str:
    widths = [max(len(h), len(c)) for h, c in zip(header, row, strict=True)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def centred(s: str, w: int) -> str:
        gap = w - len(s)
        return " " * (gap // 2) + s + " " * (gap - gap // 2)

    head = "|" + "|".join(f" {centred(h, w)} " for h, w in zip(header, widths, strict=True)) + "|"
    body = "|" + "|".join(f" {c.rjust(w)} " for c, w in zip(row, widths, strict=True)) + "|"
    return "\n".join([line, head, line, body, line]) + "\n"


def render(st: Status, fmt: str) -> str:
    """What etcdctl prints on stdout for `-w fmt` (ValueError for a format it does not have)."""
    cells = [format(st.hash, "x"), str(st.revision), str(st.total_key), human_bytes(st.total_size)]
    if fmt == "simple":
        return ", ".join(cells) + "\n"
    if fmt == "table":
        return _table(["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"], cells)
    if fmt == "json":
        return json.dumps({"hash": st.hash, "revision": st.revision, "totalKey": st.total_key,
                           "totalSize": st.total_size}, separators=(",", ":")) + "\n"
    if fmt == "fields":
        return (f'"Hash" : {st.hash}\n"Revision" : {st.revision}\n"Keys" : {st.total_key}\n'
                f'"Size" : {st.total_size}\n')
    if fmt == "protobuf":
        raise ValueError("protobuf not supported as output format")
    raise ValueError(f"unknown output format {fmt!r}")
