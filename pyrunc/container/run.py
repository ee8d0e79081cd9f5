"""`run`: create + start; in the foreground also wait, forwarding signals, and exit with the
container's status (128+N when killed by signal N), then delete it unless --keep."""

from __future__ import annotations

import os

from pyrunc.container.create import CreateRequest, create
from pyrunc.container.delete import delete
from pyrunc.container.start import start
from pyrunc.state import Store

# Every catchable signal but those that concern us rather than the container.
_NOT_FORWARDED = {9, 17, 19, 23, 28}  # KILL, CHLD, STOP, URG, WINCH
FORWARDED = [s for s in range(1, 65) if s not in _NOT_FORWARDED and not 32 <= s <= 33]


def run(store: Store, request: CreateRequest, detach: bool = False, keep: bool = False) -> int:
    from pyrunc import _core

    if not detach:
        _core.set_child_subreaper()
    creation = create(store, request)
    creation.release()
    pid = creation.state["pid"]
    try:
        if not detach:
            _forward_signals(pid)
        start(store, request.container_id)
    except BaseException:
        delete(store, request.container_id, force=True)
        raise
    if detach:
        return 0
    code = wait_for(pid)
    if not keep:
        delete(store, request.container_id, force=True)
    return code


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
