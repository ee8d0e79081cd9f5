"""A container as recorded in the store, with its derived status."""

import os

from pyrunc.errors import NotFound, PyruncError, errno_text
from pyrunc.state import Store, derive_status, proc_stat


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
        from pyrunc.cgroups import Manager

        return Manager.from_state(self.state["cgroup"])

    def signal_init(self, sig: int) -> None:
        """Signal the init through a pidfd, after checking the pid is still ours (not reused)."""
        # _signal, not signal (which imports enum), and os.pidfd_open, not pyrunc._core: kill and
        # delete need nothing else of either, and loading them costs more than the verb's work.
        from _signal import pidfd_send_signal

        try:
            pidfd = os.pidfd_open(self.pid)
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
            os.close(pidfd)

    def wait_init_gone(self, timeout: float = 10.0) -> bool:
        """Wait until the init has exited (it may stay a zombie of someone else)."""
        import select

        try:
            pidfd = os.pidfd_open(self.pid)
        except OSError:
            return True
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(int(timeout * 1000)))
        finally:
            os.close(pidfd)


def load(store: Store, container_id: str, locked: bool = False) -> Container:
    if not store.exists(container_id):
        raise NotFound(container_id)
    return Container(store, container_id, locked)
