"""cgroup v2 (unified) manager: one directory, controllers enabled down the path.

Hot path (`from_state`, `pids`, `kill_all`, `destroy`, `is_frozen`): os, errno
and time only.
"""

import errno
import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc.cgroups import stored
from pyrunc.cgroups._fs import (
    CGROUP_ROOT,
    CgroupError,
    oserror_text,
    read_keyed,
    read_text,
    remove_if_empty,
    retry_if_a_parent_vanishes,
    wait_until,
    write_pid,
    write_text,
)
from pyrunc.cgroups.manager import Manager
from pyrunc.paths import dirname, is_dir, join, path_exists

SIGKILL = 9


class V2Manager(Manager):
    version = 2

    def __init__(self, path: str, mount: str = CGROUP_ROOT, created: list[str] | None = None) -> None:
        self.dir = path  # absolute directory of the container's cgroup
        self.mount = mount  # the cgroup2 mount point it lives under
        self.created = list(created or [])  # parents create() made, outermost first
        self.made: list[str] = []  # [self.dir] when create() made it (see V1Manager.made)
        self.born_inside = False  # the init was cloned into it: add() has nothing to move

    # ------------------------------------------------------------ construction

    @classmethod
    def for_path(cls, inner: str, mount: str = CGROUP_ROOT) -> "V2Manager":
        if inner.startswith("/"):
            return cls(join(mount, inner.lstrip("/")).rstrip("/"), mount)
        # Relative: below the *parent* of our own cgroup, like runc's fs2 driver;
        # our own cgroup has processes, so it cannot enable controllers for a child.
        own = "/"
        for line in read_text("/proc/self/cgroup").splitlines():
            if line.startswith("0::"):
                own = line[3:]
        parent = dirname(own.rstrip("/")) or "/"
        return cls(join(mount, parent.lstrip("/"), inner).rstrip("/"), mount)

    @classmethod
    def from_state(cls, d: dict) -> "V2Manager":
        return cls(d["path"], d.get("mount", CGROUP_ROOT), d.get("created"))

    def to_state(self) -> dict:
        return {"version": 2, "path": self.dir, "mount": self.mount, "created": list(self.created)}

    def _file(self, name: str) -> str:
        return join(self.dir, name)

    # ------------------------------------------------------------ lifecycle

    def create(self) -> None:
        self.check_unused()
        made: list[str] = []
        try:
            retry_if_a_parent_vanishes(lambda: self._make_path(made), self.dir)
            self.check_not_frozen()
        except BaseException:
            for directory in reversed(made):
                remove_if_empty(directory)
            raise
        self.created = [d for d in made if d != self.dir]
        self.made = [d for d in made if d == self.dir]

    def frozen_file(self) -> tuple[str, str] | None:
        # cgroup.events says whether the cgroup is frozen in effect (itself or below a frozen
        # parent, a new empty cgroup included); cgroup.freeze what was asked of it, which
        # catches one still freezing.
        for name, key, value in (("cgroup.events", "frozen", "1"), ("cgroup.freeze", None, "1")):
            path = self._file(name)
            try:
                found = read_keyed(path).get(key) if key else read_text(path).strip()
            except OSError:
                continue
            if found == value:
                return path, f"{key} {value}" if key else value
        return None

    def _make_path(self, made: list[str]) -> None:
        self._make_path_below(self.mount, made)

    def _make_path_below(self, top: str, made: list[str]) -> None:
        """Make self.dir and its missing ancestors below `top`, enabling the controllers in every
        directory from `top` down (subtree_control), so that their files appear in the leaf.
        `top`: the mount point, or (rootless systemd) the user manager's cgroup, above which the
        user may write nothing."""
        ancestors = []
        probe = dirname(self.dir)
        while len(probe) >= len(top):
            ancestors.append(probe)
            probe = dirname(probe)
        for directory in reversed(ancestors):
            if not is_dir(directory):
                self._mkdir(directory, made)
            _enable_controllers(directory)
        if not is_dir(self.dir):
            self._mkdir(self.dir, made)

    @staticmethod
    def _mkdir(directory: str, made: list[str]) -> None:
        try:
            posix.mkdir(directory, 0o755)
        except FileExistsError:
            return
        except FileNotFoundError:
            raise
        except OSError as e:
            raise CgroupError(f"cannot create cgroup {directory}: {oserror_text(e)}") from None
        made.append(directory)

    def open_for_clone(self) -> int:
        # The first cgroup.procs write of a migration waits for an RCU grace period (5-26 ms
        # here); a process born in the cgroup is never migrated (runc 1.4 does it for exec).
        try:
            return posix.open(self.dir, posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
        except OSError:
            return -1  # add() reports what is wrong with it

    def add(self, pid: int) -> None:
        if self.born_inside:
            return
        try:
            write_pid(self._file("cgroup.procs"), pid)
        except OSError as e:
            raise CgroupError(f"cannot add pid {pid} to cgroup {self.dir}: {oserror_text(e)}") from None

    def exists(self) -> bool:
        return is_dir(self.dir)

    def destroy(self) -> None:
        self._remove([self.dir], self.created)

    def remove_made(self) -> None:
        self._remove(self.made, self.created)

    def _remove(self, leaves: list[str], parents: list[str]) -> None:
        stored.remove(leaves, parents, self.dir)

    def directories(self) -> list[str]:
        return [self.dir]

    # ------------------------------------------------------------ processes

    def pids(self) -> list[int]:
        return stored.pids_below(self.dir)

    def kill_all(self, signal: int) -> None:
        if signal == SIGKILL and path_exists(self._file("cgroup.kill")):
            # Linux 5.14+: the kernel kills the whole subtree, forks included.
            try:
                write_text(self._file("cgroup.kill"), "1")
                return
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENODEV):  # gone, or being removed: nothing left
                    return
                raise CgroupError(f"cannot write {self._file('cgroup.kill')}: {oserror_text(e)}") from None
        self._signal_everyone(signal)

    # ------------------------------------------------------------ freezer

    def _set_frozen(self, frozen: bool, timeout: float = 10.0) -> None:
        control = self._file("cgroup.freeze")
        want = "1" if frozen else "0"
        try:
            write_text(control, want)
            if wait_until(
                lambda: read_keyed(self._file("cgroup.events")).get("frozen") == want, timeout=timeout
            ):
                return
        except OSError as e:
            raise CgroupError(f"cannot write {control}: {oserror_text(e)}") from None
        if frozen:
            write_text(control, "0")
        state = "frozen" if frozen else "thawed"
        raise CgroupError(f"{control}: cgroup did not become {state} within {timeout:g}s")

    def freeze(self, timeout: float = 10.0) -> None:
        self._set_frozen(True, timeout)

    def thaw(self) -> None:
        self._set_frozen(False)

    def is_frozen(self) -> bool:
        from pyrunc.freezer import is_frozen

        return is_frozen(self.to_state())

    # ------------------------------------------------------------ heavier operations

    def controllers(self) -> set[str]:
        """Controllers usable in this cgroup (its cgroup.controllers)."""
        try:
            return set(read_text(self._file("cgroup.controllers")).split())
        except FileNotFoundError:
            return set()

    def _map_resources(self, resources: dict, *, where: str, default_devices: bool, update: bool) -> None:
        from pyrunc.cgroups.resources import apply_v2

        apply_v2(self, resources, where=where, default_devices=default_devices, update=update)

    def stats(self) -> dict:
        from pyrunc.cgroups.stats import stats_v2

        return stats_v2(self)

    def oom_events(self):
        from pyrunc.cgroups.events import V2OomWatcher

        return V2OomWatcher(self.dir)


def _enable_controllers(directory: str) -> None:
    """Enable in `directory`'s subtree_control every controller it has, one at a
    time, skipping those the kernel refuses (e.g. a non-root cgroup that still
    has processes): apply() then reports a missing controller by name."""
    try:
        available = read_text(join(directory, "cgroup.controllers")).split()
        enabled = set(read_text(join(directory, "cgroup.subtree_control")).split())
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENODEV):
            # Removed under us (ENODEV: the cgroup died while its file was open).
            raise FileNotFoundError(e.errno, e.strerror, directory) from None
        raise
    for controller in available:
        if controller in enabled:
            continue
        try:
            write_text(join(directory, "cgroup.subtree_control"), "+" + controller)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENODEV):
                raise FileNotFoundError(e.errno, e.strerror, directory) from None
            if e.errno not in (errno.EBUSY, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise CgroupError(
                    f"cannot enable {controller} in {directory}/cgroup.subtree_control: {oserror_text(e)}"
                ) from None
