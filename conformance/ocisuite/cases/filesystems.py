"""config.md Root and Mounts; config-linux.md rootfsPropagation, maskedPaths, readonlyPaths."""

from __future__ import annotations

import os
import shutil

from .. import config as cfgmod
from .. import sysutil
from ..ctx import Ctx, errno_of
from ..registry import case

CHECK = cfgmod.CHECKER


def _mount_at(t: Ctx, pid: int, point: str) -> sysutil.MountEntry:
    entries = [m for m in sysutil.read_mountinfo(pid) if m.mountpoint == point]
    t.check(entries, f"no mount at {point} in the container's mountinfo")
    return entries[-1]


# ------------------------------------------------------------------ root


@case(
    "root/readonly",
    spec="config.md root.readonly: the root filesystem MUST be read-only inside the container",
)
def root_readonly(t: Ctx) -> None:
    b = t.bundle([CHECK, "write", "/probe", "statfs", "/"])
    b.config["root"]["readonly"] = True
    r = t.run_report(b)
    t.eq(errno_of(r.get("write:/probe")), "EROFS", "writing a file in /")
    t.check((r.get("statfs:/") or "").startswith("ro,"), f"/ is mounted {r.get('statfs:/')!r}, want ro")
    t.check(not os.path.exists(b.rootfs + "/probe"), "the file appeared in the rootfs")


@case("root/readwrite", spec="config.md root.readonly defaults to false")
def root_readwrite(t: Ctx) -> None:
    b = t.bundle([CHECK, "write", "/probe", "statfs", "/"])
    r = t.run_report(b)
    t.eq(r.get("write:/probe"), "ok", "writing a file in /")
    t.check(os.path.exists(b.rootfs + "/probe"), "the file written in / is not in the bundle's rootfs")


@case("root/absolute-path", spec="config.md root.path: an absolute path or a path relative to the bundle")
def root_absolute_path(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/elsewhere-marker"])
    moved = t.path("rootfs-elsewhere")
    shutil.move(b.rootfs, moved)
    open(os.path.join(moved, "elsewhere-marker"), "w").close()
    b.config["root"]["path"] = moved
    r = t.run_report(b)
    marker = r.get("stat:/elsewhere-marker") or ""
    t.check(marker.startswith("f:"), "the container does not run in the absolute root.path")


@case("root/is-root-of-mount-tree", spec="config.md root: the container's / is the bundle's rootfs")
def root_is_rootfs(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    open(os.path.join(b.rootfs, "rootfs-marker"), "w").close()
    c = t.create(b)
    t.check(
        os.path.exists(f"/proc/{c.pid}/root/rootfs-marker"), "/proc/PID/root does not show the bundle rootfs"
    )
    t.check(
        not os.path.exists(f"/proc/{c.pid}/root{os.path.dirname(os.path.abspath(__file__))}"),
        "the host's tree is visible from the container root",
    )


# ------------------------------------------------------------------ mounts


@case("mounts/tmpfs-options", spec="config.md mounts: type, source, options (mount(8) semantics)")
def tmpfs_options(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/scratch", "statfs", "/scratch"])
    cfgmod.add_mount(
        b.config, "/scratch", "tmpfs", "tmpfs", ["nosuid", "nodev", "noexec", "mode=1770", "size=1m"]
    )
    r = t.run_report(b)
    t.eq((r.get("stat:/scratch") or "").split(":")[:2], ["d", "1770"], "type and mode of the tmpfs root")
    t.eq(r.get("statfs:/scratch"), "rw,nosuid,nodev,noexec,", "flags of the tmpfs")


@case(
    "mounts/seen-from-host",
    spec="config.md mounts: the runtime MUST mount entries (checked in /proc/PID/mountinfo)",
)
def mounts_seen_from_host(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    cfgmod.add_mount(b.config, "/scratch", "tmpfs", "tmpfs", ["size=2m", "ro"])
    c = t.create(b)
    m = _mount_at(t, c.pid, "/scratch")
    t.eq(m.fstype, "tmpfs", "fstype at /scratch")
    t.check("ro" in m.opts, f"/scratch options {sorted(m.opts)} lack ro")
    t.check(
        "size=2048k" in m.super_opts, f"/scratch superblock options {sorted(m.super_opts)} lack size=2048k"
    )
    for point, fstype in (("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"), ("/sys", "sysfs")):
        t.eq(_mount_at(t, c.pid, point).fstype, fstype, f"fstype at {point}")


@case("mounts/listed-order", spec="config.md mounts: the runtime MUST mount entries in the listed order")
def listed_order(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/outer/inner", "statfs", "/outer/inner"])
    cfgmod.add_mount(b.config, "/outer", "tmpfs", "tmpfs", ["size=1m"])
    cfgmod.add_mount(b.config, "/outer/inner", "tmpfs", "tmpfs", ["size=1m", "ro"])
    c = t.create(b)
    points = [m.mountpoint for m in sysutil.read_mountinfo(c.pid)]
    c.start()
    c.wait_stopped()
    t.check(
        "/outer/inner" in points and points.index("/outer") < points.index("/outer/inner"),
        "/outer/inner was not mounted after (on top of) /outer",
    )
    t.check(
        (c.output().get("statfs:/outer/inner") or "").startswith("ro,"), "/outer/inner is not the ro tmpfs"
    )


@case(
    "mounts/dev-readonly",
    spec="config.md mounts: a read-only /dev tmpfs with /dev/pts and the default devices beneath it "
    "(config-linux.md Default Devices); runc makes it read-only after what is mounted below",
)
def dev_readonly(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/dev/pts/ptmx", "open", "/dev/null", "w", "write", "/dev/probe",
                  "statfs", "/dev"])  # fmt: skip
    for m in b.config["mounts"]:
        if m["destination"] == "/dev":
            m["options"] = [*m.get("options", []), "ro"]
    r = t.run_report(b)
    t.check((r.get("stat:/dev/pts/ptmx") or "").startswith("c:"), "/dev/pts is not mounted below /dev")
    t.eq(r.get("open:/dev/null"), "ok", "opening /dev/null for writing")
    t.eq(errno_of(r.get("write:/dev/probe")), "EROFS", "creating a file in /dev")
    t.check(
        (r.get("statfs:/dev") or "").startswith("ro,"), f"/dev is mounted {r.get('statfs:/dev')!r}, want ro"
    )


@case("mounts/bind-directory", spec="config.md mounts: bind mounts of a host directory")
def bind_directory(t: Ctx) -> None:
    src = t.path("shared-dir")
    os.makedirs(src)
    with open(os.path.join(src, "from-host"), "w") as f:
        f.write("hello")
    b = t.bundle([CHECK, "read", "/data/from-host", "write", "/data/from-container"])
    cfgmod.bind(b.config, src, "/data", ("bind", "rw"))
    r = t.run_report(b)
    t.eq(r.get("read:/data/from-host"), "ok:5", "reading the host's file through the bind mount")
    t.eq(r.get("write:/data/from-container"), "ok", "writing through the bind mount")
    t.check(os.path.exists(os.path.join(src, "from-container")), "the file written inside is not on the host")


@case("mounts/bind-file", spec="config.md mounts: bind mount of a single file")
def bind_file(t: Ctx) -> None:
    src = t.path("one-file")
    with open(src, "w") as f:
        f.write("0123456789")
    b = t.bundle([CHECK, "stat", "/etc/bound", "read", "/etc/bound"])
    cfgmod.bind(b.config, src, "/etc/bound", ("bind", "ro"))
    r = t.run_report(b)
    t.check(
        (r.get("stat:/etc/bound") or "").startswith("f:"),
        f"/etc/bound is {r.get('stat:/etc/bound')!r}, want a file",
    )
    t.eq(r.get("read:/etc/bound"), "ok:10", "reading the bound file")


@case("mounts/bind-readonly", spec="config.md mounts: ro option on a bind mount")
def bind_readonly(t: Ctx) -> None:
    src = t.path("ro-dir")
    os.makedirs(src)
    b = t.bundle([CHECK, "write", "/data/x"])
    cfgmod.bind(b.config, src, "/data", ("bind", "ro"))
    r = t.run_report(b)
    t.eq(errno_of(r.get("write:/data/x")), "EROFS", "writing into a ro bind mount")
    t.check(not os.path.exists(os.path.join(src, "x")), "the write reached the host")


@case(
    "mounts/bind-nosuid-nodev-noexec", spec="config.md Linux mount options: nosuid, nodev, noexec on a bind"
)
def bind_flags(t: Ctx) -> None:
    src = t.path("flag-dir")
    os.makedirs(src)
    b = t.bundle([CHECK, "statfs", "/data"])
    cfgmod.bind(b.config, src, "/data", ("bind", "nosuid", "nodev", "noexec"))
    r = t.run_report(b)
    t.eq(r.get("statfs:/data"), "rw,nosuid,nodev,noexec,", "flags of the bind mount")


@case(
    "mounts/rbind-includes-submounts", spec="config.md Linux mount options: rbind is a recursive bind mount"
)
def rbind_submounts(t: Ctx) -> None:
    src = t.path("tree")
    os.makedirs(os.path.join(src, "sub"))
    sysutil.mount("tmpfs", os.path.join(src, "sub"), "tmpfs", 0, "size=1m")
    open(os.path.join(src, "sub", "in-submount"), "w").close()
    b = t.bundle([CHECK, "stat", "/r/sub/in-submount", "stat", "/nr/sub/in-submount"])
    cfgmod.bind(b.config, src, "/r", ("rbind",))
    cfgmod.bind(b.config, src, "/nr", ("bind",))
    r = t.run_report(b)
    t.check((r.get("stat:/r/sub/in-submount") or "").startswith("f:"), "rbind did not carry the submount")
    t.eq(errno_of(r.get("stat:/nr/sub/in-submount")), "ENOENT", "a plain bind carried the submount")


@case(
    "mounts/destination-created", spec="config.md mounts: destination directories are created in the rootfs"
)
def destination_created(t: Ctx) -> None:
    b = t.bundle([CHECK, "statfs", "/new/deep/dir"])
    cfgmod.add_mount(b.config, "/new/deep/dir", "tmpfs", "tmpfs", ["size=1m"])
    r = t.run_report(b)
    t.check(
        (r.get("statfs:/new/deep/dir") or "").startswith("rw,"), "the missing destination was not created"
    )


@case(
    "mounts/relative-destination",
    spec="config.md mounts: a relative destination is relative to / (deprecated)",
)
def relative_destination(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/reldest"])
    cfgmod.add_mount(b.config, "reldest", "tmpfs", "tmpfs", ["size=1m", "mode=0710"])
    r = t.run_report(b)
    t.eq(
        (r.get("stat:/reldest") or "").split(":")[:2],
        ["d", "0710"],
        "the tmpfs at relative destination reldest",
    )


@case(
    "mounts/bind-source-relative-to-bundle",
    spec="config.md mounts: bind sources are absolute or relative to the bundle",
)
def bind_source_relative(t: Ctx) -> None:
    b = t.bundle([CHECK, "read", "/data/marker"])
    os.makedirs(os.path.join(b.path, "vol"))
    with open(os.path.join(b.path, "vol", "marker"), "w") as f:
        f.write("abc")
    cfgmod.bind(b.config, "vol", "/data", ("bind",))
    r = t.run_report(b)
    t.eq(r.get("read:/data/marker"), "ok:3", "file of the bundle-relative bind source")


@case(
    "mounts/no-symlink-escape",
    spec="DESIGN security rules (CVE-2021-30465): destinations resolve inside the rootfs",
)
def no_symlink_escape(t: Ctx) -> None:
    b = t.bundle(["true"])
    outside = t.path("outside-target")
    os.makedirs(outside)
    os.symlink(outside, os.path.join(b.rootfs, "escape"))
    cfgmod.add_mount(b.config, "/escape", "tmpfs", "tmpfs", ["size=1m"])
    marker = os.path.join(outside, "host-marker")
    open(marker, "w").close()
    c = t.create(b, expect_ok=False)
    if c.create_result.ok:
        host_view = [m for m in sysutil.read_mountinfo() if m.mountpoint == outside]
        t.check(not host_view, "a mount destination symlinked out of the rootfs was mounted on the host path")
        t.check(
            not os.path.exists(f"/proc/{c.pid}/root{marker}"),
            "the host directory is visible in the container",
        )
        t.eq(os.listdir(outside), ["host-marker"], "entries of the host directory the symlink points at")


@case("mounts/propagation-rslave", spec="config.md Linux mount options: rslave bind propagation")
def propagation_rslave(t: Ctx) -> None:
    src = _shared_source(t)
    b = t.bundle(["sleep", "300"])
    cfgmod.bind(b.config, src, "/data", ("rbind", "rslave"))
    c = t.create(b)
    t.eq(_mount_at(t, c.pid, "/data").propagation(), "slave", "propagation of /data")
    _host_mount_reaches(t, c, src, "/data", expect=True)


@case("mounts/propagation-rshared", spec="config.md Linux mount options: rshared bind propagation")
def propagation_rshared(t: Ctx) -> None:
    src = _shared_source(t)
    b = t.bundle(["sleep", "300"])
    cfgmod.bind(b.config, src, "/data", ("rbind", "rshared"))
    c = t.create(b)
    t.check("shared" in _mount_at(t, c.pid, "/data").propagation(), "/data is not shared")
    _host_mount_reaches(t, c, src, "/data", expect=True)


@case("mounts/propagation-rprivate", spec="config.md Linux mount options: rprivate bind propagation")
def propagation_rprivate(t: Ctx) -> None:
    src = _shared_source(t)
    b = t.bundle(["sleep", "300"])
    cfgmod.bind(b.config, src, "/data", ("rbind", "rprivate"))
    c = t.create(b)
    t.eq(_mount_at(t, c.pid, "/data").propagation(), "private", "propagation of /data")
    _host_mount_reaches(t, c, src, "/data", expect=False)


def _shared_source(t: Ctx) -> str:
    """A host directory that is its own shared mount (the work dir is cleaned up by the harness)."""
    src = t.path("shared-src")
    os.makedirs(src)
    sysutil.mount(src, src, None, sysutil.MS_BIND)
    sysutil.mount("none", src, None, sysutil.MS_SHARED)
    return src


def _host_mount_reaches(t: Ctx, c, src: str, dest: str, expect: bool) -> None:
    sub = os.path.join(src, "late")
    os.makedirs(sub)
    sysutil.mount("tmpfs", sub, "tmpfs", 0, "size=1m")
    seen = any(m.mountpoint == dest + "/late" for m in sysutil.read_mountinfo(c.pid))
    t.eq(seen, expect, f"a host mount made after create propagated into {dest}")


# ------------------------------------------------------------------ rootfsPropagation


def _propagation_bundle(t: Ctx, mode: str):
    """A bundle inside a shared host mount, so slave/shared/private give different results."""
    b = t.bundle(["sleep", "300"])
    sysutil.mount(b.path, b.path, None, sysutil.MS_BIND)
    sysutil.mount("none", b.path, None, sysutil.MS_SHARED)
    b.linux["rootfsPropagation"] = mode
    return b


def _root_entry(t: Ctx, pid: int) -> sysutil.MountEntry:
    return _mount_at(t, pid, "/")


@case("propagation/rootfs-slave", spec="config-linux.md rootfsPropagation: slave")
def rootfs_slave(t: Ctx) -> None:
    b = _propagation_bundle(t, "slave")
    os.makedirs(os.path.join(b.rootfs, "mnt", "late"), exist_ok=True)
    c = t.create(b)
    t.check("slave" in _root_entry(t, c.pid).propagation(), "the container's / is not a slave mount")
    sysutil.mount("tmpfs", os.path.join(b.rootfs, "mnt", "late"), "tmpfs", 0, "size=1m")
    seen = any(m.mountpoint == "/mnt/late" for m in sysutil.read_mountinfo(c.pid))
    t.check(seen, "a host mount under the rootfs did not propagate into a slave root")


@case("propagation/rootfs-private", spec="config-linux.md rootfsPropagation: private")
def rootfs_private(t: Ctx) -> None:
    b = _propagation_bundle(t, "private")
    os.makedirs(os.path.join(b.rootfs, "mnt", "late"), exist_ok=True)
    c = t.create(b)
    t.eq(_root_entry(t, c.pid).propagation(), "private", "propagation of the container's /")
    sysutil.mount("tmpfs", os.path.join(b.rootfs, "mnt", "late"), "tmpfs", 0, "size=1m")
    seen = any(m.mountpoint == "/mnt/late" for m in sysutil.read_mountinfo(c.pid))
    t.check(not seen, "a host mount propagated into a private root")


@case("propagation/rootfs-shared", spec="config-linux.md rootfsPropagation: shared")
def rootfs_shared(t: Ctx) -> None:
    b = _propagation_bundle(t, "shared")
    c = t.create(b)
    t.check("shared" in _root_entry(t, c.pid).propagation(), "the container's / is not shared")


@case("propagation/rootfs-unbindable", spec="config-linux.md rootfsPropagation: unbindable")
def rootfs_unbindable(t: Ctx) -> None:
    b = _propagation_bundle(t, "unbindable")
    c = t.create(b)
    t.eq(_root_entry(t, c.pid).propagation(), "unbindable", "propagation of the container's /")


@case(
    "propagation/rootfs-unbindable-anywhere",
    spec="config-linux.md rootfsPropagation: unbindable and runbindable, with the bundle wherever the "
    "suite's work dir is (not a mount of its own: the rootfs must still be bound for pivot_root)",
)
def rootfs_unbindable_anywhere(t: Ctx) -> None:
    for mode in ("unbindable", "runbindable"):
        b = t.bundle(["sleep", "300"])
        b.linux["rootfsPropagation"] = mode
        c = t.create(b)
        t.eq(_root_entry(t, c.pid).propagation(), "unbindable", f"propagation of the container's / ({mode})")
        c.delete(force=True, expect_ok=False)


# ------------------------------------------------------------------ masked and read-only paths


@case("paths/masked-file", spec="config-linux.md maskedPaths: the file MUST be masked so it cannot be read")
def masked_file(t: Ctx) -> None:
    b = t.bundle([CHECK, "read", "/proc/version", "read", "/proc/cmdline"])
    b.linux["maskedPaths"] = ["/proc/version"]
    r = t.run_report(b)
    t.eq(r.get("read:/proc/version"), "ok:0", "reading the masked /proc/version")
    t.check((r.get("read:/proc/cmdline") or "ok:0") != "ok:0", "an unmasked /proc file is not readable")


@case("paths/masked-directory", spec="config-linux.md maskedPaths: a masked directory shows nothing")
def masked_directory(t: Ctx) -> None:
    b = t.bundle([CHECK, "ls", "/sys/kernel", "write", "/sys/kernel/probe"])
    b.linux["maskedPaths"] = ["/sys/kernel"]
    r = t.run_report(b)
    t.eq(r.get("ls:/sys/kernel"), "", "entries of the masked /sys/kernel")
    t.check(
        errno_of(r.get("write:/sys/kernel/probe")) in ("EROFS", "EACCES", "EPERM"),
        "the masked directory is writable",
    )


# Masked paths of `runc spec` that are files; /dev/null ends up over them.
_MASKED_FILES = ("/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                 "/proc/sched_debug", "/proc/sysrq-trigger")  # fmt: skip


@case(
    "paths/masks-leave-host-null-alone",
    spec="config-linux.md maskedPaths; runtime.md: changes inside the container must not reach the host "
    "(a mask bound from the host's /dev/null must not let chmod/chown/utimes change it: CVE-2025-31133 fix)",
)
def masks_leave_host_null_alone(t: Ctx) -> None:
    masked = [p for p in _MASKED_FILES if os.path.exists(p)]
    if not masked:
        t.skip("this kernel has none of the usual masked /proc files")
    before = os.stat("/dev/null")
    mode = f"{before.st_mode & 0o7777:o}"
    args = [CHECK]
    for path in masked:  # the host's own mode and owner: a vulnerable runtime changes only ctime
        args += ["chmod", path, mode, "chown", path, str(before.st_uid), str(before.st_gid), "utimes", path]
    b = t.bundle(args)
    b.linux["maskedPaths"] = masked
    cfgmod.all_caps(b.config, [*cfgmod.DEFAULT_CAPS, "CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"])
    try:
        r = t.run_report(b)
    finally:
        after = os.stat("/dev/null")
        os.chown("/dev/null", before.st_uid, before.st_gid)
        os.chmod("/dev/null", before.st_mode & 0o7777)
        os.utime("/dev/null", ns=(before.st_atime_ns, before.st_mtime_ns))
    for path in masked:
        for op in ("chmod", "chown", "utimes"):
            t.check(f"{op}:{path}" in r, f"the checker did not report {op} of {path}")
    t.eq(
        (after.st_mode, after.st_uid, after.st_gid, after.st_ctime_ns),
        (before.st_mode, before.st_uid, before.st_gid, before.st_ctime_ns),
        "the host's /dev/null (mode, uid, gid, ctime) after chmod/chown/utimes of the masked files",
    )


@case(
    "paths/no-fresh-procfs",
    needs=("user_ns",),
    spec="config-linux.md maskedPaths, readonlyPaths: a process that makes its own user namespace must "
    "not mount a fresh, unmasked proc or sysfs (the kernel allows it only if one is fully visible)",
)
def no_fresh_procfs(t: Ctx) -> None:
    b, kinds = newfs_bundle(t)
    r = t.run_report(b)
    for fs in kinds:
        t.check(r.get(f"newfs:{fs}") != "ok", f"a fresh {fs} was mounted in the container")


@case(
    "paths/no-fresh-procfs-no-pivot",
    needs=("user_ns",),
    spec="config-linux.md maskedPaths with runc's create --no-pivot: no fresh proc or sysfs from a user "
    "namespace either (the host's proc and sysfs stay in the mount namespace under the moved rootfs)",
)
def no_fresh_procfs_no_pivot(t: Ctx) -> None:
    b, kinds = newfs_bundle(t)
    c = t.create(b, extra=("--no-pivot",))
    c.start()
    c.wait_stopped()
    r = c.output()
    t.check(r.values, f"the checker printed nothing{c._container_stderr()}")
    for fs in kinds:
        t.check(r.get(f"newfs:{fs}") != "ok", f"a fresh {fs} was mounted in the container")


def newfs_bundle(t: Ctx):
    """A bundle whose process tries `newfs`, with masks that leave neither the container's proc nor
    (where /sys/firmware exists) its sysfs fully visible; returns it and the filesystems to check."""
    b = t.bundle([CHECK, "newfs"])
    b.linux["maskedPaths"] = [p for p in (*_MASKED_FILES, "/sys/firmware") if os.path.exists(p)]
    b.linux["readonlyPaths"] = ["/proc/sys"]
    return b, ("proc", "sysfs") if os.path.exists("/sys/firmware") else ("proc",)


@case(
    "paths/masked-missing-ignored",
    spec="config-linux.md maskedPaths: a path that does not exist is not an error",
)
def masked_missing(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.linux["maskedPaths"] = ["/proc/does-not-exist-ocisuite"]
    r = t.run_report(b)
    t.check("uid" in r, "the container did not run")


@case("paths/readonly", spec="config-linux.md readonlyPaths: the path MUST be read-only inside the container")
def readonly_path(t: Ctx) -> None:
    b = t.bundle([CHECK, "open", "/proc/sys/kernel/hostname", "w", "statfs", "/proc/sys", "statfs", "/proc"])
    b.linux["readonlyPaths"] = ["/proc/sys"]
    r = t.run_report(b)
    t.eq(
        errno_of(r.get("open:/proc/sys/kernel/hostname")),
        "EROFS",
        "opening a file under /proc/sys for writing",
    )
    t.check((r.get("statfs:/proc/sys") or "").startswith("ro,"), "/proc/sys is not a ro mount")
    t.check((r.get("statfs:/proc") or "").startswith("rw,"), "the rest of /proc became read-only too")


@case(
    "paths/readonly-missing-ignored",
    spec="config-linux.md readonlyPaths: a path that does not exist is not an error",
)
def readonly_missing(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.linux["readonlyPaths"] = ["/proc/does-not-exist-ocisuite"]
    r = t.run_report(b)
    t.check("uid" in r, "the container did not run")
