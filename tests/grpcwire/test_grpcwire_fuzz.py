"""Seeded random input for `ServerConnection`: valid conversations mutated (bit flips, truncation, splices, random
frames, random chunking), with the server answering what it is asked in between. Whatever arrives, `receive`
either returns events or raises ConnectionError_ (never any other exception), and the state it keeps stays
within its bounds. The seed is printed; rerun one with GRPCWIRE_FUZZ_SEED=<seed>."""

from __future__ import annotations

import os
import random
import struct

import hpack
import pytest

from raftkv.grpcwire import connection as c
from raftkv.grpcwire.errors import ConnectionError_
from tests.grpcwire.test_grpcwire_connection import REQUEST, frame, message

FAST_CASES = 3000
SLOW_CASES = 60000
MAX_MESSAGE = 64 << 10


def _seed() -> int:
    seed = int(os.environ.get("GRPCWIRE_FUZZ_SEED", random.randrange(1 << 32)))
    print(f"grpcwire fuzz seed: {seed} (rerun with GRPCWIRE_FUZZ_SEED={seed})")
    return seed


def _random_frame(rng: random.Random) -> bytes:
    ftype = rng.choice([*range(10), rng.randrange(256)])
    sid = rng.choice([0, 1, 3, 5, rng.randrange(1 << 31), rng.randrange(1 << 32)])
    payload = rng.randbytes(rng.choice([0, 1, 4, 5, 8, 6, 12, rng.randrange(200)]))
    return frame(ftype, rng.randrange(256), sid & 0xFFFFFFFF, payload)


def _conversation(rng: random.Random) -> bytes:
    """A plausible client: SETTINGS, then requests, messages, window updates, pings, resets, continuations."""
    enc = hpack.Encoder()
    out = [c.PREFACE, frame(c.SETTINGS, 0, 0, struct.pack(">HL", c.S_INITIAL_WINDOW_SIZE, rng.choice(
        [0, 1, 100, 65535, 1 << 20])))]
    sid = 1
    for _ in range(rng.randrange(1, 12)):
        kind = rng.randrange(10)
        if kind < 4:  # a request with its messages
            headers = list(REQUEST)
            if rng.random() < 0.2:
                headers.append((rng.choice(["x-a", "X-B", "te", "connection", ":bad", "grpc-timeout"]),
                                rng.choice(["1", "trailers", "5S", " x", "a\nb", "v" * rng.randrange(300)])))
            block = enc.encode(headers, huffman=rng.random() < 0.5)  # only for blocks sent: HPACK state
            if rng.random() < 0.3 and len(block) > 4:
                cut = rng.randrange(1, len(block))
                out.append(frame(c.HEADERS, 0, sid, block[:cut]) + frame(c.CONTINUATION, c.END_HEADERS, sid,
                                                                          block[cut:]))
            else:
                out.append(frame(c.HEADERS, c.END_HEADERS, sid, block))
            body = message(rng.randbytes(rng.randrange(0, 3000)), compressed=int(rng.random() < 0.05))
            pos = 0
            while pos < len(body):
                n = rng.randrange(1, 2000)
                last = pos + n >= len(body)
                flags = c.END_STREAM if last and rng.random() < 0.8 else 0
                part = body[pos:pos + n]
                if rng.random() < 0.2:
                    pad = rng.randrange(0, 20)
                    out.append(frame(c.DATA, flags | c.PADDED, sid, bytes((pad,)) + part + bytes(pad)))
                else:
                    out.append(frame(c.DATA, flags, sid, part))
                pos += n
            sid += 2
        elif kind == 4:
            out.append(frame(c.PING, 0, 0, rng.randbytes(8)))
        elif kind == 5:
            out.append(frame(c.WINDOW_UPDATE, 0, rng.choice([0, sid - 2]) if sid > 1 else 0,
                             struct.pack(">L", rng.randrange(1, 1 << 20))))
        elif kind == 6 and sid > 1:
            out.append(frame(c.RST_STREAM, 0, sid - 2, struct.pack(">L", 8)))
        elif kind == 7:
            out.append(frame(c.SETTINGS, 0, 0, struct.pack(">HL", rng.choice([1, 3, 4, 5, 6, 99]),
                                                           rng.randrange(1 << 32))))
        elif kind == 8:
            out.append(frame(c.PRIORITY, 0, sid, rng.randbytes(5)))
        else:
            out.append(frame(c.GOAWAY, 0, 0, bytes(8)))
    return b"".join(out)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randrange(0, 4)):
        op = rng.randrange(6)
        if op == 0 and buf:  # flip bits
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # truncate
            del buf[rng.randrange(len(buf)):]
        elif op == 2:  # splice in a random frame
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = _random_frame(rng)
        elif op == 3 and buf:  # overwrite a byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 4 and len(buf) > 30:  # cut a slice out
            i = rng.randrange(24, len(buf))
            del buf[i:i + rng.randrange(1, 40)]
        else:  # append random frames
            buf += b"".join(_random_frame(rng) for _ in range(rng.randrange(1, 4)))
    return bytes(buf)


def _check_bounds(conn: c.ServerConnection) -> None:
    assert len(conn._inbuf) < 9 + c.DEFAULT_FRAME + len(c.PREFACE) + 4096 or not conn._preface_seen
    assert 0 <= conn.buffered <= conn.max_buffered
    assert conn.buffered == sum(len(st.buf) for st in conn.streams.values())
    assert len(conn.streams) <= c.MAX_CONCURRENT_STREAMS
    assert conn.decoder.size <= conn.decoder.max_size <= conn.decoder.max_allowed
    assert conn.decoder.invalid <= set(conn.decoder.table)
    assert conn._hdr_len <= c.MAX_HEADER_BLOCK and len(conn._hdr_parts) <= c.MAX_CONTINUATIONS + 1
    for st in conn.streams.values():
        assert st.pending_bytes == sum(len(p) for p, trailers in st.pending if not trailers)
        assert len(st.buf) <= conn.max_message + 5 + c.DEFAULT_FRAME


def _run_case(rng: random.Random) -> None:
    conn = c.ServerConnection(MAX_MESSAGE)
    data = _mutate(rng, _conversation(rng)) if rng.random() < 0.9 else rng.randbytes(rng.randrange(400))
    pos = 0
    try:
        while pos < len(data):
            n = rng.choice([1, 7, 64, 1000, len(data)])
            events = conn.receive(data[pos:pos + n])
            pos += n
            for ev in events:  # the server answers what it is asked, in all the ways it can
                if ev[0] == c.EV_REQUEST and rng.random() < 0.5:
                    conn.hold_credit(ev[1])
                elif ev[0] == c.EV_MESSAGE:
                    choice = rng.randrange(4)
                    if choice == 0:
                        conn.respond(ev[1], ev[2] * rng.randrange(1, 40))
                    elif choice == 1:
                        conn.send_message(ev[1], ev[2])
                        conn.consumed(ev[1], len(ev[2]) + 5)
                    elif choice == 2:
                        conn.send_trailers(ev[1], rng.randrange(17), "nö %")
                    else:
                        conn.reset(ev[1])
                elif ev[0] == c.EV_BAD_MESSAGE:
                    conn.send_trailers(ev[1], ev[2], ev[3])
            if rng.random() < 0.5:
                conn.take_output()
            _check_bounds(conn)
    except ConnectionError_:
        conn.goaway(1, "bye")
    assert isinstance(conn.take_output(), bytes)
    _check_bounds(conn)


def _fuzz(cases: int) -> None:
    seed = _seed()
    rng = random.Random(seed)
    for i in range(cases):
        case_seed = rng.randrange(1 << 32)
        try:
            _run_case(random.Random(case_seed))
        except Exception as err:
            raise AssertionError(f"case {i} (seed {seed}, case seed {case_seed}): {type(err).__name__}: {err}") \
                from err


def test_fuzz_receive_only_raises_connection_errors_and_stays_bounded() -> None:
    _fuzz(FAST_CASES)


@pytest.mark.slow
def test_fuzz_many_more_cases() -> None:
    _fuzz(SLOW_CASES)
