"""A container as recorded in the store, with its derived status.

The status is derived, never trusted: the init pid must be alive with the start time we recorded
(a reused pid is another process), exec.fifo present means created, a frozen cgroup means paused.
"""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc.errors import NotFound, PyruncError, errno_text
from pyrunc.paths import path_exists, read_bytes
from pyrunc.store import FIFO, Store


class Container:
    __slots__ = ("id", "state", "status", "store")

    def __init__(self, store: Store, container_id: str, locked: bool = False) -> None:
        self.store = store
        self.id = container_id
        self.state = store.read(container_id)
        self.status = derive_status(store, container_id, self.state, locked=locked)

    @property
    def pid(self) -> int:
        return self.state.get("pid") or 0

    def cgroup(self):
        """The container's cgroup manager, or None when it has none."""
        if not self.state.get("cgroup"):
            return None
        from pyrunc.cgroups.manager import Manager

        return Manager.from_state(self.state["cgroup"])

    def signal_init(self, sig: int) -> None:
        """Signal the init through a pidfd, after checking the pid is still ours (not reused)."""
        # _signal, not signal (which imports enum), and posix.pidfd_open, not pyrunc._core: kill and
        # delete need nothing else of either, and loading them costs more than the verb's work.
        from _signal import pidfd_send_signal

        try:
            pidfd = posix.pidfd_open(self.pid)
        except OSError:
            raise PyruncError("container not running") from None
        try:
            stat = proc_stat(self.pid)
            if stat is None or stat[1] != self.state.get("init_start"):
                raise PyruncError("container not running")
            pidfd_send_signal(pidfd, sig)
        except OSError as err:
            raise PyruncError(f"signal {sig} to the container's init: {errno_text(err)}") from None
        finally:
            posix.close(pidfd)

    def wait_init_gone(self, timeout: float = 10.0) -> bool:
        """Wait until the init has exited (it may stay a zombie of someone else)."""
        try:
            pidfd = posix.pidfd_open(self.pid)
        except OSError:
            return True
        try:
            return exited_within(pidfd, timeout)
        finally:
            posix.close(pidfd)


def exited_within(pidfd: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the process of `pidfd` to exit; True once it has (a pidfd
    polls readable then, a zombie included). Every wait for a process is bounded: one frozen by
    its cgroup dies of SIGKILL only once thawed."""
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    # Rounded up, without math (an extension module in some builds).
    milliseconds = max(0, -int(-timeout * 1000 // 1))
    return bool(poller.poll(milliseconds))


def load(store: Store, container_id: str, locked: bool = False) -> Container:
    if not store.exists(container_id):
        raise NotFound(container_id)
    return Container(store, container_id, locked)


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, None if there is none."""
    try:
        data = read_bytes(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[19])


def process_gone(pid: int) -> bool:
    """No such process, or only its zombie left."""
    stat = proc_stat(pid)
    return stat is None or stat[0] in ("Z", "X", "x")


def derive_status(store: Store, container_id: str, state: dict, locked: bool = False) -> str:
    """creating / created / running / paused / stopped, from the kernel's view, not the file's.
    `locked`: the caller holds the container's lock (so no create is under way)."""
    if state.get("creating") or not state:
        # Only while the creating process still holds the lock; a create that was killed
        # mid-way left a container that exists only to be deleted.
        if locked:
            return "stopped"
        try:
            fd = store.try_lock(container_id, shared=True)
        except NotFound:
            return "stopped"  # no lock file: an earlier pyrunc's killed delete (store_write.lock_lockless)
        if fd is None:
            return "creating"
        posix.close(fd)
        return "stopped"
    pid = state.get("pid") or 0
    if pid <= 0:
        return "stopped"
    stat = proc_stat(pid)
    if stat is None or stat[1] != state.get("init_start") or stat[0] in ("Z", "X", "x"):
        return "stopped"
    if path_exists(store.path(container_id, FIFO)) and _is_init_helper(pid):
        return "created"
    if state.get("cgroup") and _is_frozen(state["cgroup"]):
        return "paused"
    return "running"


def _is_init_helper(pid: int) -> bool:
    """Is the init still pyrunc's helper (waiting for start), not yet the user's process?"""
    try:
        return posix.readlink(f"/proc/{pid}/exe").startswith("/memfd:pyrunc-init")
    except OSError:
        return False


def _is_frozen(cgroup_state: dict) -> bool:
    from pyrunc.freezer import is_frozen

    return is_frozen(cgroup_state)
