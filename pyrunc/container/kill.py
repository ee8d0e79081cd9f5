"""`kill`: send a signal to the init, or with --all to every process of the container."""

from pyrunc.container.base import load
from pyrunc.errors import PyruncError
from pyrunc.state import Store


def kill(store: Store, container_id: str, sig: int, all_processes: bool = False) -> None:
    container = load(store, container_id)
    cgroup = container.cgroup()
    if all_processes and cgroup is not None and container.status != "creating":
        # As runc: --all reaches what is left in the cgroup even once the init has exited.
        if container.status == "stopped" and not cgroup.pids():
            raise PyruncError("container not running")
        cgroup.kill_all(sig)
        return
    if container.status in ("stopped", "creating"):
        raise PyruncError("container not running")
    container.signal_init(sig)
