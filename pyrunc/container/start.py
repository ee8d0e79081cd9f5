"""`start`: release the init blocked on exec.fifo and wait until it has exec'd the user's process.

The init opened the fifo for writing with O_CLOEXEC: its execve closes it, which reads here as
end-of-file (success). If anything fails between the fifo and execve, the init writes the error
into the fifo instead. If the init dies before reaching the fifo, its pidfd says so.
"""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc import log
from pyrunc.container.base import Container, load, proc_stat
from pyrunc.errors import PyruncError
from pyrunc.store import FIFO, Store

_NOT_STARTABLE = {
    "stopped": "cannot start a container that has stopped",
    "running": "cannot start an already running container",
    "paused": "cannot start a paused container",
    "creating": "cannot start a container that is still being created",
}


def start(store: Store, container_id: str) -> None:
    lock = store.lock(container_id)
    try:
        container = load(store, container_id, locked=True)
        if container.status != "created":
            raise PyruncError(
                _NOT_STARTABLE.get(container.status, f"cannot start a {container.status} container")
            )
        log.debug(f"start {container_id}: releasing init pid {container.pid} (exec.fifo)")
        release_init(container)
        log.debug(f"start {container_id}: pid {container.pid} runs the container's process")
        run_poststart(container)
    finally:
        posix.close(lock)


def _why_stopped(container: Container) -> str:
    state = container.state
    if not state or state.get("creating"):
        return "its create never finished"
    stat = proc_stat(container.pid) if container.pid else None
    if stat is None:
        return f"its init, pid {container.pid}, has exited"
    if stat[1] != state.get("init_start"):
        return f"pid {container.pid} now belongs to another process"
    return f"its init, pid {container.pid}, is a zombie"


def release_init(container: Container) -> None:
    import select

    path = container.store.path(container.id, FIFO)
    # The pidfd first: opening the fifo releases the init, and a short-lived process can exec,
    # exit and be reaped by its parent (containerd's shim) before we would get to it.
    try:
        pidfd = posix.pidfd_open(container.pid)
    except OSError:
        raise PyruncError(f"cannot start a container that has stopped ({_why_stopped(container)})") from None
    fifo = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    # Unlinked at once: should this start be killed now, the container is no longer "created",
    # and a second start cannot wait on a fifo nobody will write.
    posix.unlink(path)
    message = bytearray()
    try:
        poller = select.poll()
        poller.register(fifo, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            events = dict(poller.poll())
            if events.get(fifo):
                chunk = _read_nonblocking(fifo)
                if chunk:
                    message += chunk
                    continue
                if events[fifo] & select.POLLHUP:
                    break  # the writer closed: execve happened, or an error was written
            if events.get(pidfd):
                message += _read_nonblocking(fifo)
                if not message:
                    raise PyruncError("container init exited before it could be started")
                break
    finally:
        posix.close(pidfd)
        posix.close(fifo)
    if message:
        raise PyruncError(f"unable to start container process: {message.decode(errors='replace')}")


def _read_nonblocking(fd: int) -> bytes:
    try:
        return posix.read(fd, 65536)
    except BlockingIOError:
        return b""


def run_poststart(container: Container) -> None:
    """poststart hooks; if one fails the container is killed and start fails (runtime-spec 1.3)."""
    poststart = (container.state.get("hooks") or {}).get("poststart")
    if not poststart:
        return
    from pyrunc import hooks

    log.debug(f"start {container.id}: running {len(poststart)} poststart hook(s)")
    try:
        hooks.run_hooks("poststart", poststart, hooks.hook_state(container.state, "running", container.pid))
    except PyruncError:
        try:
            container.signal_init(9)
        except PyruncError:
            pass
        raise
