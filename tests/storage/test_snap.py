from __future__ import annotations

import hashlib
import logging
import os
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftkv.raft.types import ConfState, SnapshotMetadata
from raftkv.storage import SnapshotCorrupt, SnapshotReceiver, Snapshotter, sha256_of


def meta(index: int, term: int = 2) -> SnapshotMetadata:
    return SnapshotMetadata(ConfState([1, 2, 3], [4], [], [], False), index, term)


def image(tmp_path: pathlib.Path, content: bytes) -> str:
    p = tmp_path / f"src-{hashlib.sha1(content).hexdigest()}"
    p.write_bytes(content)
    return str(p)


@pytest.mark.unit
def test_save_then_load_newest_returns_a_verified_identical_image(tmp_path: pathlib.Path) -> None:
    snap = Snapshotter(str(tmp_path / "snap"))
    data = os.urandom(3 * (1 << 20) + 17)
    path = snap.save(meta(100), image(tmp_path, data))
    assert path == snap.path_for(meta(100))
    snap.save(meta(200, 3), image(tmp_path, b"newer"))
    got = snap.load_newest()
    assert got is not None
    m, p = got
    assert m == meta(200, 3) and pathlib.Path(p).read_bytes() == b"newer"
    assert snap.sha256(meta(100)) == hashlib.sha256(data).digest() == sha256_of(path)


@pytest.mark.unit
def test_load_newest_on_an_empty_dir(tmp_path: pathlib.Path) -> None:
    assert Snapshotter(str(tmp_path)).load_newest() is None


@pytest.mark.unit
@pytest.mark.parametrize("damage", ["flip_image", "truncate_image", "flip_sidecar", "delete_image"])
def test_a_damaged_newest_snapshot_is_skipped(tmp_path: pathlib.Path, damage: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    snap = Snapshotter(str(tmp_path / "snap"))
    snap.save(meta(10), image(tmp_path, b"old image" * 100))
    newest = pathlib.Path(snap.save(meta(20), image(tmp_path, b"new image" * 100)))
    sidecar = newest.with_name(newest.name + ".sum")
    if damage == "flip_image":
        b = bytearray(newest.read_bytes())
        b[500] ^= 0x04
        newest.write_bytes(bytes(b))
    elif damage == "truncate_image":
        newest.write_bytes(newest.read_bytes()[:-1])
    elif damage == "flip_sidecar":
        b = bytearray(sidecar.read_bytes())
        b[b.index(b'"index": 20') + 10] ^= 0x01  # "20" -> "21": still valid JSON, caught by the checksum
        sidecar.write_bytes(bytes(b))
    else:
        newest.unlink()
    with caplog.at_level(logging.WARNING):
        got = snap.load_newest()
    assert got is not None and got[0] == meta(10)
    assert pathlib.Path(got[1]).read_bytes() == b"old image" * 100
    assert "skipping" in caplog.text


@pytest.mark.unit
def test_keeps_the_newest_five(tmp_path: pathlib.Path) -> None:
    snap = Snapshotter(str(tmp_path / "snap"))
    for i in range(1, 9):
        snap.save(meta(i * 10), image(tmp_path, b"img%d" % i))
    names = sorted(os.listdir(tmp_path / "snap"))
    assert len(names) == 10
    assert all(os.path.exists(snap.path_for(meta(i * 10))) for i in range(4, 9))
    assert not os.path.exists(snap.path_for(meta(30)))


@pytest.mark.unit
def test_leftovers_of_an_interrupted_save_are_removed(tmp_path: pathlib.Path) -> None:
    d = tmp_path / "snap"
    snap = Snapshotter(str(d))
    snap.save(meta(10), image(tmp_path, b"good"))
    orphan = pathlib.Path(snap.path_for(meta(20)))
    orphan.write_bytes(b"image whose sidecar never landed")
    (d / (orphan.name + ".tmp")).write_bytes(b"half")
    (d / "0000000000000002-0000000000000030.snap.db.part").write_bytes(b"half")
    (d / "unrelated.members").write_bytes(b"not ours")
    snap2 = Snapshotter(str(d))
    assert sorted(os.listdir(d)) == sorted([os.path.basename(snap.path_for(meta(10))),
                                            os.path.basename(snap.path_for(meta(10))) + ".sum", "unrelated.members"])
    assert snap2.load_newest() == (meta(10), snap.path_for(meta(10)))


@pytest.mark.unit
def test_stream_chunks_to_a_receiver(tmp_path: pathlib.Path) -> None:
    leader = Snapshotter(str(tmp_path / "leader"))
    data = os.urandom(300_000)
    leader.save(meta(50), image(tmp_path, data))
    chunks = list(leader.open_chunks(meta(50), chunk_size=64 * 1024))
    assert max(len(c) for c in chunks) <= 64 * 1024 and len(chunks) == 5
    rx = SnapshotReceiver(str(tmp_path / "follower"), meta(50))
    for c in chunks:
        rx.write(c)
    final = rx.finish(leader.sha256(meta(50)))
    assert pathlib.Path(final).read_bytes() == data
    assert os.listdir(tmp_path / "follower") == [os.path.basename(final)]


@pytest.mark.unit
def test_receiver_rejects_a_mismatch_and_leaves_nothing(tmp_path: pathlib.Path) -> None:
    d = tmp_path / "follower"
    rx = SnapshotReceiver(str(d), meta(50))
    rx.write(b"abc")
    rx.write(b"def")
    with pytest.raises(SnapshotCorrupt) as info:
        rx.finish(hashlib.sha256(b"abcdeg").digest())
    assert "sha256" in str(info.value)
    assert os.listdir(d) == []
    with pytest.raises(ValueError):
        rx.write(b"more")


@pytest.mark.unit
def test_receiver_abort_leaves_nothing(tmp_path: pathlib.Path) -> None:
    rx = SnapshotReceiver(str(tmp_path), meta(7))
    rx.write(b"partial")
    rx.abort()
    rx.abort()
    assert os.listdir(tmp_path) == []


@pytest.mark.unit
@settings(max_examples=200, deadline=None)
@given(st.data())
def test_sidecar_damage_is_always_detected(data: st.DataObject) -> None:
    from raftkv.storage.snap import _parse_sidecar, _sidecar_bytes

    m = meta(data.draw(st.integers(min_value=1, max_value=2**63), label="index"))
    blob = _sidecar_bytes(m, 1234, hashlib.sha256(b"img").digest())
    damaged = bytearray(blob[: data.draw(st.integers(min_value=0, max_value=len(blob)), label="cut")])
    if damaged and data.draw(st.booleans(), label="flip"):
        damaged[data.draw(st.integers(min_value=0, max_value=len(damaged) - 1))] ^= 1 << data.draw(
            st.integers(min_value=0, max_value=7))
    if bytes(damaged) == blob:
        assert _parse_sidecar("x", bytes(damaged)) == (m, 1234, hashlib.sha256(b"img").digest())
    else:
        with pytest.raises(SnapshotCorrupt):
            _parse_sidecar("x", bytes(damaged))


@pytest.mark.unit
@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=5000), st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=20))
def test_any_chunking_reassembles_the_same_image(tmp_path_factory: pytest.TempPathFactory, payload: bytes,
                                                  cuts: list[int]) -> None:
    d = tmp_path_factory.mktemp("rx")
    rx = SnapshotReceiver(str(d), meta(9))
    pos = 0
    for n in cuts * (len(payload) // max(1, sum(cuts)) + 1):
        if pos >= len(payload):
            break
        rx.write(payload[pos:pos + n])
        pos += n
    rx.write(payload[pos:])
    final = rx.finish(hashlib.sha256(payload).digest())
    assert pathlib.Path(final).read_bytes() == payload
