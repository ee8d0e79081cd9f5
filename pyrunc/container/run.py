"""`run`: create + start; in the foreground also wait, forwarding signals, and exit with the
container's status (128+N when killed by signal N), then delete it unless --keep.
With a terminal and no --console-socket, the foreground run proxies the caller's terminal."""

import os

from pyrunc.container.create import CreateRequest, create
from pyrunc.container.delete import delete
from pyrunc.container.start import start
from pyrunc.store import Store

# Every catchable signal but those that concern us rather than the container.
_NOT_FORWARDED = {9, 17, 19, 23, 28}  # KILL, CHLD, STOP, URG, WINCH
FORWARDED = [s for s in range(1, 65) if s not in _NOT_FORWARDED and not 32 <= s <= 33]


def run(store: Store, request: CreateRequest, detach: bool = False, keep: bool = False) -> int:
    from pyrunc import _core

    if not detach:
        _core.set_child_subreaper()
    console = None
    if not detach and not request.console_socket:
        console = _own_console(request)
    try:
        creation = create(store, request)
    finally:
        if request.console_fd >= 0:
            os.close(request.console_fd)
            request.console_fd = -1
    terminal = creation.state["terminal"]
    creation.release()
    pid: int = creation.state["pid"]  # type: ignore[assignment]  # state.json: pid is an int
    master = -1
    try:
        if terminal and console is not None:
            master, _ = _core.recv_fd(console)
            from pyrunc.console import copy_window_size

            copy_window_size(0, master)  # before start, so the process sees it from the beginning
        if not detach:
            _forward_signals(pid)
        start(store, request.container_id)
    except BaseException:
        delete(store, request.container_id, force=True)
        raise
    finally:
        if console is not None:
            os.close(console)
    if detach:
        return 0
    code = _proxy_and_wait(master, pid) if master >= 0 else wait_for(pid)
    if not keep:
        delete(store, request.container_id, force=True)
    return code


def _own_console(request: CreateRequest) -> int:
    """A socket pair standing in for --console-socket: the child sends the pty master to
    request.console_fd (if the config asks for a terminal), we read it from the returned end."""
    from pyrunc import _core

    ours, theirs = _core.stream_socketpair()
    request.console_fd = theirs
    return ours


def _proxy_and_wait(master: int, pid: int) -> int:
    from pyrunc import _core
    from pyrunc.console import TerminalProxy

    pidfd = _core.pidfd_open(pid)
    try:
        with TerminalProxy(master) as proxy:
            proxy.pump(pidfd)
    finally:
        os.close(pidfd)
        os.close(master)
    return wait_for(pid)


def _forward_signals(pid: int) -> None:
    import _signal

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        try:
            _signal.signal(signum, forward)
        except (OSError, ValueError):
            pass


def wait_for(pid: int) -> int:
    """Reap children (we are their subreaper) until `pid` exits; its status as an exit code."""
    while True:
        try:
            waited, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if waited == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
