"""The HPACK decoder against an independent encoder (python-hyper's `hpack`): every representation, Huffman or
not, the dynamic table's eviction and size updates, and refusals of malformed blocks."""

from __future__ import annotations

import random

import hpack
import pytest

from raftkv.grpcwire.errors import CompressionError
from raftkv.grpcwire.headers import Decoder, encode_int, literal

GRPC_REQUEST = [(":method", "POST"), (":scheme", "https"), (":path", "/etcdserverpb.KV/Range"),
                (":authority", "127.0.0.1:2379"), ("te", "trailers"), ("content-type", "application/grpc"),
                ("user-agent", "grpc-go/1.59.0"), ("grpc-timeout", "29999859u"), ("token", "abc.def")]


def test_decodes_what_an_independent_encoder_writes_across_many_blocks() -> None:
    seed = random.randrange(2**32)
    print("seed", seed)
    rng = random.Random(seed)
    enc, dec = hpack.Encoder(), Decoder()
    for i in range(300):
        headers = list(GRPC_REQUEST)
        headers[7] = ("grpc-timeout", f"{rng.randrange(10**8)}u")
        headers.append((f"x-key-{rng.randrange(40)}", "v" * rng.randrange(0, 300)))
        sensitive = [hpack.NeverIndexedHeaderTuple("authorization", f"Bearer {i}")]
        block = enc.encode(headers + sensitive, huffman=bool(i % 2))
        decoded, too_large, bad = dec.decode(block, 1 << 20)
        assert not too_large and bad == ""
        assert decoded == headers + [("authorization", f"Bearer {i}")]
    assert dec.size <= 4096


def test_table_size_update_is_honoured_and_bounded() -> None:
    enc, dec = hpack.Encoder(), Decoder()
    enc.header_table_size = 100
    block = enc.encode([("a", "1"), ("b", "2")])
    assert dec.decode(block, 1 << 20)[0] == [("a", "1"), ("b", "2")]
    assert dec.max_size == 100
    with pytest.raises(CompressionError, match="exceeds"):
        Decoder(max_table_size=4096).decode(encode_int(5000, 5, 0x20), 1 << 20)


def test_oversized_header_list_is_reported_but_the_block_fully_decoded() -> None:
    enc, dec = hpack.Encoder(), Decoder()
    block = enc.encode([("big", "x" * 500), ("after", "1")])
    headers, too_large, _ = dec.decode(block, 100)
    assert too_large
    # the table still holds both entries, so the next block that refers to them decodes
    assert dec.decode(enc.encode([("big", "x" * 500), ("after", "1")]), 1 << 20)[0] == [("big", "x" * 500),
                                                                                        ("after", "1")]


@pytest.mark.parametrize("block, why", [
    (b"\xff\xff\xff\xff\xff\xff\x01", "integer too large"),
    (b"\xff", "truncated integer"),
    (b"\xc0", "out of range"),  # dynamic index 64 on an empty table
    (b"\x80", "out of range"),  # index 0
    (b"\x00\x05ab", "truncated string"),
    (b"\x00\x81\xff", "bad huffman"),
    (b"\x88\x20", "after a header field"),
])
def test_malformed_blocks_are_refused(block: bytes, why: str) -> None:
    with pytest.raises(CompressionError, match=why):
        Decoder().decode(block, 1 << 20)


def test_literal_encoding_round_trips_through_the_reference_decoder() -> None:
    block = literal("grpc-status", "0") + literal("grpc-message", b"etcdserver: no leader")
    assert hpack.Decoder().decode(block) == [("grpc-status", "0"), ("grpc-message", "etcdserver: no leader")]
