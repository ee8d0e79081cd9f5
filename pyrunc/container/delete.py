"""`delete`: remove a stopped (or, as runc does, created) container; --force kills a running one.

Order: kill and wait for the processes, remove the cgroup, run poststop hooks (a failure is only a
warning, as the spec says), remove the state directory.
"""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc import log
from pyrunc.container.base import Container, load
from pyrunc.errors import NotFound, PyruncError
from pyrunc.store import CorruptState, Store


def delete(store: Store, container_id: str, force: bool = False) -> None:
    try:
        lock = store.lock(container_id)
    except NotFound:
        if not force:
            raise
        # A directory without its lock file: what a delete of an earlier pyrunc, killed while it
        # emptied the directory in place, left. It gets a lock file and is locked like any other.
        from pyrunc import store_write

        adopted = store_write.lock_lockless(store, container_id)
        if adopted is None:
            # The claims of creates and removes killed half-way (store_write.claim, Store.remove).
            store_write.remove_dead_claims(store, container_id)
            return  # runc: --force on a container that is not there is not an error
        lock = adopted
    try:
        try:
            container = load(store, container_id, locked=True)
        except CorruptState:
            if not force:
                raise
            remove_damaged(store, container_id)
            return
        if not container.state and container.status == "stopped":
            # No state.json: a create that never got far, or a damaged directory.
            remove_damaged(store, container_id)
            return
        if container.status in ("running", "paused") and not force:
            raise PyruncError(
                f"cannot delete container {container_id} that is not stopped: {container.status}"
            )
        stop_processes(container)
        destroy(container)
    finally:
        posix.close(lock)


def remove_damaged(store: Store, container_id: str) -> None:
    """delete --force of a container whose state.json is unreadable: empty and remove the cgroup
    its stored config (or its id) names, then the directory."""
    from pyrunc import jsonio
    from pyrunc.cgroups import CgroupError, open_manager

    log.warning(f"state of container {container_id!r} is unreadable: removing what can be found")
    cgroups_path = None
    try:
        with open(store.path(container_id, "config.json"), "rb") as f:
            config = jsonio.loads(f.read())
        cgroups_path = ((config.get("linux") or {}) if isinstance(config, dict) else {}).get("cgroupsPath")
    except (OSError, ValueError, AttributeError):
        pass
    try:
        manager = open_manager(cgroups_path if isinstance(cgroups_path, str) else None, container_id)
        if manager.exists():
            manager.kill_all(9)
            _wait_empty(manager, container_id)
            manager.destroy()
    except CgroupError as err:
        log.warning(str(err))
    store.remove(container_id)


def _wait_empty(cgroup, container_id: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while cgroup.pids():
        if time.monotonic() > deadline:
            raise PyruncError(f"processes of container {container_id} survived SIGKILL: {cgroup.pids()}")
        time.sleep(0.005)


def stop_processes(container: Container) -> None:
    """SIGKILL everything of a container that is not stopped, and wait until it is gone: the init
    (checked through a pidfd) and the container's processes left in its cgroup.

    Which processes in the cgroup are the container's: with a pid namespace of its own, those in
    that namespace (recorded as `pid_ns` at create); the others are someone else's and are left
    alone, as runc's delete leaves them (runc 1.1 lets a container join a non-empty cgroup, and an
    empty one, a stopped container's, can be joined by the next). Without one (the host's, or a
    namespace joined by path), everything in the cgroup, as runc.

    A stopped container with a pid namespace of its own is looked at by remove_cgroup instead."""
    cgroup_state = container.state.get("cgroup")
    pid_ns = container.state.get("pid_ns")
    if container.status != "stopped":
        try:
            container.signal_init(9)
        except PyruncError:
            pass
    if cgroup_state and not pid_ns:
        cgroup = container.cgroup()
        if cgroup.pids():
            cgroup.kill_all(9)
            _wait_empty(cgroup, container.id)
    elif cgroup_state and pid_ns and container.status != "stopped":
        _kill_own(container.cgroup(), pid_ns, container.id)
    if container.pid and container.status != "stopped" and not container.wait_init_gone():
        raise PyruncError(f"container {container.id}'s init (pid {container.pid}) did not exit after SIGKILL")


def _in_namespace(pids: list[int], pid_ns: int) -> list[int]:
    found = []
    for pid in pids:
        try:
            if posix.stat(f"/proc/{pid}/ns/pid").st_ino == pid_ns:
                found.append(pid)
        except OSError:
            pass  # gone
    return found


def _kill_own(cgroup, pid_ns: int, container_id: str) -> None:
    import time

    from pyrunc.cgroups._fs import signal_quietly

    ours = _in_namespace(cgroup.pids(), pid_ns)
    for pid in ours:
        signal_quietly(pid, 9)
    if ours and cgroup.is_frozen():
        cgroup.thaw()  # as runc: a frozen v1 task dies only once thawed
    deadline = time.monotonic() + 10
    while ours:
        if time.monotonic() > deadline:
            raise PyruncError(f"processes of container {container_id} survived SIGKILL: {ours}")
        time.sleep(0.005)
        ours = _in_namespace(cgroup.pids(), pid_ns)


def remove_cgroup(container: Container, cgroup_state: dict) -> None:
    """Remove the container's cgroup, through its stored state (not a manager: cgroups/stored.py).

    A stopped container with a pid namespace of its own has nothing left in that namespace: when
    a namespace's init exits, the kernel kills the rest, and the init's exit does not complete (it
    is neither a zombie nor gone) before they are all reaped. So its cgroup is removed without
    looking for processes first, as runc's destroy does; the rmdir, which the kernel refuses while
    the cgroup holds a process, is the check. Refused, the processes of the namespace are killed
    and it is tried again: state.json's pid may not be the init's (a damaged state, which makes a
    running container look stopped)."""
    from pyrunc.cgroups import stored

    pid_ns = container.state.get("pid_ns")
    try:
        stored.destroy(cgroup_state)
        return
    except PyruncError as err:
        if not pid_ns:
            raise
        refused = err
    if container.status == "stopped":
        _kill_own(container.cgroup(), pid_ns, container.id)
        try:
            stored.destroy(cgroup_state)
            return
        except PyruncError as err:
            refused = err
    if not stored.pids(cgroup_state):
        raise refused
    # Held by processes that are not this container's: as runc, a warning, and the cgroup stays for
    # them (the delete of whoever owns them removes it).
    log.warning(f"{refused}: left to the processes still in it")


def destroy(container: Container) -> None:
    cgroup_state = container.state.get("cgroup")
    if cgroup_state:
        remove_cgroup(container, cgroup_state)
    poststop = (container.state.get("hooks") or {}).get("poststop")
    if poststop:
        from pyrunc import hooks

        state = hooks.hook_state(container.state, "stopped", 0)
        for failure in hooks.run_hooks_best_effort("poststop", poststop, state):
            log.warning(failure)  # the spec: a warning, and the other hooks and delete go on
    container.store.remove(container.id)
