"""config.json -> the launch plan: everything the child and the init helper need, as C-friendly records.

build() is pure: what it needs of the machine (the rootfs, whether /proc/kcore exists, the
runtime's capabilities, a bind source's kind) and of create's own steps (the cgroup mounts, the
idmapped trees) comes in HostFacts, which create gathers; the fuzzers and tests give their own.

The plan is a byte string of records (u32 tag, u32 length, payload; numbers first, then
NUL-terminated strings), read by pyrunc/csrc/common.c. Policy lives here; the C side only executes.
Tags mirror pyrunc/csrc/common.h (tests/unit/test_plan_layout.py checks tags and layouts agree).
"""

import struct

from pyrunc import cpulist, mounts
from pyrunc import linux as L
from pyrunc.config import ConfigError
from pyrunc.errors import PyruncError

T_CLONE_FLAGS = 1
T_JOIN_NS = 2
T_ROOTFS = 3
T_ROOT_PROPAGATION = 4
T_ROOTFS_PROPAGATION = 5
T_NO_PIVOT = 6
T_ROOT_READONLY = 7
T_MOUNT = 8
T_DEVICE = 9
T_SYMLINK = 10
T_MASKED = 11
T_READONLY = 12
T_HOSTNAME = 13
T_DOMAINNAME = 14
T_SYSCTL = 15
T_RLIMIT = 16
T_OOM_SCORE_ADJ = 17
T_HOOK_CREATE_CONTAINER = 18
T_TIME_OFFSETS = 19
T_RUNTIME_HOOKS = 20
T_MKDIR = 23
T_EXEC = 24
T_CPU_AFFINITY = 25
T_ARGS = 40
T_ENV = 41
T_CWD = 42
T_USER = 43
T_CAPS = 44
T_NO_NEW_PRIVS = 45
T_SECCOMP = 46
T_HOOK_START_CONTAINER = 47
T_PRESERVE_FDS = 48
T_FDS = 49
T_PERSONALITY = 50
T_SCHEDULER = 51
T_IOPRIO = 52
T_CONSOLE_SIZE = 54
T_HOOK_STATE = 55
T_MEMORY_POLICY = 60
T_CHROOT = 64

_header = struct.Struct("<II").pack
_u32 = u32 = struct.Struct("<I").pack
_i32 = struct.Struct("<i").pack
_u64 = u64 = struct.Struct("<Q").pack

# The join order: the user namespace first (it grants the rights to join the others),
# the mount namespace last.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")

DEFAULT_DEVICES = (
    ("dev/null", 1, 3),
    ("dev/zero", 1, 5),
    ("dev/full", 1, 7),
    ("dev/random", 1, 8),
    ("dev/urandom", 1, 9),
    ("dev/tty", 5, 0),
)
DEFAULT_SYMLINKS = (
    ("/proc/self/fd", "dev/fd"),
    ("/proc/self/fd/0", "dev/stdin"),
    ("/proc/self/fd/1", "dev/stdout"),
    ("/proc/self/fd/2", "dev/stderr"),
)
_DEVICE_TYPES = {"c": L.S_IFCHR, "u": L.S_IFCHR, "b": L.S_IFBLK, "p": L.S_IFIFO}


def record(tag: int, payload: bytes = b"") -> bytes:
    return _header(tag, len(payload)) + payload


def cstr(text: str, where: str = "") -> bytes:
    data = text.encode()
    if b"\0" in data:
        raise ConfigError(where, "contains a NUL character")
    return data + b"\0"


def strings(items: list[str], where: str) -> bytes:
    return _u32(len(items)) + b"".join(cstr(item, f"{where}[{i}]") for i, item in enumerate(items))


class Fds:
    """The fd numbers the child and the helper inherit (-1: none)."""

    __slots__ = ("console", "fifo", "plan", "sync")

    def __init__(self, sync: int, fifo: int, plan: int, console: int = -1) -> None:
        self.sync = sync
        self.fifo = fifo
        self.plan = plan
        self.console = console

    def encode(self) -> bytes:
        return record(T_FDS, b"".join(_i32(fd) for fd in (self.sync, self.fifo, self.plan, self.console)))


class HostFacts:
    """What a plan needs of the host, passed in so that build() reads and changes nothing.

    rootfs: root.path resolved (an existing directory); kcore: /proc/kcore exists (dev/core links
    to it); in_userns: the runtime runs in a user namespace (devices are bound, not made);
    ungrantable_caps: the capabilities the kernel knows that the runtime's bounding set lacks.
    Callables: bind_source_kind(source, where) -> mounts.DEST_DIR or DEST_FILE;
    cgroup_mounts(mount, index) -> [MountRecord]; idmap_tree(MountRecord) -> fd of the tree."""

    __slots__ = (
        "bind_source_kind",
        "cgroup_mounts",
        "idmap_tree",
        "in_userns",
        "kcore",
        "rootfs",
        "ungrantable_caps",
    )

    def __init__(
        self,
        rootfs: str,
        *,
        kcore: bool,
        in_userns: bool,
        ungrantable_caps: int,
        bind_source_kind,
        cgroup_mounts=None,
        idmap_tree=None,
    ) -> None:
        self.rootfs = rootfs
        self.kcore = kcore
        self.in_userns = in_userns
        self.ungrantable_caps = ungrantable_caps
        self.bind_source_kind = bind_source_kind
        self.cgroup_mounts = cgroup_mounts
        self.idmap_tree = idmap_tree


class Plan:
    """What build() makes: the records from the namespaces to the process (create appends the
    seccomp filter, the console's and the fds', which need its own steps)."""

    __slots__ = ("namespaces", "process", "records")

    def __init__(self, namespaces: "Namespaces", process: dict, records: list[bytes]) -> None:
        self.namespaces = namespaces
        self.process = process  # config.process as the init runs it (LISTEN_FDS added)
        self.records = records


def require_process(config: dict) -> None:
    if not config.get("process"):
        raise ConfigError("process", "a process is required to create a container")


def build(
    config: dict,
    bundle: str,
    host: HostFacts,
    *,
    no_pivot: bool = False,
    preserve_fds: int = 0,
    listen_fds: int = 0,
) -> Plan:
    """A container's plan up to its process's records, from its config and the host's facts.
    `preserve_fds` counts the `listen_fds` (systemd socket activation) passed on too."""
    require_process(config)
    namespaces = Namespaces(config)
    records = child_records(config, bundle, host, namespaces, no_pivot=no_pivot)
    process = listen_fds_process(config["process"], listen_fds)
    records += limit_records(process)
    records += attribute_records(process, config.get("linux") or {})
    records += process_records(process, preserve_fds=preserve_fds, ungrantable_caps=host.ungrantable_caps)
    return Plan(namespaces, process, records)


def listen_fds_process(process: dict, count: int) -> dict:
    """As runc: the process is told LISTEN_FDS=N and LISTEN_PID=1 (it is pid 1 of its namespace)."""
    if not count:
        return process
    env = [e for e in process.get("env") or [] if not e.startswith(("LISTEN_FDS=", "LISTEN_PID="))]
    return {**process, "env": [*env, f"LISTEN_FDS={count}", "LISTEN_PID=1"]}


class Namespaces:
    """What to create and what to join, from linux.namespaces."""

    __slots__ = ("clone_flags", "joins", "types")

    def __init__(self, config: dict) -> None:
        self.clone_flags = 0
        self.joins: list[tuple[str, str]] = []
        self.types: set[str] = set()
        for ns in (config.get("linux") or {}).get("namespaces") or []:
            kind = ns["type"]
            self.types.add(kind)
            if ns.get("path"):
                self.joins.append((kind, ns["path"]))
            else:
                self.clone_flags |= L.NAMESPACES[kind][0]
        self.joins.sort(key=lambda item: JOIN_ORDER.index(item[0]))

    @property
    def direct(self) -> bool:
        """clone() straight into the new namespaces; otherwise fork, join, unshare, fork."""
        return not self.joins and not self.clone_flags & L.CLONE_NEWTIME

    @property
    def new_userns(self) -> bool:
        return bool(self.clone_flags & L.CLONE_NEWUSER)

    def encode(self) -> bytes:
        out = [record(T_CLONE_FLAGS, _u64(self.clone_flags))]
        for kind, path in self.joins:
            out.append(record(T_JOIN_NS, _u32(L.NAMESPACES[kind][0]) + cstr(path, "linux.namespaces.path")))
        return b"".join(out)


def hook_record(tag: int, hook: dict, where: str) -> bytes:
    args = hook.get("args") or []
    env = hook.get("env") or []
    payload = (
        _u32(hook.get("timeout") or 0)
        + _u32(len(args))
        + _u32(len(env))
        + cstr(hook["path"], f"{where}.path")
        + b"".join(cstr(a, f"{where}.args") for a in args)
        + b"".join(cstr(e, f"{where}.env") for e in env)
    )
    return record(tag, payload)


def mount_record(m: mounts.MountRecord) -> bytes:
    payload = (
        _u64(m.flags)
        + _u64(m.propagation)
        + _u64(m.remount)
        + _u32(m.kind)
        + _u32(m.dest_kind)
        + _u64(m.rec_set)
        + _u64(m.rec_clear)
        + _u32(m.idmap)
        + _i32(m.tree_fd)
        + cstr(m.source, "mounts.source")
        + cstr(m.dest, "mounts.destination")
        + cstr(m.fstype, "mounts.type")
        + cstr(m.data, "mounts.options")
        + cstr(m.fallback, "mounts.source")
    )
    return record(T_MOUNT, payload)


def device_record(path: str, mode: int, major: int, minor: int, uid: int, gid: int, bind: bool) -> bytes:
    payload = _u32(mode) + _u32(major) + _u32(minor) + _u32(uid) + _u32(gid) + _u32(int(bind)) + cstr(path)
    return record(T_DEVICE, payload)


def capability_mask(names: list[str], where: str) -> int:
    mask = 0
    for i, name in enumerate(names or []):
        bit = L.CAPABILITIES.get(name)
        if bit is None:
            raise ConfigError(f"{where}[{i}]", f"unknown capability {name!r}")
        mask |= 1 << bit
    return mask


def _check_grantable(masks: list[int], ungrantable: int, where: str) -> None:
    """capset refuses a capability outside the bounding set the runtime itself runs with (e.g.
    `docker run --privileged` on a host whose bounding set lacks CAP_SYS_RESOURCE): name them,
    instead of the helper's bare "set capabilities: operation not permitted". Effective and
    permitted are cut to the config's bounding set first, as the helper does."""
    bounding, effective, permitted, inheritable, _ambient = masks
    missing = (((effective | permitted) & bounding) | inheritable) & ungrantable
    if missing:
        names = [name for name, bit in L.CAPABILITIES.items() if missing >> bit & 1]
        raise PyruncError(
            f"{where}: cannot grant {', '.join(names)}: not in the bounding set this runtime runs with"
        )


def _propagation_flags(value: str, where: str) -> int:
    flags = mounts.PROPAGATION_OPTIONS.get(value)
    if flags is None:
        raise ConfigError(where, f"unknown propagation {value!r}")
    return flags


def _before_pivot(flags: int) -> int:
    """The propagation of the namespace's / while the rootfs is bound and set up. An unbindable
    mount cannot be the source of the rootfs's bind (EINVAL), so (r)unbindable is (r)private
    until pivot_root and unbindable after it, as runc does since 1.2; an unbindable mount is a
    private one that also refuses to be bound."""
    if flags & L.MS_UNBINDABLE:
        return (flags & ~L.MS_UNBINDABLE) | L.MS_PRIVATE
    return flags


class RootfsPlanner:
    """The child's rootfs records: mounts, devices, links, protected paths."""

    def __init__(self, config: dict, bundle: str, namespaces: Namespaces, host: HostFacts) -> None:
        self.config = config
        self.linux = config.get("linux") or {}
        self.bundle = bundle
        self.namespaces = namespaces
        self.host = host

    def mounts(self) -> list[bytes]:
        userns_mappings = None
        if "user" in self.namespaces.types:
            userns_mappings = (self.linux.get("uidMappings") or [], self.linux.get("gidMappings") or [])
        out: list[bytes] = []
        late: list[bytes] = []
        for index, mount in enumerate(self.config.get("mounts") or []):
            mount = sysfs_as_bind(mount, self.namespaces)
            if mount.get("type") == "cgroup" and not set(mount.get("options") or ()) & {"bind", "rbind"}:
                out.extend(mount_record(m) for m in self.host.cgroup_mounts(mount, index))
                continue
            record_ = mounts.build(mount, index, self.bundle, userns_mappings, self.host.bind_source_kind)
            if record_.idmap:
                record_.tree_fd = self.host.idmap_tree(record_)
            remount = mounts.defer_readonly(record_)
            if remount is not None:
                late.append(mount_record(remount))
            out.append(mount_record(record_))
        return out + late

    def devices(self) -> list[bytes]:
        # No device node can be made in a user namespace (ours, or the one a rootless podman
        # runs us in): bind the host's instead, as runc does.
        in_userns = "user" in self.namespaces.types or self.host.in_userns
        out = []
        seen = set()
        for index, dev in enumerate(self.linux.get("devices") or []):
            where = f"linux.devices[{index}]"
            path = mounts.clean_dest(dev["path"])
            seen.add(path)
            kind = _DEVICE_TYPES[dev["type"]]
            mode = kind | (dev.get("fileMode", 0o666) & 0o7777)
            major = dev.get("major", 0)
            minor = dev.get("minor", 0)
            if kind != L.S_IFIFO and ("major" not in dev or "minor" not in dev):
                raise ConfigError(where, "major and minor are required for this device type")
            out.append(
                device_record(path, mode, major, minor, dev.get("uid", 0), dev.get("gid", 0), in_userns)
            )
        for path, major, minor in DEFAULT_DEVICES:
            if path not in seen:
                out.append(device_record(path, L.S_IFCHR | 0o666, major, minor, 0, 0, in_userns))
        return out

    def symlinks(self) -> list[bytes]:
        links = list(DEFAULT_SYMLINKS)
        dests = {mounts.clean_dest(m["destination"]) for m in self.config.get("mounts") or []}
        if "dev/pts" in dests:
            links.append(("pts/ptmx", "dev/ptmx"))
        if self.host.kcore:
            links.append(("/proc/kcore", "dev/core"))
        return [record(T_SYMLINK, cstr(target) + cstr(path)) for target, path in links]

    def protected_paths(self) -> list[bytes]:
        out = [record(T_READONLY, cstr(mounts.clean_dest(p))) for p in self.linux.get("readonlyPaths") or []]
        out += [record(T_MASKED, cstr(mounts.clean_dest(p))) for p in self.linux.get("maskedPaths") or []]
        return out


def sysfs_as_bind(mount: dict, namespaces: Namespaces) -> dict:
    """In a user namespace without a network namespace of its own, the kernel refuses to mount
    sysfs (it belongs to the host's network namespace): bind the host's /sys instead, read-only
    if asked, as runc does for rootless containers."""
    if mount.get("type") != "sysfs" or "user" not in namespaces.types:
        return mount
    if namespaces.clone_flags & L.CLONE_NEWNET:
        return mount
    options = ["rbind", "nosuid", "noexec", "nodev"]
    if "ro" in (mount.get("options") or []):
        options.append("ro")
    return {"destination": mount["destination"], "type": "bind", "source": "/sys", "options": options}


def _sysctl_records(linux: dict) -> list[bytes]:
    """Keys were validated (namespaced, known form); sysctl(8) also takes '/' as the separator."""
    from pyrunc.config.semantic import normalize_sysctl_key

    out = []
    for key, value in (linux.get("sysctl") or {}).items():
        path = "/proc/sys/" + normalize_sysctl_key(key).replace(".", "/")
        out.append(record(T_SYSCTL, cstr(path, f"linux.sysctl.{key}") + cstr(value, f"linux.sysctl.{key}")))
    return out


def _time_offsets(linux: dict) -> str:
    lines = []
    for clock, offset in (linux.get("timeOffsets") or {}).items():
        lines.append(f"{clock} {offset.get('secs', 0)} {offset.get('nanosecs', 0)}\n")
    return "".join(lines)


def child_records(
    config: dict, bundle: str, host: HostFacts, namespaces: Namespaces, *, no_pivot: bool
) -> list[bytes]:
    """Everything up to the exec of the init helper."""
    linux = config.get("linux") or {}
    planner = RootfsPlanner(config, bundle, namespaces, host)
    hooks = config.get("hooks") or {}
    out = [namespaces.encode(), record(T_ROOTFS, cstr(host.rootfs))]
    if "mount" in namespaces.types:
        out += _rootfs_records(config, planner, no_pivot)
    else:
        out += _chroot_records(config, host.rootfs)
    if config.get("hostname") is not None and "uts" in namespaces.types:
        out.append(record(T_HOSTNAME, cstr(config["hostname"], "hostname")))
    if config.get("domainname") is not None and "uts" in namespaces.types:
        out.append(record(T_DOMAINNAME, cstr(config["domainname"], "domainname")))
    out += _sysctl_records(linux)
    offsets = _time_offsets(linux)
    if offsets:
        out.append(record(T_TIME_OFFSETS, cstr(offsets)))
    if hooks.get("prestart") or hooks.get("createRuntime"):
        out.append(record(T_RUNTIME_HOOKS))
    for index, hook in enumerate(hooks.get("createContainer") or []):
        out.append(hook_record(T_HOOK_CREATE_CONTAINER, hook, f"hooks.createContainer[{index}]"))
    for index, hook in enumerate(hooks.get("startContainer") or []):
        out.append(hook_record(T_HOOK_START_CONTAINER, hook, f"hooks.startContainer[{index}]"))
    return out


def _cwd_record(config: dict) -> list[bytes]:
    cwd = mounts.clean_dest((config.get("process") or {}).get("cwd") or "/")
    return [record(T_MKDIR, _u32(0o755) + cstr(cwd))] if cwd else []  # runc creates a missing cwd


def _rootfs_records(config: dict, planner: RootfsPlanner, no_pivot: bool) -> list[bytes]:
    """In the container's own mount namespace: propagation, mounts, /dev, protected paths."""
    linux = config.get("linux") or {}
    out = []
    propagation = linux.get("rootfsPropagation")
    if propagation:
        flags = _propagation_flags(propagation, "linux.rootfsPropagation")
        out.append(record(T_ROOT_PROPAGATION, _u64(_before_pivot(flags))))
        out.append(record(T_ROOTFS_PROPAGATION, _u64(flags)))
    if no_pivot:
        out.append(record(T_NO_PIVOT))
    if (config.get("root") or {}).get("readonly"):
        out.append(record(T_ROOT_READONLY))
    out += _cwd_record(config)
    out += planner.mounts()
    out += planner.devices()
    out += planner.symlinks()
    out += planner.protected_paths()
    return out


def _chroot_records(config: dict, rootfs: str) -> list[bytes]:
    """No mount namespace listed: the init stays in the runtime's and only chroots into the rootfs
    (runc and crun do the same). Nothing is mounted, bound or remounted, since every mount would
    be the host's; the config's checks refused what would need it (mounts, masked and read-only
    paths, devices...), and the default /dev nodes and links are left out for the same reason.
    --no-pivot changes nothing here: there is no mount to move."""
    return [record(T_CHROOT, cstr(rootfs)), *_cwd_record(config)]


def limit_records(process: dict) -> list[bytes]:
    out = []
    for index, rlimit in enumerate(process.get("rlimits") or []):
        number = L.RLIMITS.get(rlimit["type"])
        if number is None:
            raise ConfigError(f"process.rlimits[{index}].type", f"unknown rlimit {rlimit['type']!r}")
        where = f"process.rlimits[{index}] ({rlimit['type']})"
        out.append(record(T_RLIMIT, _u32(number) + _u64(rlimit["soft"]) + _u64(rlimit["hard"]) + cstr(where)))
    if process.get("oomScoreAdj") is not None:
        out.append(record(T_OOM_SCORE_ADJ, _i32(process["oomScoreAdj"])))
    return out


def process_records(
    process: dict, *, preserve_fds: int, ungrantable_caps: int, where: str = "process"
) -> list[bytes]:
    """What the init helper applies: creds, caps, cwd, args, env. `ungrantable_caps`: see HostFacts."""
    user = process.get("user") or {}
    gids = user.get("additionalGids") or []
    umask = user.get("umask")
    user_payload = (
        _u32(user.get("uid", 0))
        + _u32(user.get("gid", 0))
        + _u32(0o022 if umask is None else umask)
        + _u32(len(gids))
        + b"".join(_u32(g) for g in gids)
    )
    out = [
        record(T_ARGS, strings(process.get("args") or [], f"{where}.args")),
        record(T_ENV, strings(process.get("env") or [], f"{where}.env")),
        record(T_CWD, cstr(process.get("cwd") or "/", f"{where}.cwd")),
        record(T_USER, user_payload),
    ]
    caps = process.get("capabilities")
    if caps is not None:
        masks = [
            capability_mask(caps.get(s) or [], f"{where}.capabilities.{s}")
            for s in ("bounding", "effective", "permitted", "inheritable", "ambient")
        ]
        _check_grantable(masks, ungrantable_caps, f"{where}.capabilities")
        out.append(record(T_CAPS, b"".join(_u64(m) for m in masks)))
    if process.get("noNewPrivileges"):
        out.append(record(T_NO_NEW_PRIVS))
    if preserve_fds:
        out.append(record(T_PRESERVE_FDS, _u32(preserve_fds)))
    return out


SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3


PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
SCHED_POLICIES = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}


def attribute_records(process: dict, linux: dict) -> list[bytes]:
    """personality and memoryPolicy (linux), scheduler and ioPriority (process), applied by the init
    helper."""
    out = []
    personality = linux.get("personality")
    if personality:
        out.append(record(T_PERSONALITY, _u32(PERSONALITY_DOMAINS[personality["domain"]])))
    sched = process.get("scheduler")
    if sched:
        flags = 0
        for name in sched.get("flags") or []:
            flags |= SCHED_FLAGS[name]
        payload = (
            _u32(SCHED_POLICIES[sched["policy"]])
            + _i32(sched.get("nice", 0))
            + _u32(sched.get("priority", 0))
            + _u64(flags)
            + _u64(sched.get("runtime", 0))
            + _u64(sched.get("deadline", 0))
            + _u64(sched.get("period", 0))
        )
        out.append(record(T_SCHEDULER, payload))
    ioprio = process.get("ioPriority")
    if ioprio:
        out.append(record(T_IOPRIO, _u32(IOPRIO_CLASSES[ioprio["class"]]) + _u32(ioprio.get("priority", 0))))
    if linux.get("memoryPolicy"):
        out.append(memory_policy_record(linux["memoryPolicy"]))
    return out


MPOL_MODES = {
    "MPOL_DEFAULT": 0,
    "MPOL_PREFERRED": 1,
    "MPOL_BIND": 2,
    "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4,
    "MPOL_PREFERRED_MANY": 5,
    "MPOL_WEIGHTED_INTERLEAVE": 6,
}
MPOL_FLAGS = {
    "MPOL_F_NUMA_BALANCING": 1 << 13,
    "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_STATIC_NODES": 1 << 15,
}
MPOL_MAX_NODES = 4096  # the node mask the helper passes: a node past it cannot exist on Linux


def memory_policy_record(policy: dict) -> bytes:
    """linux.memoryPolicy (runtime-spec 1.3): set_mempolicy(2) in the init helper before execve,
    so the container's process and its children start with it. Checked in config/semantic.py."""
    mode = MPOL_MODES[policy["mode"]]
    for name in policy.get("flags") or []:
        mode |= MPOL_FLAGS[name]
    text = policy.get("nodes") or ""
    if text and max(last for _, last in cpulist.ranges(text)) >= MPOL_MAX_NODES:
        raise ConfigError("linux.memoryPolicy.nodes", f"a node past {MPOL_MAX_NODES - 1} cannot exist")
    mask = cpulist.mask(text) if text else 0
    nodes = mask.to_bytes((mask.bit_length() + 63) // 64 * 8, "little") if mask else b""
    nodes_text = f", nodes {policy['nodes']}" if policy.get("nodes") else ""
    where = f"linux.memoryPolicy ({policy['mode']}{nodes_text})"
    return record(T_MEMORY_POLICY, _u32(mode) + _u32(len(nodes)) + nodes + cstr(where))


def cpu_mask(cpus: str) -> bytes:
    """'0-3,7' -> a cpu_set_t bitmask (1024 bits)."""
    return cpulist.mask(cpus).to_bytes(128, "little")


def cpu_affinity_record(affinity: dict) -> bytes:
    """exec's process.execCPUAffinity: `initial` before joining the container's cgroup, `final`
    after (runtime-spec 1.2; not for the init)."""
    parts = b""
    for key in ("initial", "final"):
        mask = cpu_mask(affinity[key]) if affinity.get(key) else b""
        parts += _u32(len(mask)) + mask
    return record(T_CPU_AFFINITY, parts)


def console_size_records(process: dict) -> list[bytes]:
    """process.consoleSize: the pty's size, set by the child before the process starts."""
    size = process.get("consoleSize")
    if not size:
        return []
    return [record(T_CONSOLE_SIZE, _u32(size["height"]) + _u32(size["width"]))]


def seccomp_record(program) -> bytes:
    notify = bool(program.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)
    return record(T_SECCOMP, _u32(program.flags) + _u32(int(notify)) + program.bpf)
