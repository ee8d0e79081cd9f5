"""`delete`: remove a stopped (or, as runc does, created) container; --force kills a running one.

Order: kill and wait for the processes, remove the cgroup, run poststop hooks (a failure is only a
warning, as the spec says), remove the state directory.
"""

import os

from pyrunc import log
from pyrunc.container.base import Container, load
from pyrunc.errors import NotFound, PyruncError
from pyrunc.state import Store


def delete(store: Store, container_id: str, force: bool = False) -> None:
    try:
        lock = store.lock(container_id)
    except NotFound:
        if force:
            return  # runc: --force on a container that is not there is not an error
        raise
    try:
        container = load(store, container_id, locked=True)
        if container.status in ("running", "paused") and not force:
            raise PyruncError(
                f"cannot delete container {container_id} that is not stopped: {container.status}"
            )
        stop_processes(container)
        destroy(container)
    finally:
        os.close(lock)


def stop_processes(container: Container) -> None:
    """SIGKILL everything of a container that is not stopped, and wait until it is gone: the init
    (checked through a pidfd) and every process left in its cgroup (a container without a pid
    namespace can leave some behind its init)."""
    import time

    if container.status != "stopped":
        try:
            container.signal_init(9)
        except PyruncError:
            pass
    cgroup = container.cgroup()
    if cgroup is not None and cgroup.pids():
        cgroup.kill_all(9)
        deadline = time.monotonic() + 10
        while cgroup.pids():
            if time.monotonic() > deadline:
                raise PyruncError(f"processes of container {container.id} survived SIGKILL: {cgroup.pids()}")
            time.sleep(0.005)
    if container.pid and container.status != "stopped" and not container.wait_init_gone():
        raise PyruncError(f"container {container.id}'s init (pid {container.pid}) did not exit after SIGKILL")


def destroy(container: Container) -> None:
    cgroup = container.cgroup()
    if cgroup is not None:
        cgroup.destroy()
    poststop = (container.state.get("hooks") or {}).get("poststop")
    if poststop:
        from pyrunc import hooks

        state = hooks.hook_state(container.state, "stopped", 0)
        for failure in hooks.run_hooks_best_effort("poststop", poststop, state):
            log.warning(failure)  # the spec: a warning, and the other hooks and delete go on
    container.store.remove(container.id)
