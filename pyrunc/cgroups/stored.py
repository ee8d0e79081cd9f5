"""A container's cgroup as its state records it (a manager's to_state()): its directories, its
processes and its removal, without a manager where the cgroupfs drivers need none.

`delete` runs once for every container, and importing a manager (manager.py and the version's
module) cost it more than its rmdirs. The v1 and v2 managers use these functions for the same
operations. The systemd driver has a unit to stop: for its state, `pids` and `destroy` open its
manager.
"""

import posix  # os without its import cost: see pyrunc/paths.py

# _fs (the cgroupfs helpers) is imported only when a removal meets more than an empty leaf: the
# rmdirs of `delete`, which succeed, need none of it (about 0.15 ms of `delete` to import).


def _is_cgroupfs(cgroup_state: dict) -> bool:
    return cgroup_state.get("version") in (1, 2) and cgroup_state.get("driver") is None


def _manager(cgroup_state: dict):
    from pyrunc.cgroups.manager import Manager

    return Manager.from_state(cgroup_state)


def directories(cgroup_state: dict) -> list[str]:
    """The container's own directories (v1: one per hierarchy, combined hierarchies once)."""
    if cgroup_state["version"] == 1:
        return sorted(set(cgroup_state["paths"].values()))
    return [cgroup_state["path"]]


def process_directory(cgroup_state: dict) -> str | None:
    """The directory whose tree holds the container's processes (None: v1 without a hierarchy
    that tracks them)."""
    if cgroup_state["version"] == 1:
        from pyrunc.cgroups._fs import UNIFIED

        paths = cgroup_state["paths"]
        best_first = ("freezer", "pids", "devices", "memory", "cpu", "name=systemd", UNIFIED)
        return next((paths[name] for name in best_first if paths.get(name)), None)
    return cgroup_state["path"]


def pids(cgroup_state: dict) -> list[int]:
    if not _is_cgroupfs(cgroup_state):
        return _manager(cgroup_state).pids()
    return pids_below(process_directory(cgroup_state))


def pids_below(directory: str | None) -> list[int]:
    if not directory:
        return []
    from pyrunc.cgroups._fs import walk_pids

    return sorted(set(walk_pids(directory)))


def destroy(cgroup_state: dict) -> None:
    """Remove the container's cgroup and the parents its create made (if empty)."""
    if not _is_cgroupfs(cgroup_state):
        _manager(cgroup_state).destroy()
        return
    failures = _remove(directories(cgroup_state), cgroup_state.get("created") or [])
    if failures:
        _refuse(failures, process_directory(cgroup_state))


def remove(leaves: list[str], parents: list[str], processes_in: str | None) -> None:
    """rmdir each of `leaves` with its sub-cgroups, then each of `parents` (outermost first) that
    is empty; every failure in one CgroupError, with the number of processes left in
    `processes_in`."""
    failures = _remove(leaves, parents)
    if failures:
        _refuse(failures, processes_in)


def _remove(leaves: list[str], parents: list[str]) -> list[str]:
    failures = []
    for directory in leaves:
        try:
            posix.rmdir(directory)  # an empty leaf, the usual case (remove_tree tries it first too)
            continue
        except FileNotFoundError:
            continue
        except OSError:
            pass
        from pyrunc.cgroups._fs import oserror_text, remove_tree

        try:
            remove_tree(directory)
        except OSError as e:
            failures.append(f"{directory}: {oserror_text(e)}")
    if parents:
        from pyrunc.cgroups._fs import oserror_text, remove_if_empty

        for directory in reversed(parents):
            try:
                remove_if_empty(directory)
            except OSError as e:
                failures.append(f"{directory}: {oserror_text(e)}")
    return failures


def _refuse(failures: list[str], processes_in: str | None) -> None:
    from pyrunc.cgroups._fs import CgroupError

    left = pids_below(processes_in)
    hint = f" ({len(left)} processes still in it)" if left else ""
    raise CgroupError(f"cannot remove cgroup{hint}: " + "; ".join(failures))
