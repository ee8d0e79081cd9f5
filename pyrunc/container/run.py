"""`run`: create + start; in the foreground also wait, forwarding signals, and exit with the
container's status (128+N when killed by signal N), then delete it unless --keep.
With a terminal and no --console-socket, the foreground run proxies the caller's terminal."""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc.container import stdio
from pyrunc.container.create import CreateRequest, create
from pyrunc.container.delete import delete
from pyrunc.container.start import start
from pyrunc.store import Store


def run(store: Store, request: CreateRequest, detach: bool = False, keep: bool = False) -> int:
    from pyrunc import _core

    if not detach:
        _core.set_child_subreaper()
    console = None
    if not detach and not request.console_socket:
        # The child sends the pty master (if the config asks for a terminal) to request.console_fd.
        console, request.console_fd = stdio.console_pair()
    try:
        creation = create(store, request)
    finally:
        if request.console_fd >= 0:
            posix.close(request.console_fd)
            request.console_fd = -1
    terminal = creation.state["terminal"]
    creation.release()
    pid: int = creation.state["pid"]
    master = -1
    try:
        if terminal and console is not None:
            master = stdio.receive_master(console)
            from pyrunc.console import copy_window_size

            copy_window_size(0, master)  # before start, so the process sees it from the beginning
        if not detach:
            stdio.forward_signals(pid)
        start(store, request.container_id)
    except BaseException:
        delete(store, request.container_id, force=True)
        raise
    finally:
        if console is not None:
            posix.close(console)
    if detach:
        return 0
    code = stdio.wait_in_foreground(pid, master)
    if not keep:
        delete(store, request.container_id, force=True)
    return code
