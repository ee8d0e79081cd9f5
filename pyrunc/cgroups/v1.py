"""cgroup v1 (and hybrid) manager: one directory per mounted hierarchy.

Hot path (`from_state`, `pids`, `kill_all`, `destroy`, `is_frozen`): os, errno,
signal and time only.
"""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc.cgroups import stored
from pyrunc.cgroups._fs import (
    CGROUP_ROOT,
    CgroupError,
    oserror_text,
    remove_if_empty,
    remove_tree,
    retry_if_a_parent_vanishes,
    wait_until,
    write_pid,
    write_text,
)
from pyrunc.cgroups.manager import Manager
from pyrunc.paths import dirname, is_dir, join, path_exists, read_first_line


class V1Manager(Manager):
    version = 1

    def __init__(self, paths: dict[str, str], created: list[str] | None = None) -> None:
        # {controller: directory}; combined hierarchies share a directory.
        self.paths = paths
        # Parent directories create() made, outermost first (removed on destroy if empty).
        self.created = list(created or [])
        # The container's own directories that create() made (not those it found empty and
        # joined): all a failed create may remove. Not kept in the state: delete removes all.
        self.made: list[str] = []

    # ------------------------------------------------------------ construction

    @classmethod
    def for_path(cls, inner: str) -> "V1Manager":
        from pyrunc.cgroups.discovery import V1_CONTROLLERS, mounted_hierarchies, own_cgroups

        mounts = mounted_hierarchies()
        if not any(name in V1_CONTROLLERS for name in mounts):
            raise CgroupError("no cgroup v1 controller is mounted on this host")
        own = own_cgroups() if not inner.startswith("/") else {}
        paths = {}
        for name, (mount_point, mount_root) in mounts.items():
            if inner.startswith("/"):
                base = mount_point
            else:
                # Relative: below the cgroup we are in, seen through this mount.
                mine = own.get(name, "/")
                if mount_root != "/" and mine.startswith(mount_root):
                    mine = mine[len(mount_root) :] or "/"
                base = join(mount_point, mine.lstrip("/"))
            paths[name] = join(base, inner.lstrip("/")).rstrip("/")
        return cls(paths)

    @classmethod
    def from_state(cls, d: dict) -> "V1Manager":
        return cls(dict(d["paths"]), d.get("created"))

    def to_state(self) -> dict:
        return {"version": 1, "paths": dict(self.paths), "created": list(self.created)}

    def path(self, controller: str) -> str | None:
        return self.paths.get(controller)

    def directories(self) -> list[str]:
        return stored.directories(self.to_state())

    # ------------------------------------------------------------ lifecycle

    def create(self) -> None:
        """Make the container's directories in every hierarchy. A cgroup that already has
        processes is refused before anything is touched; one that turns out frozen (itself or
        through a parent) is refused after, removing only the directories made here."""
        self.check_unused()
        made_leaves: list[str] = []
        made_parents: list[str] = []
        try:
            for directory in self.directories():
                if directory in made_leaves or is_dir(directory):
                    continue
                retry_if_a_parent_vanishes(
                    lambda d=directory: self._make_chain(d, made_leaves, made_parents), directory
                )
            self.check_not_frozen()
            if "cpuset" in self.paths:
                try:
                    _fill_cpusets(self.paths["cpuset"])
                except FileNotFoundError as e:
                    # Removed under us: the delete of an earlier container with this cgroupsPath
                    # (its destroy runs while this create fills the directory it found).
                    raise CgroupError(
                        f"cgroup {self.paths['cpuset']} vanished while its cpuset was set up: "
                        f"{oserror_text(e)}"
                    ) from None
        except BaseException:
            for directory in reversed(made_leaves):
                remove_tree(directory)
            for directory in reversed(made_parents):
                remove_if_empty(directory)
            raise
        self.created = made_parents
        self.made = made_leaves

    @staticmethod
    def _make_chain(directory: str, made_leaves: list, made_parents: list) -> None:
        missing = _missing_chain(directory)
        for index, new_dir in enumerate(reversed(missing)):
            try:
                posix.mkdir(new_dir, 0o755)
            except FileExistsError:
                continue  # created concurrently by another container: not ours
            except FileNotFoundError:
                raise
            except OSError as e:
                raise CgroupError(f"cannot create cgroup {new_dir}: {oserror_text(e)}") from None
            (made_leaves if index == len(missing) - 1 else made_parents).append(new_dir)

    def frozen_file(self) -> tuple[str, str] | None:
        freezer = self.paths.get("freezer")
        if not freezer:
            return None
        # freezer.state is the effective state: FROZEN below a frozen parent too.
        path = join(freezer, "freezer.state")
        try:
            state = read_first_line(path)
        except OSError:
            return None
        return (path, state) if state in ("FROZEN", "FREEZING") else None

    def add(self, pid: int) -> None:
        for directory in self.directories():
            try:
                write_pid(join(directory, "cgroup.procs"), pid)
            except OSError as e:
                raise CgroupError(f"cannot add pid {pid} to cgroup {directory}: {oserror_text(e)}") from None

    def exists(self) -> bool:
        return any(is_dir(d) for d in self.directories())

    def destroy(self) -> None:
        self._remove(self.directories(), self.created)

    def remove_made(self) -> None:
        self._remove(self.made, self.created)

    def _remove(self, leaves: list[str], parents: list[str]) -> None:
        stored.remove(leaves, parents, stored.process_directory(self.to_state()))

    # ------------------------------------------------------------ processes

    def pids(self) -> list[int]:
        return stored.pids(self.to_state())

    def kill_all(self, signal: int) -> None:
        self._signal_everyone(signal)

    # ------------------------------------------------------------ freezer

    def _freezer_state_file(self) -> str:
        freezer = self.paths.get("freezer")
        if not freezer:
            raise CgroupError("the freezer cgroup controller is not mounted on this host")
        return join(freezer, "freezer.state")

    def freeze(self, timeout: float = 10.0) -> None:
        state_file = self._freezer_state_file()

        def frozen() -> bool:
            state = read_first_line(state_file)
            if state == "FREEZING":
                # Tasks that were busy in the kernel are retried by writing again.
                write_text(state_file, "FROZEN")
            return state == "FROZEN"

        try:
            write_text(state_file, "FROZEN")
            if wait_until(frozen, timeout=timeout):
                return
        except OSError as e:
            raise CgroupError(f"cannot freeze {state_file}: {oserror_text(e)}") from None
        self.thaw()
        raise CgroupError(f"cannot freeze {state_file}: still FREEZING after {timeout:g}s, thawed again")

    def thaw(self) -> None:
        state_file = self._freezer_state_file()
        try:
            write_text(state_file, "THAWED")
            if not wait_until(lambda: read_first_line(state_file) == "THAWED", timeout=10.0):
                raise CgroupError(f"cannot thaw {state_file}: still not THAWED after 10s")
        except OSError as e:
            raise CgroupError(f"cannot thaw {state_file}: {oserror_text(e)}") from None

    def is_frozen(self) -> bool:
        from pyrunc.freezer import is_frozen

        return is_frozen(self.to_state())

    # ------------------------------------------------------------ heavier operations

    def _map_resources(self, resources: dict, *, where: str, default_devices: bool, update: bool) -> None:
        from pyrunc.cgroups.resources import apply_v1

        apply_v1(self, resources, where=where, default_devices=default_devices, update=update)

    def stats(self) -> dict:
        from pyrunc.cgroups.stats import stats_v1

        return stats_v1(self)

    def oom_events(self):
        from pyrunc.cgroups.events import V1OomWatcher

        memory = self.paths.get("memory")
        if not memory:
            raise CgroupError("the memory cgroup controller is not mounted on this host")
        return V1OomWatcher(memory)


def _missing_chain(directory: str) -> list[str]:
    """`directory` and those of its parents that do not exist, deepest first."""
    missing = []
    while not is_dir(directory):
        missing.append(directory)
        directory = dirname(directory)
    return missing


def _fill_cpusets(leaf: str) -> None:
    """A v1 cpuset cgroup starts with empty cpus and mems (unless its parent has
    clone_children), and no task can join it then ("No space left on device"). As
    runc: every directory from the first one with a set, down to the leaf, takes
    its parent's values, whoever made it (an empty one cannot hold tasks anyway,
    e.g. a pod's parent made by a manager that does not use cpuset)."""
    chain = []
    directory = leaf
    while not all(read_first_line(join(directory, name)) for name in _CPUSET_FILES):
        chain.append(directory)
        parent = dirname(directory)
        if parent == directory or not path_exists(join(parent, "cpuset.cpus")):
            break  # the hierarchy's root (always set) was passed: nothing to copy from
        directory = parent
    for directory in reversed(chain):
        parent = dirname(directory)
        for name in _CPUSET_FILES:
            if read_first_line(join(directory, name)):
                continue
            value = read_first_line(join(parent, name))
            try:
                write_text(join(directory, name), value)
            except OSError as e:
                raise CgroupError(
                    f"cannot initialise {directory}/{name} from its parent: {oserror_text(e)}"
                ) from None


_CPUSET_FILES = ("cpuset.cpus", "cpuset.mems")


__all__ = ["CGROUP_ROOT", "V1Manager"]
