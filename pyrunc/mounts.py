"""config.json mounts -> mount records for the child.

Options are runc's vocabulary: flags set or cleared, propagation, and everything else passed to the
filesystem as data. Destinations are cleaned lexically and kept relative to the rootfs; the child
resolves them inside it (openat2 RESOLVE_IN_ROOT), so nothing here needs to be trusted about
symlinks.
"""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc import linux as L
from pyrunc.config import ConfigError
from pyrunc.errors import errno_text
from pyrunc.paths import join, normpath

MOUNT_REGULAR = 0
MOUNT_BIND = 1
MOUNT_REMOUNT = 2
# A read-only remount the child applies only once everything beneath the mount is in place (the
# mounts, devices and links under /dev, the console, the masks): runc's finalizeRootfs.
MOUNT_REMOUNT_LATE = 3
DEST_DIR = 0
DEST_FILE = 1

# option -> (flags to set, flags to clear)
FLAG_OPTIONS = {
    "async": (0, L.MS_SYNCHRONOUS),
    "atime": (0, L.MS_NOATIME),
    "bind": (L.MS_BIND, 0),
    "defaults": (0, 0),
    "dev": (0, L.MS_NODEV),
    "diratime": (0, L.MS_NODIRATIME),
    "dirsync": (L.MS_DIRSYNC, 0),
    "exec": (0, L.MS_NOEXEC),
    "iversion": (L.MS_I_VERSION, 0),
    "lazytime": (L.MS_LAZYTIME, 0),
    "loud": (0, L.MS_SILENT),
    "mand": (L.MS_MANDLOCK, 0),
    "noatime": (L.MS_NOATIME, 0),
    "nodev": (L.MS_NODEV, 0),
    "nodiratime": (L.MS_NODIRATIME, 0),
    "noexec": (L.MS_NOEXEC, 0),
    "noiversion": (0, L.MS_I_VERSION),
    "nolazytime": (0, L.MS_LAZYTIME),
    "nomand": (0, L.MS_MANDLOCK),
    "norelatime": (0, L.MS_RELATIME),
    "nostrictatime": (0, L.MS_STRICTATIME),
    "nosuid": (L.MS_NOSUID, 0),
    "nosymfollow": (L.MS_NOSYMFOLLOW, 0),
    "rbind": (L.MS_BIND | L.MS_REC, 0),
    "relatime": (L.MS_RELATIME, 0),
    "remount": (L.MS_REMOUNT, 0),
    "ro": (L.MS_RDONLY, 0),
    "rw": (0, L.MS_RDONLY),
    "silent": (L.MS_SILENT, 0),
    "strictatime": (L.MS_STRICTATIME, 0),
    "suid": (0, L.MS_NOSUID),
    "sync": (L.MS_SYNCHRONOUS, 0),
    "symfollow": (0, L.MS_NOSYMFOLLOW),
}

PROPAGATION_OPTIONS = {
    "private": L.MS_PRIVATE,
    "rprivate": L.MS_PRIVATE | L.MS_REC,
    "shared": L.MS_SHARED,
    "rshared": L.MS_SHARED | L.MS_REC,
    "slave": L.MS_SLAVE,
    "rslave": L.MS_SLAVE | L.MS_REC,
    "unbindable": L.MS_UNBINDABLE,
    "runbindable": L.MS_UNBINDABLE | L.MS_REC,
}

# mount_setattr(2) attributes
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# Recursive options (runc's "r" forms, applied with mount_setattr(AT_RECURSIVE) to the whole tree):
# option -> (attributes to set, attributes to clear). An atime change replaces the whole atime
# group, as the kernel requires.
RECURSIVE_OPTIONS = {
    "rro": (MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0),
    "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0),
    "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rnorelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rnoatime": (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
    "ratime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rstrictatime": (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
    "rnostrictatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0),
    "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
}
IDMAP_OPTIONS = {"idmap": 1, "ridmap": 2}

# Flags that say how to mount rather than what the mount is: a bind needs a remount for the rest.
BIND_MECHANICS = L.MS_BIND | L.MS_REC | L.MS_REMOUNT


class MountRecord:
    """One mount for the child, destination relative to the rootfs."""

    __slots__ = (
        "data",
        "dest",
        "dest_kind",
        "fallback",
        "flags",
        "fstype",
        "id_mappings",
        "idmap",
        "kind",
        "propagation",
        "rec_clear",
        "rec_set",
        "remount",
        "source",
        "tree_fd",
    )  # fmt: skip

    def __init__(self, source: str, dest: str, fstype: str, kind: int, dest_kind: int = DEST_DIR) -> None:
        self.source = source
        self.dest = dest
        self.fstype = fstype
        self.kind = kind
        self.dest_kind = dest_kind
        self.flags = 0
        self.propagation = 0
        self.remount = 0
        self.data = ""
        self.rec_set = 0
        self.rec_clear = 0
        self.idmap = 0  # 1: idmap, 2: ridmap (recursive)
        self.id_mappings: tuple | None = None  # (uidMappings, gidMappings) for the idmapped mount
        self.tree_fd = -1  # an idmapped bind: the detached tree the parent prepared
        # A fresh cgroup2 mount the kernel may refuse (EPERM/EBUSY): the directory to bind
        # instead ('' for none; cgroups/mount_plan.py)
        self.fallback = ""


def clean_dest(dest: str) -> str:
    """Lexically clean a container path and make it relative to the rootfs ('' for /).
    Relative destinations (runtime-spec 1.2) are taken relative to /."""
    return normpath("/" + dest).lstrip("/")


def parse_options(options: list[str]) -> tuple[int, int, list[str]]:
    """(flags, propagation, filesystem data) from a mount's options, applied in order; the
    recursive and idmap options are read by recursive_attributes and idmap_mode."""
    flags = propagation = 0
    data: list[str] = []
    for option in options:
        if option in FLAG_OPTIONS:
            set_bits, clear_bits = FLAG_OPTIONS[option]
            flags = (flags | set_bits) & ~clear_bits
        elif option in PROPAGATION_OPTIONS:
            propagation |= PROPAGATION_OPTIONS[option]
        elif option not in RECURSIVE_OPTIONS and option not in IDMAP_OPTIONS and option != "tmpcopyup":
            data.append(option)
    return flags, propagation, data


def flags_as_attributes(flags: int) -> tuple[int, int]:
    """A bind's remount flags as mount_setattr (set, clear) attributes (for an idmapped bind,
    which is set up with attributes instead of a remount)."""
    attr_set = attr_clear = 0
    for flag, attr in (
        (L.MS_RDONLY, MOUNT_ATTR_RDONLY),
        (L.MS_NOSUID, MOUNT_ATTR_NOSUID),
        (L.MS_NODEV, MOUNT_ATTR_NODEV),
        (L.MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (L.MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
    ):
        if flags & flag:
            attr_set |= attr
    if flags & (L.MS_NOATIME | L.MS_STRICTATIME):
        attr_set |= MOUNT_ATTR_NOATIME if flags & L.MS_NOATIME else MOUNT_ATTR_STRICTATIME
        attr_clear |= MOUNT_ATTR__ATIME
    return attr_set, attr_clear


def recursive_attributes(options: list[str]) -> tuple[int, int]:
    """(set, clear) mount attributes of the r-options, later ones winning."""
    attr_set = attr_clear = 0
    for option in options:
        if option in RECURSIVE_OPTIONS:
            set_bits, clear_bits = RECURSIVE_OPTIONS[option]
            attr_set = (attr_set & ~clear_bits & ~set_bits) | set_bits
            attr_clear = (attr_clear & ~set_bits) | clear_bits
    return attr_set, attr_clear


# Files under /proc a bind may cover (what lxcfs emulates); nothing else under /proc may be a mount
# point, and nothing but proc on /proc itself: a mount over /proc/self/attr defeats the LSM, one over
# /proc/sys fakes kernel settings (CVE-2019-16884). runc's list.
PROC_BIND_TARGETS = frozenset(
    {
        *("proc/cpuinfo", "proc/diskstats", "proc/meminfo", "proc/stat", "proc/swaps", "proc/uptime"),
        *("proc/loadavg", "proc/slabinfo", "proc/net/dev", "proc/sys/kernel/ns_last_pid"),
    }
)


def readonly_remount(dest: str, flags: int, kind: int) -> MountRecord:
    """The remount that makes the mount at `dest` read-only, keeping its nosuid/nodev/noexec (a
    remount of that mount only, as a bind remount is: it works in a user namespace too)."""
    remount = MountRecord("", dest, "", kind)
    remount.flags = (
        L.MS_REMOUNT | L.MS_BIND | L.MS_RDONLY | (flags & (L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC))
    )
    return remount


def defer_readonly(record: MountRecord) -> MountRecord | None:
    """A read-only tmpfs, or a read-only /dev, is mounted read-write and made read-only at the end,
    once what goes beneath it exists (/dev/pts, the devices, the console); runc does the same
    (mountPropagate and finalizeRootfs). Returns that late remount, or None."""
    if record.kind != MOUNT_REGULAR or not record.flags & L.MS_RDONLY:
        return None
    if record.fstype != "tmpfs" and record.dest != "dev":
        return None
    record.flags &= ~L.MS_RDONLY
    return readonly_remount(record.dest, record.flags, MOUNT_REMOUNT_LATE)


def _check_proc_destination(dest: str, fstype: str, is_bind: bool, where: str) -> None:
    if dest == "proc" and (fstype != "proc" or is_bind):
        raise ConfigError(f"{where}.destination", "only a proc filesystem may be mounted on /proc")
    if dest.startswith("proc/") and not (is_bind and dest in PROC_BIND_TARGETS):
        allowed = ", ".join("/" + path for path in sorted(PROC_BIND_TARGETS))
        raise ConfigError(
            f"{where}.destination", f"/{dest}: no mounts inside /proc except binds over {allowed}"
        )


def bind_source_kind(source: str, where: str) -> int:
    """DEST_DIR or DEST_FILE: what the bind's source is, so the child makes a matching mount
    point. The plan's only look at the host's files (plan.HostFacts passes it in)."""
    try:
        st = posix.stat(source)
    except OSError as err:
        raise ConfigError(f"{where}.source", f"bind source {source}: {errno_text(err)}") from None
    import stat

    return DEST_DIR if stat.S_ISDIR(st.st_mode) else DEST_FILE


def build(
    mount: dict, index: int, bundle: str, userns_mappings: tuple | None = None, source_kind=bind_source_kind
) -> MountRecord:
    """One config mount -> its record. Raises ConfigError naming mounts[index]. `source_kind`
    (bind_source_kind) is the only I/O."""
    where = f"mounts[{index}]"
    options = mount.get("options") or []
    flags, propagation, data = parse_options(options)
    fstype = mount.get("type") or ""
    dest = clean_dest(mount["destination"])
    if not dest:
        raise ConfigError(f"{where}.destination", "cannot mount over the container's root /")
    is_bind = bool(flags & L.MS_BIND) or fstype == "bind"
    _check_proc_destination(dest, fstype, is_bind, where)
    source = mount.get("source") or ""
    if is_bind:
        source = source if source.startswith("/") else join(bundle, source)
        record = MountRecord(source, dest, "", MOUNT_BIND, source_kind(source, where))
        record.flags = (flags | L.MS_BIND) & (L.MS_BIND | L.MS_REC)
        extra = flags & ~BIND_MECHANICS
        record.remount = extra
    else:
        if not fstype:
            raise ConfigError(f"{where}.type", "a mount that is not a bind mount needs a type")
        record = MountRecord(source or fstype, dest, fstype, MOUNT_REGULAR)
        record.flags = flags
        record.data = ",".join(data)
    # Data options mean nothing to a bind mount; runc ignores them and managers do send some.
    record.propagation = propagation
    record.rec_set, record.rec_clear = recursive_attributes(options)
    _idmap(record, mount, options, where, is_bind, userns_mappings)
    return record


def _idmap(
    record: MountRecord,
    mount: dict,
    options: list[str],
    where: str,
    is_bind: bool,
    userns_mappings: tuple | None,
) -> None:
    """idmap/ridmap (runtime-spec 1.2): the bind is idmapped with the mount's own mappings, or
    the container's user namespace mappings when it gives none."""
    modes = [IDMAP_OPTIONS[o] for o in options if o in IDMAP_OPTIONS]
    has_maps = "uidMappings" in mount or "gidMappings" in mount
    if not modes:
        if has_maps:
            raise ConfigError(f"{where}.uidMappings", "mount id mappings need the idmap or ridmap option")
        return
    if not is_bind:
        raise ConfigError(f"{where}.options", "idmap and ridmap apply to bind mounts only")
    if has_maps:
        record.id_mappings = (mount.get("uidMappings") or [], mount.get("gidMappings") or [])
    elif userns_mappings:
        record.id_mappings = userns_mappings
    else:
        raise ConfigError(
            f"{where}.options", "an idmapped mount needs uidMappings and gidMappings, or a user namespace"
        )
    record.idmap = max(modes)
