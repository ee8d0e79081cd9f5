"""ttrpc framing (pyrunc/shim/ttrpc.py): pure, plus calls through a Server and a Client on a unix socket;
the shim's hand-written DeleteResponse."""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest

from pyrunc.shim import ttrpc


def test_header_is_ten_big_endian_bytes() -> None:
    frame = ttrpc.encode_frame(7, ttrpc.TYPE_REQUEST, b"abc", flags=ttrpc.FLAG_REMOTE_CLOSED)
    assert frame[:10] == struct.pack(">IIBB", 3, 7, 1, 1)
    assert frame[10:] == b"abc"
    assert len(frame) == ttrpc.HEADER_SIZE + 3


def test_decoder_takes_any_split_and_several_frames() -> None:
    wire = b"".join(
        [
            ttrpc.encode_frame(1, ttrpc.TYPE_REQUEST, b"first"),
            ttrpc.encode_frame(3, ttrpc.TYPE_RESPONSE, b""),
            ttrpc.encode_frame(5, ttrpc.TYPE_DATA, b"x" * 70000, flags=1),
        ]
    )
    expected = [
        ttrpc.Frame(1, ttrpc.TYPE_REQUEST, 0, b"first"),
        ttrpc.Frame(3, ttrpc.TYPE_RESPONSE, 0, b""),
        ttrpc.Frame(5, ttrpc.TYPE_DATA, 1, b"x" * 70000),
    ]
    for step in (1, 7, 10, 11, 4096, len(wire)):
        decoder = ttrpc.FrameDecoder()
        frames = []
        for start in range(0, len(wire), step):
            frames += decoder.feed(wire[start : start + step])
        assert frames == expected, step
        assert not decoder.buffer


def test_oversized_frames_are_refused_both_ways() -> None:
    with pytest.raises(ttrpc.ProtocolError):
        ttrpc.encode_frame(1, ttrpc.TYPE_REQUEST, b"\0" * (ttrpc.MAX_DATA + 1))
    header = struct.pack(">IIBB", ttrpc.MAX_DATA + 1, 1, 1, 0)
    with pytest.raises(ttrpc.ProtocolError, match="4 MiB"):
        ttrpc.FrameDecoder().feed(header)


def test_call_reaches_the_handler_and_errors_come_back_as_status(tmp_path) -> None:
    path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)
    server = ttrpc.Server(listener)
    release = threading.Event()

    def blocking(payload: bytes) -> bytes:
        release.wait(10)
        return b"late"

    def failing(payload: bytes) -> bytes:
        raise ttrpc.RpcError(ttrpc.NOT_FOUND, "no such thing")

    server.register("svc", "Echo", lambda payload: payload[::-1])
    server.register("svc", "Block", blocking)
    server.register("svc", "Fail", failing)
    server.serve_in_thread()
    try:
        # A call that blocks does not hold up the others (as a task's Wait must not).
        slow = ttrpc.Client(path)
        result: list[bytes] = []
        waiter = threading.Thread(target=lambda: result.append(slow.call("svc", "Block", b"")))
        waiter.start()
        client = ttrpc.Client(path)
        assert client.call("svc", "Echo", b"abc") == b"cba"
        with pytest.raises(ttrpc.RpcError) as failed:
            client.call("svc", "Fail", b"")
        assert (failed.value.code, failed.value.message) == (ttrpc.NOT_FOUND, "no such thing")
        with pytest.raises(ttrpc.RpcError) as missing:
            client.call("svc", "Nope", b"")
        assert missing.value.code == ttrpc.UNIMPLEMENTED
        release.set()
        waiter.join(10)
        assert result == [b"late"]
        client.close()
        slow.close()
    finally:
        release.set()
        server.close()


def test_the_callers_timeout_is_the_handlers_deadline(tmp_path) -> None:
    """timeout_nano (containerd's context deadline) reaches the handler as ttrpc.deadline(), in
    the thread that serves that request; a request without one has None."""
    import time

    path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)
    server = ttrpc.Server(listener)

    def left(payload: bytes) -> bytes:
        at = ttrpc.deadline()
        return b"none" if at is None else b"%.3f" % (at - time.monotonic())

    server.register("svc", "Left", left)
    server.serve_in_thread()
    client = ttrpc.Client(path)
    try:
        assert 6.0 < float(client.call("svc", "Left", b"", timeout=7.0)) <= 7.0
        assert client.call("svc", "Left", b"") == b"none"
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("exit_status", [0, 1, 137, 255, 300])
@pytest.mark.parametrize("exited_ns", [0, 1, 1_700_000_000_000_000_000, 1_700_000_000_999_999_999])
def test_the_hand_written_delete_response_is_protobufs_encoding(exit_status: int, exited_ns: int) -> None:
    from pyrunc.shim.main import delete_response
    from pyrunc.shim.proto import shim_pb2

    expected = shim_pb2.DeleteResponse(exit_status=exit_status)
    expected.exited_at.FromNanoseconds(exited_ns)
    assert delete_response(exit_status, exited_ns) == expected.SerializeToString()
    assert shim_pb2.DeleteResponse.FromString(delete_response(exit_status, exited_ns)) == expected


def test_stats_map_onto_containerds_v1_metrics() -> None:
    from pyrunc.shim.metrics import v1_metrics

    stats = {
        "pids": {"current": 3, "limit": 10},
        "cpu": {"usage": {"total": 900, "kernel": 300, "user": 600, "percpu": [400, 500]}, "throttling": {}},
        "memory": {
            "cache": 4096,
            "usage": {"limit": 1 << 30, "usage": 8192, "max": 9000, "failcnt": 0},
            "swap": {"limit": 0, "failcnt": 0},
            "kernel": {"limit": 0, "failcnt": 0},
            "kernelTCP": {"limit": 0, "failcnt": 0},
            "raw": {
                "rss": 123,
                "pgfault": 7,
                "total_pgmajfault": 2,
                "hierarchical_memsw_limit": 5,
                "bogus": 1,
            },
        },
        "hugetlb": {"2MB": {"usage": 0, "max": 0, "failcnt": 1}},
        "blkio": {"ioServiceBytesRecursive": [{"major": 8, "minor": 0, "op": "Read", "value": 512}]},
    }
    m = v1_metrics(stats, {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 2})
    assert (m.pids.current, m.pids.limit) == (3, 10)
    assert (m.cpu.usage.total, m.cpu.usage.kernel, m.cpu.usage.user) == (900, 300, 600)
    assert list(m.cpu.usage.per_cpu) == [400, 500]
    assert (m.memory.cache, m.memory.rss, m.memory.pg_fault, m.memory.total_pg_maj_fault) == (4096, 123, 7, 2)
    assert m.memory.hierarchical_swap_limit == 5
    assert (m.memory.usage.limit, m.memory.usage.usage, m.memory.usage.max) == (1 << 30, 8192, 9000)
    assert m.memory_oom_control.oom_kill == 2
    assert [(h.pagesize, h.failcnt) for h in m.hugetlb] == [("2MB", 1)]
    entry = m.blkio.io_service_bytes_recursive[0]
    assert (entry.major, entry.minor, entry.op, entry.value) == (8, 0, "Read", 512)


def test_the_upb_messages_are_the_generated_modules_messages() -> None:
    """pyrunc/shim/messages.py loads the descriptor set into upb when it can, else the *_pb2 modules:
    both give the same classes' encodings, for every message of every file."""
    from pyrunc.shim import messages

    fast, modules = messages.from_upb(), messages.from_modules()
    assert set(fast) == set(modules) == set(messages.FILES)
    for name in messages.FILES:
        names = [n for n in vars(modules[name]) if not n.startswith("_")]
        assert names == [n for n in vars(fast[name]) if not n.startswith("_")], name
        for message_name in names:
            a, b = getattr(fast[name], message_name), getattr(modules[name], message_name)
            if isinstance(a, type) and hasattr(a, "DESCRIPTOR"):
                assert a.DESCRIPTOR.full_name == b.DESCRIPTOR.full_name
                assert [f.number for f in a.DESCRIPTOR.fields] == [f.number for f in b.DESCRIPTOR.fields]
            else:  # an enum: a class of its values
                assert _values(a) == _values(b), message_name
    request = fast["shim"].CreateTaskRequest(id="c", bundle="/b", terminal=True, stdout="/o")
    request.rootfs.add(type="overlay", source="overlay", options=["lowerdir=/l"])
    request.options.type_url = "x"
    same = modules["shim"].CreateTaskRequest.FromString(request.SerializeToString())
    assert same.SerializeToString() == request.SerializeToString()
    assert same.rootfs[0].options == ["lowerdir=/l"]


def _values(enum: type) -> dict:
    return {k: v for k, v in vars(enum).items() if not k.startswith("_")}


def test_the_hand_written_probe_is_a_ttrpc_connect_request() -> None:
    from pyrunc.shim.main import PROBE_METHOD, PROBE_SERVICE, probe_request
    from pyrunc.shim.messages import ttrpc as ttrpc_pb2

    expected = ttrpc_pb2.Request(service=PROBE_SERVICE, method=PROBE_METHOD)
    assert probe_request() == ttrpc.encode_frame(1, ttrpc.TYPE_REQUEST, expected.SerializeToString())


def test_a_shim_answers_only_while_it_serves(tmp_path) -> None:
    """Alive: a server answers the probe (even with an error status). Dead: no socket, or a
    listener that accepted nothing and closed (a killed shim's, mid-exit)."""
    from pyrunc.shim.main import shim_answers

    path = str(tmp_path / "s")
    assert not shim_answers(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)
    server = ttrpc.Server(listener)
    server.serve_in_thread()
    try:
        assert shim_answers(path)
    finally:
        server.close()
    dying = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.unlink(path)
    dying.bind(path)
    dying.listen(4)
    closer = threading.Timer(0.2, dying.close)  # closes with the probe's connection in its backlog
    closer.start()
    try:
        assert not shim_answers(path, timeout=30)
    finally:
        closer.join()
