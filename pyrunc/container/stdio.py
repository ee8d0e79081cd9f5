"""The caller's side of a container process, shared by create, run and exec: the socket that
receives the pty master (--console-socket, or our own pair in the foreground), the pid file, and,
in the foreground, signal forwarding and waiting for the process's exit status."""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc.errors import PyruncError, errno_text

# Every catchable signal but those that concern us rather than the container.
_NOT_FORWARDED = {9, 17, 19, 23, 28}  # KILL, CHLD, STOP, URG, WINCH
FORWARDED = [s for s in range(1, 65) if s not in _NOT_FORWARDED and not 32 <= s <= 33]


def connect_console_socket(path: str, floor: int) -> int:
    """--console-socket: connected before the child starts (a bad path fails first), above `floor`."""
    from pyrunc import _core
    from pyrunc.container.launch import high_fd

    try:
        return high_fd(_core.connect_unix(path), floor)
    except OSError as err:
        raise PyruncError(f"--console-socket {path}: {errno_text(err)}") from None


def console_pair() -> tuple[int, int]:
    """A socket pair standing in for --console-socket in the foreground: the child sends the pty
    master to the second end, we read it from the first (receive_master)."""
    from pyrunc import _core

    ours, theirs = _core.stream_socketpair()
    return ours, theirs


def receive_master(console: int) -> int:
    """The pty master the child sent on our end of console_pair()."""
    from pyrunc import _core

    master, _ = _core.recv_fd(console)
    return master


def write_pid_file(path: str, pid: int) -> None:
    """The decimal pid, no newline, atomically: containerd's shim parses the whole file."""
    from pyrunc.store_write import write_atomic

    try:
        write_atomic(path, str(pid).encode(), 0o644)
    except OSError as err:
        raise PyruncError(f"--pid-file {path}: {errno_text(err)}") from None


def forward_signals(pid: int) -> None:
    """Whatever signal we receive goes on to `pid` (the foreground run's init, exec's process)."""
    import _signal

    def forward(signum: int, frame: object) -> None:
        try:
            posix.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        try:
            _signal.signal(signum, forward)
        except (OSError, ValueError):
            pass


def wait_in_foreground(pid: int, master: int = -1) -> int:
    """Wait for `pid` (we are its subreaper), proxying our terminal to the pty `master` if there
    is one (closed after); its status as an exit code."""
    if master < 0:
        return wait_for(pid)
    from pyrunc import _core
    from pyrunc.console import TerminalProxy

    pidfd = _core.pidfd_open(pid)
    try:
        with TerminalProxy(master) as proxy:
            proxy.pump(pidfd)
    finally:
        posix.close(pidfd)
        posix.close(master)
    return wait_for(pid)


def wait_for(pid: int) -> int:
    """Reap children (we are their subreaper) until `pid` exits; its status as an exit code
    (128+N when killed by signal N)."""
    while True:
        try:
            waited, status = posix.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if waited == pid:
            code = posix.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
