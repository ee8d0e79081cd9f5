"""pyrunc's create for the shim, in a fork of the shim that exits when it is done.

Why: memory. A shim process lives as long as its pod, and every page it writes after the zygote's
fork is its own from then on. CPython writes to every object it touches (reference counts, the
specializing interpreter's counters in the code it runs), and create runs the most code by far
(config validation, the plan, cgroups, mounts): run in the shim, its first call made 1.6 MiB of a
pod's shim private for good, a third of its USS. Run in a fork, the same pages are the fork's and
go with it. The fork costs about a millisecond; no interpreter starts, nothing is imported.

This is what `pyrunc create` is under containerd's runc shim: the process that makes the init exits
when create is done, and the init, orphaned, comes to the shim (its subreaper: main.py). The caller
holds the service's `ops`: reap() can collect neither the worker nor the init before the caller
has registered the init's pid.

The worker dies with the thread that forked it (PR_SET_PDEATHSIG, as the runc shim starts runc):
a shim killed during a create leaves no create going on. A worker that dies without an answer
leaves what it had made so far, as a killed `pyrunc create` does; the caller cleans up. One still
at work at the caller's deadline is killed there, as the runc shim kills runc when the call's
context ends.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from pyrunc.container.base import exited_within
from pyrunc.errors import NotFound, PyruncError
from pyrunc.shim import ttrpc

ANSWER_LIMIT = 4096  # below a pipe's capacity: the worker's one write never blocks
KILLED_EXIT_WAIT = 10.0  # after SIGKILL: a task in an uninterruptible sleep dies when it leaves it


class Died(PyruncError):
    """The worker ended without an answer (killed): what it made is left for the caller."""


class TimedOut(Died):
    """The worker had not answered by the caller's deadline, and was killed."""


def call(
    operation: Callable[[], int],
    fds: tuple[int, int, int],
    log: Callable[..., None],
    deadline: float | None = None,
) -> int:
    """operation() in a fork of this process whose fds 0, 1 and 2 are `fds`: its result (an int),
    or its failure raised here (NotFound as NOT_FOUND, a PyruncError with its message, anything
    else as UNKNOWN), or Died. A worker still at work at `deadline` (time.monotonic()) is
    SIGKILLed there and TimedOut raised, as the runc shim kills a runc that outlives the call's
    context."""
    answer_read, answer_write = os.pipe2(os.O_CLOEXEC)
    shim = os.getpid()
    try:
        pid = os.fork()
    except BaseException:
        os.close(answer_read)
        os.close(answer_write)
        raise
    if pid == 0:
        os.close(answer_read)
        _work(operation, fds, answer_write, shim, log)
    os.close(answer_write)
    try:
        # The answer is written in one write below the pipe's capacity, before the worker exits:
        # its exit is all there is to wait for (EOF could come later: the init may still hold
        # the pipe, until it closes its fds).
        status = _wait(pid, deadline)
        os.set_blocking(answer_read, False)
        try:
            answer = os.read(answer_read, ANSWER_LIMIT + 1)
        except BlockingIOError:
            answer = b""
    finally:
        os.close(answer_read)
    return _result(answer, pid, status)


def _wait(pid: int, deadline: float | None) -> int:
    """The worker's wait status, or TimedOut once it is killed at `deadline`."""
    if deadline is None:
        # No deadline from the caller: the worker's own waits are bounded (pyrunc's create waits
        # on nothing without a bound), as a `pyrunc create` run by the runc shim is.
        return os.waitpid(pid, 0)[1]
    pidfd = os.pidfd_open(pid)
    try:
        remaining = deadline - time.monotonic()
        if remaining > 0 and exited_within(pidfd, remaining):
            return os.waitpid(pid, 0)[1]
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        gone = exited_within(pidfd, KILLED_EXIT_WAIT)
    finally:
        os.close(pidfd)
    if gone:
        os.waitpid(pid, 0)
        raise TimedOut(f"pyrunc create's process {pid} had not answered by the caller's deadline: killed")
    # Still in the kernel: the shim's reaper collects it whenever it exits (waitpid(-1)).
    raise TimedOut(
        f"pyrunc create's process {pid} had not answered by the caller's deadline, and had not "
        f"exited {KILLED_EXIT_WAIT:.0f} s after SIGKILL"
    )


def _work(operation: Callable[[], int], fds: tuple[int, int, int], answer: int, shim: int, log) -> None:
    """In the worker: never returns."""
    code = 1
    try:
        from pyrunc import _core

        _core.set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != shim:  # the shim died before the prctl
            os._exit(code)
        # The shim's signal handling is not ours: its wakeup fd is the shim's main loop's pipe (a
        # SIGTERM of ours written there would stop the shim). As in `pyrunc create`, the defaults.
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        reply = b"P%d" % operation()
        code = 0
    except NotFound as err:
        reply = b"N" + str(err).encode()
    except PyruncError as err:
        reply = b"E" + str(err).encode()
    except BaseException as err:  # a bug: the details to the shim's log, as ttrpc's server does
        import traceback

        log(f"create failed: {traceback.format_exc()}")
        reply = f"X{type(err).__name__}: {err}".encode()
    try:
        os.write(answer, reply[:ANSWER_LIMIT])
    finally:
        os._exit(code)


def _result(answer: bytes, pid: int, status: int) -> int:
    kind, text = answer[:1], answer[1:].decode(errors="replace")
    if kind == b"P" and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return int(text)
    if kind == b"N":
        raise ttrpc.RpcError(ttrpc.NOT_FOUND, text)
    if kind == b"E":
        raise PyruncError(text)
    if kind == b"X":
        raise ttrpc.RpcError(ttrpc.UNKNOWN, text)
    if os.WIFSIGNALED(status):
        try:
            how = f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
        except ValueError:
            how = f"was killed by signal {os.WTERMSIG(status)}"
    else:
        how = f"exited {os.waitstatus_to_exitcode(status)}"
    raise Died(f"pyrunc create's process {pid} {how} before it answered")
