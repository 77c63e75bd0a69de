from __future__ import annotations

import os
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftkv.raft.types import ConfState, Entry, EntryType, HardState, SnapshotMetadata
from raftkv.storage import WAL, WALCorrupt
from raftkv.storage import records as rec


def ents(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(term, i, EntryType.NORMAL, b"data-%d" % i) for i in range(lo, hi + 1)]


@pytest.mark.unit
def test_round_trip(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"meta")
    w.save(HardState(1, 2, 0), ents(1, 10))
    w.save(HardState(1, 2, 10), [])
    w.close()
    w2, state = WAL.open(str(tmp_path))
    assert state.metadata == b"meta" and state.hard_state == HardState(1, 2, 10)
    assert state.entries == ents(1, 10) and w2.last_index == 10
    w2.close()


@pytest.mark.unit
def test_create_refuses_existing(tmp_path: pathlib.Path) -> None:
    WAL.create(str(tmp_path), b"m").close()
    with pytest.raises(FileExistsError):
        WAL.create(str(tmp_path), b"m")


@pytest.mark.unit
def test_conflicting_rewrite_replaces_the_tail(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.save(None, ents(1, 10, term=1))
    w.save(None, ents(6, 8, term=2))
    w.close()
    _, state = WAL.open(str(tmp_path))
    assert state.entries == ents(1, 5, 1) + ents(6, 8, 2)


@pytest.mark.unit
def test_segments_snapshot_and_release(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.segment_bytes = 600
    for i in range(1, 101, 10):
        w.save(HardState(1, 1, i), ents(i, i + 9))
    assert len(w.segments) > 3
    w.save_snapshot(SnapshotMetadata(ConfState([1, 2, 3]), 60, 1))
    w.release_to(60)
    assert 1 < w.segments[0].first_index <= 61, "release_to removed nothing, or the segment holding 61"
    w.close()
    _, state = WAL.open(str(tmp_path))
    assert state.snapshot == SnapshotMetadata(ConfState([1, 2, 3]), 60, 1)
    assert [e.index for e in state.entries] == list(range(61, 101))
    assert state.hard_state.commit == 91


@pytest.mark.unit
def test_snapshot_beyond_the_log_then_new_entries(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.save(None, ents(1, 5))
    w.save_snapshot(SnapshotMetadata(ConfState([1]), 500, 3))
    w.save(None, ents(501, 503, 3))
    w.close()
    _, state = WAL.open(str(tmp_path))
    assert [e.index for e in state.entries] == [501, 502, 503]


def _only_segment(tmp_path: pathlib.Path) -> pathlib.Path:
    (seg,) = [p for p in tmp_path.iterdir() if p.suffix == ".wal"]
    return seg


@pytest.mark.unit
def test_torn_tail_is_truncated(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.save(None, ents(1, 5))
    w.save(None, ents(6, 9))
    w.close()
    seg = _only_segment(tmp_path)
    size = seg.stat().st_size
    with open(seg, "r+b") as fh:
        fh.truncate(size - 7)
    _, state = WAL.open(str(tmp_path))
    assert [e.index for e in state.entries] == [1, 2, 3, 4, 5]
    assert "torn write" in caplog.text
    w2, state2 = WAL.open(str(tmp_path))  # the file was repaired: it now opens cleanly and appends work
    w2.save(None, ents(6, 7))
    w2.close()
    assert [e.index for e in WAL.open(str(tmp_path))[1].entries] == list(range(1, 8))


@pytest.mark.unit
def test_bitflip_in_last_record_is_a_torn_tail(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.save(None, ents(1, 5))
    w.save(None, ents(6, 9))
    w.close()
    seg = _only_segment(tmp_path)
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0x40
    seg.write_bytes(bytes(data))
    _, state = WAL.open(str(tmp_path))
    assert [e.index for e in state.entries] == [1, 2, 3, 4, 5]


@pytest.mark.unit
def test_corruption_before_the_tail_stops_with_file_and_offset(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.save(None, ents(1, 5))
    w.save(None, ents(6, 9))
    w.close()
    seg = _only_segment(tmp_path)
    data = bytearray(seg.read_bytes())
    first_entries = data.index(b"data-1")
    data[first_entries] ^= 0x01
    seg.write_bytes(bytes(data))
    with pytest.raises(WALCorrupt) as info:
        WAL.open(str(tmp_path))
    assert str(seg) in str(info.value) and "offset" in str(info.value)


@pytest.mark.unit
@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=20), st.data())
def test_decoder_never_accepts_damage_silently(n: int, data: st.DataObject) -> None:
    """Random truncations and bit flips: the decoder yields a prefix of the records, then stops with an error."""
    batches = [ents(i * 3 + 1, i * 3 + 3) for i in range(n)]
    blob = b"".join(rec.encode_entries(b) for b in batches)
    cut = data.draw(st.integers(min_value=0, max_value=len(blob)))
    flip = data.draw(st.one_of(st.none(), st.integers(min_value=0, max_value=max(0, cut - 1))))
    damaged = bytearray(blob[:cut])
    if flip is not None and damaged:
        damaged[flip] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    got: list[list[Entry]] = []
    try:
        for r in rec.iter_records(bytes(damaged)):
            got.append(rec.decode_entries(r.payload))
    except rec.DecodeError:
        pass
    except rec.PayloadError:
        return  # a damaged payload that still passed the CRC: reported as corrupt, never returned
    assert got == batches[: len(got)], "decoder returned a record that was not written"
    if flip is None and cut == len(blob):
        assert got == batches


@pytest.mark.unit
def test_fsync_failure_raises(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = WAL.create(str(tmp_path), b"m")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    with pytest.raises(OSError):
        w.save(None, ents(1, 1))
    monkeypatch.undo()
    with pytest.raises(OSError, match="earlier write or fsync failed"):  # no retry that could "succeed"
        w.save(None, ents(1, 1))


def _write_batches(path: pathlib.Path, n: int) -> list[list[Entry]]:
    batches = [ents(i * 4 + 1, i * 4 + 4) for i in range(n)]
    w = WAL.create(str(path), b"m")
    for b in batches:
        w.save(None, b)
    w.close()
    return batches


@pytest.mark.unit
def test_length_flip_before_the_tail_is_corruption_not_a_torn_tail(tmp_path: pathlib.Path) -> None:
    """A length field made larger than the rest of the file must not pass for an interrupted write."""
    _write_batches(tmp_path, 5)
    seg = _only_segment(tmp_path)
    data = bytearray(seg.read_bytes())
    records = list(rec.iter_records(bytes(data)))
    victim = records[3]  # an ENTRIES record with two more after it
    assert victim.type == rec.RecordType.ENTRIES
    data[victim.offset + 1] ^= 0x10  # length grows by 1 MiB: runs past the end of the file
    seg.write_bytes(bytes(data))
    with pytest.raises(WALCorrupt) as info:
        WAL.open(str(tmp_path))
    assert info.value.offset == victim.offset and info.value.path == str(seg)


@pytest.mark.unit
@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=2, max_value=8), st.data())
def test_wal_open_damage_is_repaired_or_reported(n: int, data: st.DataObject) -> None:
    """Truncation anywhere: a prefix of whole batches survives. A bit flip in any record but the
    last: WALCorrupt naming the segment and the damaged record's offset. Never a wrong entry."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d)
        batches = _write_batches(path, n)
        seg = _only_segment(path)
        blob = seg.read_bytes()
        offsets = [r.offset for r in rec.iter_records(blob)]
        header_end = offsets[2]  # metadata + initial hard state: written atomically at creation
        if data.draw(st.booleans(), label="truncate"):
            cut = data.draw(st.integers(min_value=header_end, max_value=len(blob)), label="cut")
            seg.write_bytes(blob[:cut])
            w, state = WAL.open(str(path))
            w.close()
            ends = [*offsets[1:], len(blob)]  # record i spans offsets[i]:ends[i]; records 2.. are the batches
            whole = sum(1 for end in ends[2:] if end <= cut)
            assert state.entries == [e for b in batches[:whole] for e in b]
            assert seg.stat().st_size == ends[1 + whole], "the torn record was not cut off"
        else:
            pos = data.draw(st.integers(min_value=0, max_value=len(blob) - 1), label="flip at")
            damaged = bytearray(blob)
            damaged[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7), label="bit")
            seg.write_bytes(bytes(damaged))
            owner = max(o for o in offsets if o <= pos)
            if owner == offsets[-1]:
                w, state = WAL.open(str(path))  # the last record: indistinguishable from a torn write
                w.close()
                assert state.entries == [e for b in batches[:-1] for e in b]
            else:
                with pytest.raises(WALCorrupt) as info:
                    WAL.open(str(path))
                assert info.value.path == str(seg) and info.value.offset == owner
                assert str(seg) in str(info.value) and f"offset {owner}" in str(info.value)


@pytest.mark.unit
def test_release_needs_a_snapshot_marker(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.segment_bytes = 300
    for i in range(1, 41, 4):
        w.save(HardState(1, 1, i), ents(i, i + 3))
    n = len(w.segments)
    w.release_to(40)  # no snapshot marker: nothing may go
    assert len(w.segments) == n
    w.save_snapshot(SnapshotMetadata(ConfState([1]), 20, 1))
    w.release_to(40)  # clamped to the marker at 20
    assert w.segments[0].first_index <= 21
    w.close()
    _, state = WAL.open(str(tmp_path))
    assert [e.index for e in state.entries] == list(range(21, 41))


@pytest.mark.unit
def test_save_rejects_a_gap(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.save(None, ents(1, 3))
    with pytest.raises(ValueError):
        w.save(None, ents(5, 6))
    with pytest.raises(ValueError):
        w.save(None, [Entry(1, 4), Entry(1, 6)])
    w.close()


@pytest.mark.unit
def test_a_segment_without_its_header_is_corrupt(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.close()
    seg = _only_segment(tmp_path)
    seg.write_bytes(seg.read_bytes()[:5])
    with pytest.raises(WALCorrupt) as info:
        WAL.open(str(tmp_path))
    assert info.value.offset == 0
    assert seg.stat().st_size == 5, "a damaged header must not be 'repaired' by truncation"


@pytest.mark.unit
def test_a_missing_middle_segment_is_corrupt(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.segment_bytes = 300
    for i in range(1, 41, 4):
        w.save(None, ents(i, i + 3))
    assert len(w.segments) >= 3
    os.unlink(w.segments[1].path)
    w.close()
    with pytest.raises(WALCorrupt):
        WAL.open(str(tmp_path))


@pytest.mark.unit
def test_a_snapshot_from_a_diverging_leader_drops_the_entries_after_it(tmp_path: pathlib.Path) -> None:
    w = WAL.create(str(tmp_path), b"m")
    w.save(None, ents(1, 10, term=1))
    w.save_snapshot(SnapshotMetadata(ConfState([1]), 5, 1))  # local compaction: entry 5 has term 1
    w.close()
    _, state = WAL.open(str(tmp_path))
    assert [e.index for e in state.entries] == list(range(6, 11))
    w, _ = WAL.open(str(tmp_path))
    w.save_snapshot(SnapshotMetadata(ConfState([1]), 7, 2))  # restored from a leader: our entry 7 has term 1
    w.save(None, ents(8, 9, term=2))
    w.close()
    _, state = WAL.open(str(tmp_path))
    assert state.entries == ents(8, 9, term=2)


@pytest.mark.unit
def test_a_huge_batch_is_split_into_records(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rec, "SPLIT_RECORD_BYTES", 1000)
    w = WAL.create(str(tmp_path), b"m")
    batch = [Entry(1, i, EntryType.NORMAL, b"y" * 200) for i in range(1, 21)]
    w.save(HardState(1, 1, 0), batch)
    w.close()
    kinds = [r.type for r in rec.iter_records(_only_segment(tmp_path).read_bytes())]
    assert kinds.count(rec.RecordType.ENTRIES) >= 4
    assert WAL.open(str(tmp_path))[1].entries == batch
