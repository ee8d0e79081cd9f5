"""A config's `cgroup` mount, expanded into the mount records of the container's /sys/fs/cgroup,
from the host's hierarchies (discovery.py)."""

from pyrunc import linux as L
from pyrunc.cgroups.discovery import UNIFIED, V1_CONTROLLERS, own_cgroups
from pyrunc.cgroups.discovery import cgroup_mounts as host_cgroup_mounts
from pyrunc.mounts import (
    BIND_MECHANICS,
    MOUNT_BIND,
    MOUNT_REGULAR,
    MOUNT_REMOUNT,
    MountRecord,
    clean_dest,
    parse_options,
    readonly_remount,
)
from pyrunc.paths import basename


def cgroup_hierarchies() -> list[tuple[str, str, str]]:
    """(mount point, fstype, subsystem options) of the host's cgroup mounts under /sys/fs/cgroup:
    the options a fresh mount of the same hierarchy takes ("none" first for a named one)."""
    out = []
    for m in host_cgroup_mounts():
        if not m.point.startswith("/sys/fs/cgroup"):
            continue
        opts = [o for o in m.super_options.split(",") if o not in ("rw", "ro")]
        if m.fstype == "cgroup" and not any(o in V1_CONTROLLERS for o in opts) and "none" not in opts:
            opts.insert(0, "none")
        out.append((m.point, m.fstype, ",".join(opts)))
    return out


def cgroup_mounts(
    mount: dict,
    index: int,
    *,
    private_cgroupns: bool,
    userns: bool,
    cgroup_dirs: list[str],
    hierarchies: list[tuple[str, str, str]] | None = None,
) -> list[MountRecord]:
    """A `cgroup` mount, expanded: on v2 one cgroup2 mount; on v1 a tmpfs with one mount per
    hierarchy. In a private cgroup namespace the hierarchies are mounted afresh (the namespace
    makes the container's cgroup their root); otherwise the container's own cgroup directories
    (`cgroup_dirs`, on the host) are bound, so it never sees their parents. cgroup v1 cannot be
    mounted from a user namespace: there, binds too. A fresh cgroup2 carries that directory as
    its fallback, bound if the kernel refuses the mount. `hierarchies`: cgroup_hierarchies()'s,
    read from the host unless given."""
    flags, propagation, _ = parse_options(mount.get("options") or [])
    dest = clean_dest(mount["destination"])
    if hierarchies is None:
        hierarchies = cgroup_hierarchies()
    if len(hierarchies) == 1 and hierarchies[0][1] == "cgroup2" and hierarchies[0][0] == "/sys/fs/cgroup":
        source = _container_dir("/sys/fs/cgroup", "cgroup2", "", cgroup_dirs)
        return [_hierarchy_mount("cgroup2", "", dest, flags, private_cgroupns, source)]
    base = MountRecord("tmpfs", dest, "tmpfs", MOUNT_REGULAR)
    base.flags = flags & ~L.MS_RDONLY
    base.data = "mode=755"
    base.propagation = propagation
    records = [base]
    for point, fstype, opts in hierarchies:
        name = basename(point)
        if point == "/sys/fs/cgroup" or not name:
            continue
        fresh = private_cgroupns and (fstype == "cgroup2" or not userns)
        source = _container_dir(point, fstype, opts, cgroup_dirs)
        records.append(_hierarchy_mount(fstype, opts, f"{dest}/{name}", flags, fresh, source))
    if flags & L.MS_RDONLY:
        records.append(readonly_remount(dest, flags, MOUNT_REMOUNT))
    return records


def _container_dir(point: str, fstype: str, opts: str, cgroup_dirs: list[str]) -> str:
    """The container's directory in the hierarchy mounted at `point`; without one (a hierarchy
    no manager placed us in), the runtime's own cgroup there."""
    for directory in cgroup_dirs:
        if directory == point or directory.startswith(point.rstrip("/") + "/"):
            return directory
    own = own_cgroups()
    # /proc/self/cgroup names a v1 hierarchy by its controllers or "name=..."; v2 by UNIFIED.
    key = UNIFIED if fstype == "cgroup2" else next((o for o in opts.split(",") if o in own), "")
    return point.rstrip("/") + own.get(key, "/")


def _hierarchy_mount(fstype: str, opts: str, dest: str, flags: int, fresh: bool, source: str) -> MountRecord:
    if fresh:
        record = MountRecord("cgroup", dest, fstype, MOUNT_REGULAR)
        record.flags = flags
        record.data = opts
        if fstype == "cgroup2":
            # The kernel refuses a fresh cgroup2 with EBUSY where the same hierarchy is mounted
            # already (the host's, under a /sys bound from it: rootless), and with EPERM from a
            # user namespace that does not own the cgroup namespace. As runc and crun, the child
            # then binds the container's own cgroup directory: the same view, cgroup.procs and all.
            record.fallback = source
        return record
    record = MountRecord(source, dest, "", MOUNT_BIND)
    record.flags = L.MS_BIND | L.MS_REC
    record.remount = flags & ~BIND_MECHANICS
    return record
