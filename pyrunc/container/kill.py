"""`kill`: send a signal to the init, or with --all to every process of the container."""

from __future__ import annotations

from pyrunc.container.base import load
from pyrunc.errors import PyruncError
from pyrunc.state import Store


def kill(store: Store, container_id: str, sig: int, all_processes: bool = False) -> None:
    container = load(store, container_id)
    if container.status in ("stopped", "creating"):
        raise PyruncError("container not running")
    cgroup = container.cgroup()
    if all_processes and cgroup is not None:
        cgroup.kill_all(sig)
        return
    container.signal_init(sig)
