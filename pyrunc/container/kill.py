"""`kill`: send a signal to the init, or with --all to every process of the container.

Signal 0 sends nothing: it asks whether the process exists (kill(2)), and succeeds exactly when a
real signal would have been delivered.
"""

from pyrunc.container.base import load
from pyrunc.errors import PyruncError
from pyrunc.store import Store


def kill(store: Store, container_id: str, sig: int, all_processes: bool = False) -> None:
    container = load(store, container_id)
    if sig == 9 and _shares_pid_namespace(container) and container.status not in ("stopped", "creating"):
        # runc 1.2: SIGKILL of the init kills its pid namespace only when it has one of its own;
        # otherwise `kill ID KILL` is `kill --all ID KILL`, or the rest would be left running.
        all_processes = True
    if all_processes and container.status != "creating":
        # As runc 1.1.5: --all signals whatever is left in the cgroup, and succeeds even once the
        # init has exited and nothing is left (managers send `kill --all ID KILL` on clean-up).
        cgroup = container.cgroup()
        if cgroup is not None:
            if container.status != "stopped" or cgroup.pids():
                cgroup.kill_all(sig)
                _thaw_if_killed(container, sig)
            return
        if container.status == "stopped":
            return
    if container.status in ("stopped", "creating"):
        raise PyruncError("container not running")
    container.signal_init(sig)
    _thaw_if_killed(container, sig)


def _shares_pid_namespace(container) -> bool:
    """Recorded at create (with the cgroup that --all uses): 0 when the init has no pid
    namespace of its own."""
    return bool(container.state.get("cgroup")) and not container.state.get("pid_ns")


def _thaw_if_killed(container, sig: int) -> None:
    """As runc: SIGKILL of a paused container thaws it, or its frozen processes (on cgroup v1)
    would never die and it would stay `paused`; other signals wait for `resume`."""
    if sig == 9 and container.status == "paused":
        cgroup = container.cgroup()
        if cgroup is not None:
            cgroup.thaw()
