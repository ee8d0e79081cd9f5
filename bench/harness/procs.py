"""Child processes of the harness.

PID 1 on this machine does not reap orphans, and a created container's init is orphaned as soon as
`create` returns. So the harness is a child subreaper: every orphan below it is reparented to it, and
whenever it waits for one of its own commands it waits for *any* child, reaping orphans on the way.
Runtimes such as runc poll for a killed init to disappear, so orphans must be reaped promptly or the
measured `delete` would include our latency.

The harness runs one command at a time, which is what makes this simple wait loop correct.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import tempfile
import time
from typing import NamedTuple

PR_SET_CHILD_SUBREAPER = 36


class Completed(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


class CommandTimeout(Exception):
    """A command outlived its time limit and was killed."""


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def _raise_timeout(_signum: int, _frame: object) -> None:
    raise CommandTimeout


def wait_for(pid: int, timeout: float) -> int:
    """Wait for child `pid`, reaping any other child that exits meanwhile; return its exit code
    (negative signal number if killed). After `timeout` seconds kill it and raise CommandTimeout."""
    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        while True:
            got, status = os.wait()
            if got == pid:
                return os.waitstatus_to_exitcode(status)
    except CommandTimeout:
        signal.setitimer(signal.ITIMER_REAL, 0)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_quietly(pid)
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _wait_quietly(pid: int) -> None:
    """Reap `pid` if it is still ours. Waits for that pid only: the interrupt may have come just
    after os.wait() reaped it, and waiting for any child could then block on a live container."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def run(argv: list[str], *, timeout: float = 120.0) -> Completed:
    """Run argv with stdin from /dev/null, capture its output, reap orphans while waiting."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            proc.returncode = wait_for(proc.pid, timeout)
        except CommandTimeout:
            proc.returncode = -signal.SIGKILL
            raise CommandTimeout(f"{argv[0]} killed after {timeout:.0f} s: {' '.join(argv)}") from None
        except BaseException:
            # Ctrl-C: the child got the SIGINT too; make sure it is gone before unwinding
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            _wait_quietly(proc.pid)
            proc.returncode = -signal.SIGKILL
            raise
        out.seek(0)
        err.seek(0)
        return Completed(
            proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )


def reap_exited() -> int:
    """Reap every child that has already exited; return how many."""
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def has_children() -> bool:
    """True if any child (exited or not) is left."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def reap_until_childless(timeout: float) -> bool:
    """Reap children as they exit for up to `timeout` seconds; True if none is left."""
    deadline = time.monotonic() + timeout
    while True:
        reap_exited()
        if not has_children():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def live_children() -> list[int]:
    """Pids whose parent is this process (from /proc), zombies included."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: parse after the last ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me:
            found.append(int(entry))
    return found
