"""An exec's stdio fifos and its exit, called on the shim's socket as containerd calls it.

containerd (its CRI ExecSync, ctr) opens the reading end of an exec's stdout/stderr fifos
asynchronously (github.com/containerd/fifo with O_NONBLOCK: the open(2) runs in a goroutine) and
reads until EOF before ExecSync answers -- with no bound once the exit is known. A shim that lets go of
every writer of a fifo before that open has happened leaves it blocked forever (a fifo's reader waits
for a writer) and the output lost: the rare ExecSync hang seen through this shim under load.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.daemons.test_containerd import Ctr

from .conftest import ShimContainerd

pytestmark = pytest.mark.daemons

TASK = "containerd.task.v2.Task"
SPEC_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/Process"
BOUND = 30.0  # what any one wait below gets; each says what it waited for


class Task:
    """A running `sleep` task and a ttrpc client per caller on its shim's socket."""

    def __init__(self, ctr: Ctr, containerd: ShimContainerd) -> None:
        self.cid = ctr.new_id()
        ctr.start_detached(self.cid, "sleep", "1000")
        ctr.wait_status(self.cid, "RUNNING")
        bundle = containerd.dir / "state" / "io.containerd.runtime.v2.task" / containerd.namespace / self.cid
        self.address = (bundle / "address").read_text()
        self.process = json.loads((bundle / "config.json").read_text())["process"]

    def call(self, method: str, request, response_type=None, timeout: float = BOUND):
        from pyrunc.shim import ttrpc

        client = ttrpc.Client(self.address, timeout=timeout)
        try:
            payload = client.call(TASK, method, request.SerializeToString(), timeout=timeout)
        finally:
            client.close()
        return response_type.FromString(payload) if response_type is not None else None

    def exec(self, exec_id: str, argv: list[str], stdout: str, stderr: str) -> None:
        from pyrunc.shim.proto import shim_pb2

        process = dict(self.process, args=argv, terminal=False)
        request = shim_pb2.ExecProcessRequest(id=self.cid, exec_id=exec_id, stdout=stdout, stderr=stderr)
        request.spec.type_url = SPEC_TYPE
        request.spec.value = json.dumps(process).encode()
        self.call("Exec", request)

    def start(self, exec_id: str) -> int:
        from pyrunc.shim.proto import shim_pb2

        return self.call(
            "Start", shim_pb2.StartRequest(id=self.cid, exec_id=exec_id), shim_pb2.StartResponse
        ).pid

    def wait(self, exec_id: str) -> int:
        from pyrunc.shim.proto import shim_pb2

        response = self.call(
            "Wait", shim_pb2.WaitRequest(id=self.cid, exec_id=exec_id), shim_pb2.WaitResponse
        )
        return response.exit_status

    def delete(self, exec_id: str) -> None:
        from pyrunc.shim.proto import shim_pb2

        self.call("Delete", shim_pb2.DeleteRequest(id=self.cid, exec_id=exec_id))


class Reader(threading.Thread):
    """A fifo's reader as containerd's: a blocking open(2), then reads to EOF."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True, name=f"reader {path.name}")
        self.path = path
        self.data = b""
        self.opened = False

    def run(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        self.opened = True
        try:
            while chunk := os.read(fd, 65536):
                self.data += chunk
        finally:
            os.close(fd)

    def finish(self) -> bytes:
        self.join(BOUND)
        if self.is_alive():
            what = "read to EOF" if self.opened else "open (no writer of the fifo was left)"
            raise AssertionError(f"{self.path.name}: the reader did not {what} within {BOUND:.0f} s")
        return self.data

    def release(self) -> None:
        """Unblock a reader stuck in open() or read() (the test's own clean-up)."""
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def _fifos(directory: Path, name: str) -> tuple[Path, Path]:
    out, err = directory / f"{name}.out", directory / f"{name}.err"
    os.mkfifo(out)
    os.mkfifo(err)
    return out, err


def _call_in_thread(target, *args) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = target(*args)
        except BaseException as err:  # reported by the test
            result["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _joined(thread: threading.Thread, result: dict, what: str):
    thread.join(BOUND)
    assert not thread.is_alive(), f"{what} did not answer within {BOUND:.0f} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_output_reaches_a_client_that_opens_its_fifos_late(
    ctr: Ctr, containerd: ShimContainerd, tmp_path: Path
) -> None:
    """The client's reader opens only once the exec has exited or 3 s have passed (containerd's
    goroutine, late under load): the shim must keep a writer until then, or the reader's open
    blocks for ever and the output is lost."""
    task = Task(ctr, containerd)
    out, err = _fifos(tmp_path, "late")
    task.exec("late", ["sh", "-c", "echo to-out; echo to-err >&2; exit 7"], str(out), str(err))
    readers = [Reader(out), Reader(err)]
    try:
        waiting = _call_in_thread(task.wait, "late")
        starting = _call_in_thread(task.start, "late")
        waiting[0].join(3.0)  # not an assertion: how late the readers come
        for reader in readers:
            reader.start()
        assert [reader.finish() for reader in readers] == [b"to-out\n", b"to-err\n"]
        assert _joined(*starting, "Start") > 0
        assert _joined(*waiting, "Wait") == 7
    finally:
        for reader in readers:
            reader.release()
    task.delete("late")


def test_concurrent_short_execs_each_get_their_output_and_exit_code(
    ctr: Ctr, containerd: ShimContainerd, tmp_path: Path
) -> None:
    """What ExecSync does, 8 clients at once, 64 times: Exec, Wait, Start, the output read to EOF,
    the exit status, Delete. Each exec's answer is its own."""
    task = Task(ctr, containerd)

    def one(index: int) -> tuple[int, bytes, bytes]:
        name = f"x{index}"
        out, err = _fifos(tmp_path, name)
        readers = [Reader(out), Reader(err)]
        for reader in readers:
            reader.start()  # as containerd: the opens are under way before Exec is called
        try:
            task.exec(
                name,
                ["sh", "-c", f"echo out{index}; echo err{index} >&2; exit {index % 100}"],
                str(out),
                str(err),
            )
            waiting = _call_in_thread(task.wait, name)
            task.start(name)
            status = _joined(*waiting, f"Wait of {name}")
            output, errors = (reader.finish() for reader in readers)
            task.delete(name)
            return status, output, errors
        finally:
            for reader in readers:
                reader.release()

    count = 64
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(count)))
    assert results == [(i % 100, f"out{i}\n".encode(), f"err{i}\n".encode()) for i in range(count)]


def test_an_exit_waiting_for_its_terminal_output_does_not_hold_up_others(
    ctr: Ctr, containerd: ShimContainerd, tmp_path: Path
) -> None:
    """A tty exec whose background child keeps the terminal open: its exit waits (5 s at most) for
    the terminal's output; another exec's exit, meanwhile, is reported without waiting for it."""
    task = Task(ctr, containerd)
    tty_out = tmp_path / "tty.out"
    os.mkfifo(tty_out)
    out, err = _fifos(tmp_path, "short")
    readers = [Reader(tty_out), Reader(out), Reader(err)]
    for reader in readers:
        reader.start()
    try:
        from pyrunc.shim.proto import shim_pb2

        process = dict(task.process, args=["sh", "-c", "trap '' HUP; sleep 20 & exit 4"], terminal=True)
        request = shim_pb2.ExecProcessRequest(id=task.cid, exec_id="tty", terminal=True, stdout=str(tty_out))
        request.spec.type_url = SPEC_TYPE
        request.spec.value = json.dumps(process).encode()
        task.call("Exec", request)
        tty_wait = _call_in_thread(task.wait, "tty")
        task.start("tty")
        task.exec("short", ["sh", "-c", "exit 5"], str(out), str(err))
        short_wait = _call_in_thread(task.wait, "short")
        task.start("short")
        assert _joined(*short_wait, "Wait of the short exec") == 5
        assert tty_wait[0].is_alive(), "the tty exec's exit was reported before the short one's"
        assert _joined(*tty_wait, "Wait of the tty exec") == 4
        task.delete("short")
        task.delete("tty")
    finally:
        for reader in readers:
            reader.release()


def test_kill_of_an_exec_reaches_it_and_not_after_its_exit(
    ctr: Ctr, containerd: ShimContainerd, tmp_path: Path
) -> None:
    """Kill of an exec signals its process; once its exit is collected, the pid is no longer its
    own (it may be reused): a Kill then is NotFound, as the runc shim answers."""
    from pyrunc.shim import ttrpc
    from pyrunc.shim.proto import shim_pb2

    task = Task(ctr, containerd)
    out, err = _fifos(tmp_path, "victim")
    readers = [Reader(out), Reader(err)]
    for reader in readers:
        reader.start()
    try:
        task.exec("victim", ["sleep", "100"], str(out), str(err))
        waiting = _call_in_thread(task.wait, "victim")
        task.start("victim")
        kill = shim_pb2.KillRequest(id=task.cid, exec_id="victim", signal=9)
        task.call("Kill", kill)
        assert _joined(*waiting, "Wait of the killed exec") == 137
        with pytest.raises(ttrpc.RpcError) as gone:
            task.call("Kill", kill)
        assert gone.value.code == ttrpc.NOT_FOUND
        assert [reader.finish() for reader in readers] == [b"", b""]
        task.delete("victim")
    finally:
        for reader in readers:
            reader.release()


def test_a_tty_exec_output_ends_at_its_exit_not_at_its_delete(
    ctr: Ctr, containerd: ShimContainerd, tmp_path: Path
) -> None:
    """CRI's exec with a terminal reads the stdout fifo to EOF before it deletes the exec: the
    shim closes the fifo once the terminal's output is copied, not at Delete."""
    from pyrunc.shim.proto import shim_pb2

    task = Task(ctr, containerd)
    tty_out = tmp_path / "tty.out"
    os.mkfifo(tty_out)
    reader = Reader(tty_out)
    reader.start()
    try:
        process = dict(task.process, args=["sh", "-c", "echo from-tty; exit 2"], terminal=True)
        request = shim_pb2.ExecProcessRequest(id=task.cid, exec_id="tty", terminal=True, stdout=str(tty_out))
        request.spec.type_url = SPEC_TYPE
        request.spec.value = json.dumps(process).encode()
        task.call("Exec", request)
        waiting = _call_in_thread(task.wait, "tty")
        task.start("tty")
        assert _joined(*waiting, "Wait of the tty exec") == 2
        assert reader.finish() == b"from-tty\r\n"
        task.delete("tty")
    finally:
        reader.release()
