"""The cgroup manager's interface (Manager), and where a new container's cgroup goes
(open_manager). See the package's docstring (pyrunc/cgroups/__init__.py) for the layout."""

from pyrunc.cgroups._fs import CGROUP_ROOT, CgroupError, clean_path, signal_quietly, walk_pids
from pyrunc.paths import join, path_exists

SIGKILL = 9  # not signal.SIGKILL: the signal module imports enum, and this is the hot path


class Manager:
    """One container's cgroup(s). Subclasses: v1.V1Manager, v2.V2Manager, systemd.SystemdManager."""

    version = 0

    def create(self) -> None:
        """Make the container's cgroup: check_unused() first, check_not_frozen() once made; a
        refusal or failure removes only the directories this call made."""
        raise NotImplementedError

    def check_unused(self) -> None:
        """Refuse a cgroup that already has processes, before touching anything.

        runc 1.1 only warns ("container's cgroup is not empty") and joins; runc 1.2 refuses
        (opencontainers/runc#3132, #3782), and so do we: in a shared cgroup the containers'
        limits overwrite each other, pausing one freezes the other, `kill --all` and `delete` of
        one reach the other's processes, and the systemd driver never supported it. Kubernetes
        does not need it: every container of a pod has its own cgroup below the pod's. An
        existing *empty* cgroup is joined, as both runc versions do."""
        for directory in self.directories():
            procs = walk_pids(directory)
            if procs:
                raise CgroupError(
                    f"linux.cgroupsPath: container's cgroup is not empty: cgroup {directory} "
                    f"already has processes in it ({len(procs)})"
                )

    def check_not_frozen(self) -> None:
        """Refuse a frozen cgroup (a paused container's, a crash's leftover, or one below a
        frozen parent): the init would freeze as it joins and create would wait forever. runc
        1.1 and 1.2 refuse it with this message; thawing it would resume whatever froze it."""
        found = self.frozen_file()
        if found:
            path, state = found
            raise CgroupError(
                f"container's cgroup unexpectedly frozen: {path} says {state} "
                "(the cgroup or one of its parents is frozen)"
            )

    def frozen_file(self) -> tuple[str, str] | None:
        """(file, what it says) when the cgroup is frozen or freezing, itself or through a
        parent; None otherwise (or without a freezer)."""
        raise NotImplementedError

    def remove_made(self) -> None:
        """Undo a create(): remove the directories it made, and only those."""
        raise NotImplementedError

    def directories(self) -> list[str]:
        """The container's cgroup directories on the host (v1: one per hierarchy, combined
        hierarchies once; v2: one), whatever the state layout that records them."""
        raise NotImplementedError

    def apply(self, resources: dict, *, default_devices: bool = True, where: str = "linux.resources") -> None:
        """Apply a config's linux.resources: everything is validated first, then
        written; a failed write is rolled back as far as the kernel allows and
        reported with the field and file. As in runc, DEFAULT_ALLOWED_DEVICES are
        appended to resources["devices"] unless `default_devices` is False."""
        self._map_resources(resources, where=where, default_devices=default_devices, update=False)

    def update(self, resources: dict, *, where: str = "resources") -> None:
        """Live update (runc update / docker update). Device rules are not
        touched, as in runc."""
        self._map_resources(resources, where=where, default_devices=False, update=True)

    def _map_resources(self, resources: dict, *, where: str, default_devices: bool, update: bool) -> None:
        """The version's mapping (cgroups/resources/): resources -> checked writes, committed."""
        raise NotImplementedError

    def add(self, pid: int) -> None:
        raise NotImplementedError

    def open_for_clone(self) -> int:
        """An fd of the cgroup for clone3(CLONE_INTO_CGROUP), or -1 where the init must be
        migrated instead (v1 and hybrid hierarchies, a systemd scope made once the pid exists)."""
        return -1

    def destroy(self) -> None:
        raise NotImplementedError

    def kill_all(self, signal: int) -> None:
        raise NotImplementedError

    def freeze(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def is_frozen(self) -> bool:
        raise NotImplementedError

    def _signal_everyone(self, signal: int) -> None:
        """Freeze (so nobody forks between listing and signalling), signal every
        process, thaw. As in runc, a cgroup that will not freeze (a v1 task stuck
        in an OOM wait with the killer disabled) is signalled anyway; SIGKILL is
        then repeated while new processes keep appearing. A paused container
        stays paused unless the signal is SIGKILL."""
        was_frozen = self.is_frozen()
        froze = False
        if not was_frozen:
            try:
                self.freeze(timeout=2.0)
                froze = True
            except CgroupError:
                pass
        try:
            rounds = 1 if froze or was_frozen or signal != SIGKILL else 50
            signalled: set[int] = set()
            for _ in range(rounds):
                fresh = [pid for pid in self.pids() if pid not in signalled]
                if not fresh:
                    break
                for pid in fresh:
                    signal_quietly(pid, signal)
                signalled.update(fresh)
        finally:
            if froze or (was_frozen and signal == SIGKILL):
                self.thaw()

    def pids(self) -> list[int]:
        raise NotImplementedError

    def stats(self) -> dict:
        raise NotImplementedError

    def oom_events(self):
        """An OOM watcher: `.wait(timeout)` -> number of new OOM kills (0 on
        timeout, None once the cgroup is gone), `.fileno()`, `.close()`."""
        raise NotImplementedError

    def exists(self) -> bool:
        raise NotImplementedError

    def to_state(self) -> dict:
        raise NotImplementedError

    @staticmethod
    def from_state(d: dict) -> "Manager":
        """Reopen a manager from `to_state()` output, without probing the host."""
        version = d.get("version")
        if version == 2 and d.get("driver") == "systemd":
            from pyrunc.cgroups.systemd import SystemdManager

            return SystemdManager.from_state(d)
        if version == 2:
            from pyrunc.cgroups.v2 import V2Manager

            return V2Manager.from_state(d)
        if version == 1:
            from pyrunc.cgroups.v1 import V1Manager

            return V1Manager.from_state(d)
        raise CgroupError(f"state.json: unknown cgroup state version {version!r}")


def cgroup_mode(root: str = CGROUP_ROOT) -> str:
    """'unified' (v2 only), 'hybrid' (v1 controllers + cgroup2 at root/unified) or 'legacy'."""
    if path_exists(join(root, "cgroup.controllers")):
        return "unified"
    if path_exists(join(root, "unified", "cgroup.controllers")):
        return "hybrid"
    return "legacy"


def inner_path(cgroups_path: str | None, container_id: str) -> str:
    """The cleaned cgroupsPath, or the container id (relative) when absent."""
    if not cgroups_path:
        return clean_path(container_id)
    path = clean_path(cgroups_path)
    if path in ("/", ""):
        raise CgroupError(f"linux.cgroupsPath: {cgroups_path!r} names the root cgroup, not a container's")
    return path


def open_manager(
    cgroups_path: str | None,
    container_id: str,
    *,
    root: str = CGROUP_ROOT,
    systemd: bool = False,
    annotations: dict | None = None,
    rootless: bool = False,
) -> Manager:
    """Work out where the container's cgroup goes on this host (reads mountinfo
    and /proc/self/cgroup, creates nothing). With `systemd` (--systemd-cgroup) it is a
    systemd scope unit named by cgroupsPath in runc's "slice:prefix:name" form, with the
    config's org.systemd.property.* `annotations` among its properties, asked of the caller's
    own systemd instance when `rootless` (as runc)."""
    if systemd:
        from pyrunc.cgroups.systemd import SystemdManager

        return SystemdManager.for_config(
            cgroups_path, container_id, mount=root, annotations=annotations, user=rootless
        )
    inner = inner_path(cgroups_path, container_id)
    if cgroup_mode(root) == "unified":
        from pyrunc.cgroups.v2 import V2Manager

        return V2Manager.for_path(inner, mount=root)
    from pyrunc.cgroups.v1 import V1Manager

    return V1Manager.for_path(inner)
