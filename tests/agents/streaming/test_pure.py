"""Pure parts of streaming: channel framing and exit Status, CRI log records and options, SPDY/3.1 frames,
WebSocket frames, and the kubelet's log-status rule."""

from __future__ import annotations

import json
import zlib

import pytest

from agents.kubelet.streaming import log_status_error
from agents.streaming import channels, crilog, spdy, wsframe

pytestmark = pytest.mark.unit


def test_exit_status_is_what_kubectl_reads_as_an_exit_code() -> None:
    assert channels.exit_status(["sh", "-c", "exit 0"], 0) == {"metadata": {}, "status": "Success"}
    st = channels.exit_status(["sh", "-c", "exit 3"], 3)
    assert st["reason"] == "NonZeroExitCode"
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert st["message"] == "command terminated with non-zero exit code: error executing command [sh -c exit 3], " \
                            "exit code 3"
    raw = channels.encode_status(st)
    assert raw[0] == channels.ERROR and json.loads(raw[1:]) == st


def test_protocol_choice_follows_the_servers_preference() -> None:
    offered = channels.offered_protocols("v4.channel.k8s.io, v5.channel.k8s.io")
    assert channels.pick_protocol(offered, channels.REMOTECOMMAND_PROTOCOLS) == channels.V5
    assert channels.pick_protocol(["v5.channel.k8s.io", "v4.channel.k8s.io"],
                                  channels.PORTFORWARD_PROTOCOLS) == channels.V4
    assert channels.pick_protocol(["bogus"], channels.REMOTECOMMAND_PROTOCOLS) is None
    assert channels.parse_resize(b'{"Width":120,"Height":40}') == (120, 40)
    assert channels.parse_resize(b"nope") is None
    assert channels.port_prefix(8080) == bytes([0x90, 0x1F])


LOG = [b"2026-12-08T00:00:01.000000001Z stdout F one\n",
       b"2026-12-08T00:00:02.5Z stderr F two\n",
       b"2026-12-08T00:00:03Z stdout P thr\n",
       b"2026-12-08T00:00:03.1Z stdout F ee\n",
       b"garbage line\n",
       b"2026-12-08T00:00:04+00:00 stdout F four\n"]


def render(opts: crilog.LogOptions, lines: list[bytes] = LOG) -> bytes:
    if opts.tail_lines is not None:
        lines = lines[crilog.tail_start(lines, opts.tail_lines):]
    return b"".join(crilog.Renderer(opts).render(lines))


def test_cri_records_join_partials_and_skip_garbage() -> None:
    assert render(crilog.LogOptions()) == b"one\ntwo\nthree\nfour\n"
    rec = crilog.parse_line(LOG[0])
    assert rec is not None and rec.stream == "stdout" and not rec.partial
    assert rec.time == pytest.approx(crilog.parse_time("2026-12-08T00:00:01Z") + 1e-9)


def test_tail_counts_whole_lines_and_since_limit_timestamps_apply() -> None:
    assert render(crilog.LogOptions(tail_lines=2)) == b"three\nfour\n"
    assert render(crilog.LogOptions(tail_lines=1)) == b"four\n"
    assert render(crilog.LogOptions(tail_lines=0)) == b""
    assert render(crilog.LogOptions(tail_lines=99)) == b"one\ntwo\nthree\nfour\n"
    since = crilog.parse_time("2026-12-08T00:00:02.5Z")
    assert render(crilog.LogOptions(since_time=since)) == b"two\nthree\nfour\n"
    assert render(crilog.LogOptions(limit_bytes=6)) == b"one\ntw"
    assert render(crilog.LogOptions(timestamps=True, tail_lines=1)) == b"2026-12-08T00:00:04+00:00 four\n"
    assert crilog.split_complete(b"a\nb\nc") == ([b"a\n", b"b\n"], b"c")
    assert render(crilog.LogOptions(timestamps=True, tail_lines=3)) == (
        b"2026-12-08T00:00:02.5Z two\n2026-12-08T00:00:03Z three\n2026-12-08T00:00:04+00:00 four\n")
    assert render(crilog.LogOptions(timestamps=True, since_time=0.0, tail_lines=2)) == (
        b"2026-12-08T00:00:03Z three\n2026-12-08T00:00:04+00:00 four\n")
    assert render(crilog.LogOptions(timestamps=True, since_time=0.0)).startswith(
        b"2026-12-08T00:00:01.000000001Z one\n2026-12-08T00:00:02.5Z two\n")
    assert crilog.rfc3339nano(b"2026-12-08T00:00:00.500000000Z") == b"2026-12-08T00:00:00.5Z"
    assert crilog.rfc3339nano(b"2026-12-08T00:00:00.000000000Z") == b"2026-12-08T00:00:00Z"


def test_spdy_dictionary_is_the_drafts() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    assert b"\x00\x00\x00\x06200 OK\x00\x00\x00\x07version" in spdy.DICTIONARY


def test_spdy_frames_round_trip_in_any_chunking() -> None:
    client, server = spdy.Connection(), spdy.Connection()
    wire = client.encode_syn_stream(1, {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}, fin=False)
    wire += client.encode_syn_stream(3, {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"]})
    wire += client.encode_data(3, b"GET / HTTP/1.0\r\n\r\n") + client.encode_data(1, b"", fin=True)
    wire += client.encode_ping(7) + client.encode_rst_stream(3, spdy.RST_CANCEL)
    wire += client.encode_settings([(0, 7, 65536)]) + client.encode_goaway(3)
    frames = []
    for i in range(0, len(wire), 5):
        frames += server.receive(wire[i:i + 5])
    assert [type(f).__name__ for f in frames] == ["SynStream", "SynStream", "Data", "Data", "Ping", "RstStream",
                                                  "Settings", "GoAway"]
    assert frames[0].headers == {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}
    assert frames[1].headers["streamtype"] == ["data"] and frames[1].stream_id == 3
    assert frames[2].data == b"GET / HTTP/1.0\r\n\r\n" and frames[3].fin
    assert frames[4].ping_id == 7 and frames[5].status == spdy.RST_CANCEL
    assert frames[6].entries == [(0, 7, 65536)] and frames[7].last_good_stream_id == 3
    reply = server.encode_syn_reply(1, {}) + server.encode_syn_reply(3, {"x": ["a", "b"]})
    got = client.receive(reply)
    assert got[0].stream_id == 1 and got[1].headers == {"x": ["a", "b"]}


def test_spdy_header_blocks_use_the_dictionary_and_garbage_is_a_protocol_error() -> None:
    conn = spdy.Connection()
    frame = conn.encode_syn_reply(1, {"port": ["80"]})
    block = frame[12:]
    with pytest.raises(zlib.error):
        zlib.decompressobj().decompress(block)  # needs the preset dictionary
    assert zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(block)
    bad = bytes([0x80, 0x03, 0x00, 0x02, 0, 0, 0, 8, 0, 0, 0, 1]) + b"\xff\xff\xff\xff"
    with pytest.raises(spdy.ProtocolError):
        spdy.Connection().receive(bad)
    with pytest.raises(spdy.ProtocolError):
        spdy.Connection().receive(bytes([0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]))


def test_websocket_frames_mask_fragment_and_interleave() -> None:
    assert wsframe.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3
    big = bytes(range(256)) * 300
    wire = wsframe.encode(wsframe.BINARY, b"\x01hi", b"abcd") + wsframe.encode(wsframe.BINARY, big, None)
    first = bytes([0x02, 0x02]) + b"he"  # BINARY, not final
    ping = wsframe.encode(wsframe.PING, b"p", None)
    last = bytes([0x80, 0x03]) + b"llo"
    dec = wsframe.Decoder()
    out = []
    for i in range(0, len(wire + first + ping + last), 7):
        out += dec.feed((wire + first + ping + last)[i:i + 7])
    assert [(m.opcode, m.data[:3]) for m in out] == [(2, b"\x01hi"), (2, big[:3]), (9, b"p"), (2, b"hel")]
    assert out[1].data == big and out[3].data == b"hello"


def pod(state: dict, last: dict | None = None, name: str = "c") -> dict:
    cs = {"name": name, "state": state}
    if last:
        cs["lastState"] = {"terminated": last}
    return {"metadata": {"name": "p"}, "status": {"containerStatuses": [cs]}}


def test_log_status_messages_are_the_kubelets() -> None:
    assert log_status_error(pod({"running": {}}), "c", False) is None
    assert log_status_error(pod({"running": {}}), "x", False) == 'container "x" in pod "p" is not available'
    assert log_status_error(pod({"waiting": {"reason": "ContainerCreating"}}), "c", False) == \
        'container "c" in pod "p" is waiting to start: ContainerCreating'
    assert log_status_error(pod({"waiting": {"reason": "ImagePullBackOff"}}), "c", False) == \
        'container "c" in pod "p" is waiting to start: trying and failing to pull image'
    assert log_status_error(pod({"waiting": {"reason": "ErrImagePull"}}), "c", False) == \
        'container "c" in pod "p" is waiting to start: image can\'t be pulled'
    assert log_status_error(pod({"running": {}}), "c", True) == \
        'previous terminated container "c" in pod "p" not found'
    assert log_status_error(pod({"running": {}}, {"containerID": "cri://1"}), "c", True) is None
    assert log_status_error(pod({"waiting": {"reason": "CrashLoopBackOff"}}, {"containerID": "cri://1"}), "c",
                            False) is None
    assert log_status_error(pod({"terminated": {}}), "c", False) == 'container "c" in pod "p" is terminated'
    assert log_status_error(pod({}), "c", False) == 'container "c" in pod "p" is waiting to start - no logs yet'


def test_the_protocol_cores_do_no_io() -> None:
    """channels, spdy, wsframe and crilog are sans-IO: no sockets, clocks, threads, processes or randomness."""
    import ast
    import pathlib

    forbidden = {"asyncio", "socket", "time", "random", "os", "threading", "subprocess", "ssl", "aiohttp",
                 "select", "signal"}
    base = pathlib.Path(__file__).resolve().parents[3] / "agents" / "streaming"
    for name in ("channels.py", "spdy.py", "wsframe.py", "crilog.py"):
        tree = ast.parse((base / name).read_text())
        roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not roots & forbidden, (name, roots & forbidden)
