"""pyrunc/shim/worker.py: an operation in a fork of ours, its answer or its failure back here. Real
forks, no root: the operation is ours, not pyrunc's create."""

from __future__ import annotations

import os
import signal

import pytest

from pyrunc.config import ConfigError
from pyrunc.errors import NotFound, PyruncError
from pyrunc.shim import ttrpc, worker


@pytest.fixture
def fds():
    """Three pipes' write ends, as the worker's fds 0, 1 and 2; their read ends."""
    pipes = [os.pipe() for _ in range(3)]
    yield tuple(w for _, w in pipes), [r for r, _ in pipes]
    for pair in pipes:
        for fd in pair:
            os.close(fd)


def no_log(msg: str, debug: bool = False) -> None:
    raise AssertionError(f"logged: {msg}")


def test_the_answer_comes_from_another_process(fds) -> None:
    assert worker.call(os.getpid, fds[0], no_log) != os.getpid()


def test_the_operation_has_the_fds_as_0_1_2(fds) -> None:
    def operation() -> int:
        for fd, text in ((1, b"out"), (2, b"err")):
            os.write(fd, text)
        return 7

    assert worker.call(operation, fds[0], no_log) == 7
    assert [os.read(r, 10) for r in fds[1][1:]] == [b"out", b"err"]


def test_our_own_fds_0_1_2_are_left_alone(fds) -> None:
    before = [os.fstat(fd) for fd in (0, 1, 2)]
    worker.call(lambda: 0, fds[0], no_log)
    assert [os.fstat(fd) for fd in (0, 1, 2)] == before


def test_a_pyrunc_error_comes_back_with_its_message(fds) -> None:
    def operation() -> int:
        raise ConfigError("process.args", "must not be empty")

    with pytest.raises(PyruncError) as raised:
        worker.call(operation, fds[0], no_log)
    assert str(raised.value) == "invalid config.json: process.args: must not be empty"
    assert not isinstance(raised.value, worker.Died)


def test_not_found_is_not_found(fds) -> None:
    def operation() -> int:
        raise NotFound("abc")

    with pytest.raises(ttrpc.RpcError) as raised:
        worker.call(operation, fds[0], no_log)
    assert raised.value.code == ttrpc.NOT_FOUND and "abc" in raised.value.message


def test_a_bug_is_unknown_and_its_traceback_logged(fds) -> None:
    def operation() -> int:
        raise KeyError("pid")

    log_read, log_write = os.pipe()
    try:
        with pytest.raises(ttrpc.RpcError) as raised:
            worker.call(operation, fds[0], lambda msg, debug=False: os.write(log_write, msg.encode()))
        assert raised.value.code == ttrpc.UNKNOWN and raised.value.message == "KeyError: 'pid'"
        logged = os.read(log_read, 65536).decode()
    finally:
        os.close(log_read)
        os.close(log_write)
    assert logged.startswith("create failed: Traceback") and "KeyError: 'pid'" in logged


def test_a_killed_worker_is_died(fds) -> None:
    def operation() -> int:
        os.kill(os.getpid(), signal.SIGKILL)
        return 0

    with pytest.raises(worker.Died, match=r"was killed by SIGKILL before it answered"):
        worker.call(operation, fds[0], no_log)


def test_a_worker_that_exits_is_died(fds) -> None:
    def operation() -> int:
        os._exit(3)

    with pytest.raises(worker.Died, match=r"exited 3 before it answered"):
        worker.call(operation, fds[0], no_log)


def test_a_long_message_is_cut_not_blocked(fds) -> None:
    def operation() -> int:
        raise PyruncError("x" * 100_000)

    with pytest.raises(PyruncError) as raised:
        worker.call(operation, fds[0], no_log)
    assert str(raised.value) == "x" * (worker.ANSWER_LIMIT - 1)


def test_the_worker_dies_with_the_thread_that_forked_it(fds, tmp_path) -> None:
    """PR_SET_PDEATHSIG: a worker whose shim is gone does not go on with a create."""
    import threading

    marker = tmp_path / "pid"

    def operation() -> int:
        (tmp_path / "pid.new").write_text(str(os.getpid()))
        os.replace(tmp_path / "pid.new", marker)
        signal.pause()
        return 0

    def forker() -> None:
        pid = os.fork()
        if pid == 0:  # the "shim": its worker's parent, killed while the worker works
            try:
                worker.call(operation, fds[0], lambda *_a, **_k: None)
            finally:
                os._exit(0)
        while not marker.exists():
            threading.Event().wait(0.01)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    forker()
    pid = int(marker.read_text())
    for _ in range(500):
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # dead, waiting for its new parent (init) to reap it
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"worker {pid} outlived its shim")


def test_a_worker_at_work_at_the_deadline_is_killed_and_timed_out(fds, tmp_path) -> None:
    """The caller's deadline (ttrpc's timeout_nano): the worker, stopped here as a hung one would
    be, is SIGKILLed and reaped, and TimedOut (a Died: what it made gets undone) is raised."""
    import time

    marker = tmp_path / "pid"

    def operation() -> int:
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGSTOP)
        return 0

    started = time.monotonic()
    with pytest.raises(worker.TimedOut, match=r"had not answered by the caller's deadline: killed$"):
        worker.call(operation, fds[0], no_log, deadline=started + 0.5)
    assert time.monotonic() - started >= 0.5
    pid = int(marker.read_text())
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already: nothing left of it


def test_a_worker_that_answers_before_the_deadline_is_not_touched(fds) -> None:
    import time

    assert worker.call(lambda: 5, fds[0], no_log, deadline=time.monotonic() + 30) == 5


def test_a_deadline_already_past_kills_the_worker_at_once(fds) -> None:
    import time

    def operation() -> int:
        signal.pause()
        return 0

    with pytest.raises(worker.TimedOut):
        worker.call(operation, fds[0], no_log, deadline=time.monotonic() - 1)
