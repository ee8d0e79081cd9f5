"""Checks on a schema-valid config that JSON Schema cannot express, each one a ConfigError naming
the field: absolute paths where the spec demands them, namespaces a setting needs, duplicate and
overlapping entries, the names the kernel knows (capabilities, rlimits, sysctls), and what runc's
libcontainer/configs/validate and specconv refuse.

Runs on the `create` path: no re, json, typing or enum imports. The tables below are data other
modules may use (e.g. capability numbers for the plan).
"""

import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc import cpulist
from pyrunc import linux as _linux
from pyrunc.config import ConfigError

# capabilities(7) up to CAP_CHECKPOINT_RESTORE (Linux 5.9) and rlimits: the tables of record
# live in pyrunc/linux.py (the plan builder uses them too).
CAPABILITIES = tuple(_linux.CAPABILITIES)
CAPABILITY_NUMBERS = _linux.CAPABILITIES
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# getrlimit(2): name -> resource number.
RLIMITS = _linux.RLIMITS

# Sysctls that belong to the ipc namespace (runc's list; plus every fs.mqueue.*).
IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)
UTS_SYSCTLS = frozenset({"kernel.hostname", "kernel.domainname"})
TIME_NAMESPACE_CLOCKS = frozenset({"monotonic", "boottime"})

MAX_ID_MAPPINGS = 340  # lines the kernel accepts in uid_map / gid_map (since 4.15)
ID_LIMIT = 0xFFFFFFFF  # (uid_t)-1 is not an id: a mapping must end below it
HOST_NAME_MAX = 64
ERRNO_ACTIONS = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})
SWAPPINESS_UNSET = (1 << 64) - 1  # uint64(-1): docker's "not set"; runc ignores it too
MEMORY_FIELDS = ("limit", "reservation", "swap", "kernel", "kernelTCP")
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def json_path(parts) -> str:
    """`process.capabilities.bounding[2]`, `linux.sysctl["net.ipv4.ip_forward"]`; '' for the root."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c in NAME_CHARS for c in part):
            out += f".{part}" if out else part
        else:
            out += f"[{_quote(part)}]"
    return out


def _quote(text: str) -> str:
    from pyrunc import jsonio

    return jsonio.dumps(text)


class _Checker:
    """Raises ConfigError for `document` at a path given as a tuple of keys and indices."""

    def __init__(self, document: str) -> None:
        self.document = document

    def fail(self, path: tuple, problem: str) -> None:
        raise ConfigError(json_path(path), problem, self.document)

    def absolute(self, value: str, path: tuple) -> None:
        if value[:1] != "/" or "\0" in value:
            self.text(value, path)
            self.fail(path, f"must be an absolute path, got {value!r}")

    def text(self, value: str, path: tuple) -> None:
        # Strings reach the kernel as C strings: a NUL would silently cut them short.
        if "\0" in value:
            self.fail(path, "must not contain a NUL character")

    def texts(self, values, path: tuple) -> None:
        if any("\0" in value for value in values):
            for i, value in enumerate(values):
                self.text(value, (*path, i))


# --------------------------------------------------------------------------------------------------
# Entry points.


def check_config(config: dict, *, require_process: bool = True) -> None:
    """Raise ConfigError on the first semantic problem of a schema-valid config.json."""
    ctx = _Config(config)
    for check in _CONFIG_CHECKS:
        check(ctx)
    process = config.get("process")
    if process is None:
        if require_process:
            ctx.fail(("process",), "must be set: a container needs a process to run")
        return
    check_process(process, where=("process",), document="config.json", config=config)


def check_process(process: dict, *, where: tuple = (), document: str = "process.json", config=None) -> None:
    """Raise ConfigError on the first semantic problem of a schema-valid process object.

    `where`: the path of the process in its document (() for a process.json of its own);
    `config`: the container's config.json, when known, to check the user against its id mappings.
    """
    check = _Checker(document)
    check.absolute(process["cwd"], (*where, "cwd"))
    _check_args(check, process["args"], (*where, "args"))
    _check_env(check, process.get("env", ()), (*where, "env"))
    _check_capabilities(check, process.get("capabilities", {}), (*where, "capabilities"))
    _check_rlimits(check, process.get("rlimits", ()), (*where, "rlimits"))
    _check_oom_score_adj(check, process, where)
    _check_scheduler(check, process.get("scheduler"), (*where, "scheduler"))
    affinity = process.get("execCPUAffinity", {})
    for key in ("initial", "final"):
        if key in affinity:
            _check_cpu_list(check, affinity[key], (*where, "execCPUAffinity", key))
    for key in ("apparmorProfile", "selinuxLabel"):
        if key in process:
            check.text(process[key], (*where, key))
    if config is not None:
        _check_process_user_mapped(check, process.get("user"), config, (*where, "user"))


# --------------------------------------------------------------------------------------------------
# process


def _check_args(check: _Checker, args: list, path: tuple) -> None:
    check.texts(args, path)
    if not args[0]:
        check.fail((*path, 0), "the program to run must not be empty")


def _check_env(check: _Checker, env: list, path: tuple) -> None:
    for i, entry in enumerate(env):
        check.text(entry, (*path, i))
        name, sep, _value = entry.partition("=")
        if not sep:
            check.fail((*path, i), f"{entry!r} is not of the form NAME=value")
        if not name:
            check.fail((*path, i), f"{entry!r} has an empty variable name")


def _check_capabilities(check: _Checker, capabilities: dict, path: tuple) -> None:
    for kind in CAPABILITY_SETS:
        for i, name in enumerate(capabilities.get(kind, ())):
            if name not in CAPABILITY_NUMBERS:
                hint = f" (did you mean 'CAP_{name}'?)" if f"CAP_{name}" in CAPABILITY_NUMBERS else ""
                check.fail((*path, kind, i), f"unknown capability {name!r}{hint}")


def _check_rlimits(check: _Checker, rlimits: list, path: tuple) -> None:
    seen: dict = {}
    for i, rlimit in enumerate(rlimits):
        kind = rlimit["type"]
        if kind not in RLIMITS:
            check.fail((*path, i, "type"), f"unknown rlimit {kind!r} (known: {', '.join(RLIMITS)})")
        if kind in seen:
            check.fail(
                (*path, i, "type"), f"duplicate rlimit {kind} (also at {json_path((*path, seen[kind]))})"
            )
        seen[kind] = i
        if rlimit["soft"] > rlimit["hard"]:
            check.fail(
                (*path, i, "soft"), f"soft limit {rlimit['soft']} is above the hard limit {rlimit['hard']}"
            )


def _check_oom_score_adj(check: _Checker, process: dict, where: tuple) -> None:
    value = process.get("oomScoreAdj")
    if value is not None and not -1000 <= value <= 1000:
        check.fail((*where, "oomScoreAdj"), f"must be between -1000 and 1000, got {value}")


def _check_scheduler(check: _Checker, scheduler, path: tuple) -> None:
    """runc's rules (sched_setattr(2)): nice range, priority only for the real-time policies,
    runtime/deadline/period only for SCHED_DEADLINE."""
    if scheduler is None:
        return
    policy = scheduler["policy"]
    nice = scheduler.get("nice", 0)
    if not -20 <= nice <= 19:
        check.fail((*path, "nice"), f"must be between -20 and 19, got {nice}")
    priority = scheduler.get("priority", 0)
    realtime = policy in ("SCHED_FIFO", "SCHED_RR")
    if priority and not realtime:
        check.fail((*path, "priority"), f"only SCHED_FIFO and SCHED_RR take a priority, not {policy}")
    if realtime and not 1 <= priority <= 99:
        check.fail((*path, "priority"), f"{policy} needs a priority between 1 and 99, got {priority}")
    deadline_fields = [k for k in ("runtime", "deadline", "period") if scheduler.get(k)]
    if deadline_fields and policy != "SCHED_DEADLINE":
        check.fail(
            (*path, deadline_fields[0]), f"only SCHED_DEADLINE takes runtime/deadline/period, not {policy}"
        )
    if policy == "SCHED_DEADLINE":
        runtime, deadline, period = (scheduler.get(k, 0) for k in ("runtime", "deadline", "period"))
        if runtime > deadline or (period and deadline > period):
            check.fail(path, "SCHED_DEADLINE needs runtime <= deadline <= period")


def _check_process_user_mapped(check: _Checker, user, config: dict, path: tuple) -> None:
    linux = config.get("linux", {})
    if user is None or not _new_user_namespace(linux):
        return
    for key, mappings in (("uid", "uidMappings"), ("gid", "gidMappings")):
        if key in user and not _mapped(user[key], linux.get(mappings, ())):
            check.fail((*path, key), f"{key} {user[key]} is not mapped by linux.{mappings}")
    for i, gid in enumerate(user.get("additionalGids", ())):
        if not _mapped(gid, linux.get("gidMappings", ())):
            check.fail((*path, "additionalGids", i), f"gid {gid} is not mapped by linux.gidMappings")


# --------------------------------------------------------------------------------------------------
# config.json


class _Config(_Checker):
    def __init__(self, config: dict) -> None:
        super().__init__("config.json")
        self.config = config
        self.linux = config.get("linux", {})
        self.namespaces: dict = {}  # type -> (index, path or None), filled by _check_namespaces

    def has(self, kind: str) -> bool:
        return kind in self.namespaces

    def joined(self, kind: str) -> str | None:
        return self.namespaces.get(kind, (0, None))[1]


def _check_version(ctx: _Config) -> None:
    major = ctx.config["ociVersion"].partition(".")[0]
    if major != "1":
        ctx.fail(
            ("ociVersion",), f"version {ctx.config['ociVersion']!r} is not supported (pyrunc implements 1.x)"
        )


def _check_root(ctx: _Config) -> None:
    ctx.text(ctx.config["root"]["path"], ("root", "path"))


def _check_namespaces(ctx: _Config) -> None:
    for i, namespace in enumerate(ctx.linux.get("namespaces", ())):
        kind, path = namespace["type"], namespace.get("path")
        if kind in ctx.namespaces:
            earlier = json_path(("linux", "namespaces", ctx.namespaces[kind][0]))
            ctx.fail(
                ("linux", "namespaces", i, "type"), f"duplicate namespace type {kind!r} (also at {earlier})"
            )
        if path is not None:
            ctx.absolute(path, ("linux", "namespaces", i, "path"))
        ctx.namespaces[kind] = (i, path or None)


def _check_uts(ctx: _Config) -> None:
    for key in ("hostname", "domainname"):
        value = ctx.config.get(key)
        if not value:
            continue
        ctx.text(value, (key,))
        if len(value.encode("utf-8", "surrogatepass")) > HOST_NAME_MAX:
            ctx.fail((key,), f"must be at most {HOST_NAME_MAX} bytes long")
        if not ctx.has("uts"):
            ctx.fail((key,), f"setting the {key} needs a uts namespace in linux.namespaces")


def _check_user_namespace(ctx: _Config) -> None:
    linux = ctx.linux
    for key in ("uidMappings", "gidMappings"):
        if key in linux:
            _check_mappings(ctx, linux[key], ("linux", key))
    if not ctx.has("user"):
        for key in ("uidMappings", "gidMappings"):
            if linux.get(key):
                ctx.fail(("linux", key), "set, but linux.namespaces has no user namespace")
        return
    if ctx.joined("user"):
        return  # the joined namespace brings its own mappings
    for key, what in (("uidMappings", "uid"), ("gidMappings", "gid")):
        if not linux.get(key):
            ctx.fail(("linux", key), f"a new user namespace needs {key}")
        if not _mapped(0, linux[key]):
            ctx.fail(("linux", key), f"container {what} 0 (root) must be mapped, as runc requires")


def _check_mappings(check: _Checker, mappings: list, path: tuple) -> None:
    if len(mappings) > MAX_ID_MAPPINGS:
        check.fail(path, f"at most {MAX_ID_MAPPINGS} mappings are allowed (the kernel's limit)")
    for i, m in enumerate(mappings):
        if m["size"] == 0:
            check.fail((*path, i, "size"), "must be greater than 0")
        for key in ("containerID", "hostID"):
            if m[key] + m["size"] > ID_LIMIT:
                check.fail((*path, i, "size"), f"{key} + size must not exceed {ID_LIMIT}")
    for j, later in enumerate(mappings):
        for i in range(j):
            for key, space in (("containerID", "container"), ("hostID", "host")):
                if _overlap(mappings[i], later, key):
                    first = json_path((*path, i))
                    check.fail((*path, j, key), f"{space} IDs overlap those of {first}")


def _overlap(a: dict, b: dict, key: str) -> bool:
    return a[key] < b[key] + b["size"] and b[key] < a[key] + a["size"]


def _mapped(ident: int, mappings) -> bool:
    return any(m["containerID"] <= ident < m["containerID"] + m["size"] for m in mappings)


def _new_user_namespace(linux: dict) -> bool:
    return any(ns["type"] == "user" and not ns.get("path") for ns in linux.get("namespaces", ()))


def _check_time_namespace(ctx: _Config) -> None:
    offsets = ctx.linux.get("timeOffsets")
    if not offsets:
        return
    path = ("linux", "timeOffsets")
    if not ctx.has("time"):
        ctx.fail(path, "set, but linux.namespaces has no time namespace")
    if ctx.joined("time"):
        ctx.fail(path, "cannot be applied when joining an existing time namespace")
    for clock, offset in offsets.items():
        if clock not in TIME_NAMESPACE_CLOCKS:
            ctx.fail(
                (*path, clock), f"unknown clock {clock!r} (a time namespace offsets monotonic and boottime)"
            )
        if offset.get("nanosecs", 0) >= 1_000_000_000:
            ctx.fail((*path, clock, "nanosecs"), "must be below 1000000000")


def _check_mounts(ctx: _Config) -> None:
    for i, mount in enumerate(ctx.config.get("mounts", ())):
        path = ("mounts", i)
        if not mount["destination"]:
            ctx.fail((*path, "destination"), "must not be empty")
        for key in ("destination", "source", "type"):
            if "\0" in mount.get(key, ""):
                ctx.text(mount[key], (*path, key))
        options = mount.get("options", ())
        ctx.texts(options, (*path, "options"))
        _check_idmapped_mount(ctx, mount, options, path)


def _check_idmapped_mount(ctx: _Config, mount: dict, options, path: tuple) -> None:
    explicit = "uidMappings" in mount
    requested = "idmap" in options or "ridmap" in options
    if not (explicit or requested):
        return
    if "bind" not in options and "rbind" not in options:
        ctx.fail((*path, "options"), "an idmapped mount must be a bind mount (add bind or rbind)")
    if explicit:
        _check_mappings(ctx, mount["uidMappings"], (*path, "uidMappings"))
        _check_mappings(ctx, mount["gidMappings"], (*path, "gidMappings"))
    elif not ctx.has("user"):
        ctx.fail((*path, "options"), "idmap without uidMappings/gidMappings needs a user namespace")


def _check_masked_and_readonly_paths(ctx: _Config) -> None:
    for key in ("maskedPaths", "readonlyPaths"):
        paths = ctx.linux.get(key, ())
        for i, value in enumerate(paths):
            ctx.absolute(value, ("linux", key, i))
        if paths and not ctx.has("mount"):
            ctx.fail(
                ("linux", key),
                "needs a mount namespace in linux.namespaces (without one, masking would change the "
                "host's mounts)",
            )


def _check_without_mount_namespace(ctx: _Config) -> None:
    """No mount namespace listed: the container runs in the runtime's, chrooted into the rootfs (as
    runc and crun do). Whatever would mount or remount, or leave nodes in a host directory, would
    change the host: refused, each naming why."""
    if ctx.has("mount"):
        return
    why = "needs a mount namespace in linux.namespaces (without one, {} on the host)"
    if ctx.config.get("mounts"):
        ctx.fail(("mounts",), why.format("they would be mounted"))
    if ctx.config["root"].get("readonly"):
        ctx.fail(("root", "readonly"), why.format("the rootfs would be remounted read-only"))
    if ctx.linux.get("rootfsPropagation"):
        ctx.fail(("linux", "rootfsPropagation"), why.format("the propagation would change"))
    if ctx.linux.get("devices"):
        ctx.fail(("linux", "devices"), why.format("device nodes would be left in the rootfs"))


def _check_devices(ctx: _Config) -> None:
    seen: dict = {}
    for i, device in enumerate(ctx.linux.get("devices", ())):
        path = ("linux", "devices", i)
        ctx.absolute(device["path"], (*path, "path"))
        if device["path"] in seen:
            ctx.fail((*path, "path"), f"duplicate device path (also at {json_path(seen[device['path']])})")
        seen[device["path"]] = path
        for key in ("major", "minor"):
            if device.get(key, 0) < 0:
                ctx.fail((*path, key), "must not be negative")


def _check_hooks(ctx: _Config) -> None:
    hooks_by_stage = ctx.config.get("hooks", {})
    for stage in HOOK_STAGES:  # an unknown stage is ignored, like every unknown property
        for i, hook in enumerate(hooks_by_stage.get(stage, ())):
            path = ("hooks", stage, i)
            ctx.absolute(hook["path"], (*path, "path"))
            ctx.texts(hook.get("args", ()), (*path, "args"))
            ctx.texts(hook.get("env", ()), (*path, "env"))


def normalize_sysctl_key(key: str) -> str:
    """sysctl(8) also accepts '/' as the separator, then '.' may appear inside a component
    ("net/ipv4/conf/eth0.100/rp_filter" is "net.ipv4.conf.eth0/100.rp_filter")."""
    slash, dot = key.find("/"), key.find(".")
    if slash == -1 or (dot != -1 and dot < slash):
        return key
    return key.translate({ord("."): "/", ord("/"): "."})


def _check_sysctl(ctx: _Config) -> None:
    for key, value in ctx.linux.get("sysctl", {}).items():
        path = ("linux", "sysctl", key)
        ctx.text(key, path)
        ctx.text(value, path)
        name = normalize_sysctl_key(key)
        if not all(name.split(".")):
            ctx.fail(path, f"{key!r} is not a sysctl name")
        _check_sysctl_namespace(ctx, name, path)


def _check_sysctl_namespace(ctx: _Config, name: str, path: tuple) -> None:
    """runc's rules: only sysctls of a namespace the container does not share with the host."""
    if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
        if not ctx.has("ipc"):
            ctx.fail(path, f"sysctl {name!r} needs an ipc namespace in linux.namespaces")
    elif name.startswith("net."):
        if not ctx.has("network"):
            ctx.fail(path, f"sysctl {name!r} needs a network namespace in linux.namespaces")
        if _joins_host_netns(ctx):
            ctx.fail(path, f"sysctl {name!r} is not allowed in the host's network namespace")
    elif name in UTS_SYSCTLS:
        if not ctx.has("uts"):
            ctx.fail(path, f"sysctl {name!r} needs a uts namespace in linux.namespaces")
        if name == "kernel.hostname" and ctx.config.get("hostname"):
            ctx.fail(path, "sysctl kernel.hostname conflicts with the hostname field")
    else:
        ctx.fail(path, f"sysctl {name!r} is not namespaced: setting it would change the host")


def _joins_host_netns(ctx: _Config) -> bool:
    joined = ctx.joined("network")
    if not joined:
        return False
    index = ctx.namespaces["network"][0]
    try:
        ours, theirs = posix.stat("/proc/self/ns/net"), posix.stat(joined)
    except (OSError, ValueError) as err:  # ValueError: a path the OS cannot encode
        reason = getattr(err, "strerror", None) or str(err)
        ctx.fail(("linux", "namespaces", index, "path"), f"cannot check the network namespace: {reason}")
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def _check_seccomp(ctx: _Config) -> None:
    seccomp = ctx.linux.get("seccomp")
    if seccomp is None:
        return
    path = ("linux", "seccomp")
    if seccomp["defaultAction"] == "SCMP_ACT_NOTIFY":
        ctx.fail((*path, "defaultAction"), "SCMP_ACT_NOTIFY cannot be the default action")
    if "defaultErrnoRet" in seccomp and seccomp["defaultAction"] not in ERRNO_ACTIONS:
        ctx.fail((*path, "defaultErrnoRet"), f"{seccomp['defaultAction']} does not return an errno")
    if "listenerPath" in seccomp:
        ctx.text(seccomp["listenerPath"], (*path, "listenerPath"))
    for i, rule in enumerate(seccomp.get("syscalls", ())):
        _check_syscall_rule(ctx, seccomp, rule, (*path, "syscalls", i))


def _check_syscall_rule(ctx: _Config, seccomp: dict, rule: dict, path: tuple) -> None:
    action = rule["action"]
    if action == "SCMP_ACT_NOTIFY" and not seccomp.get("listenerPath"):
        ctx.fail((*path, "action"), "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
    if "errnoRet" in rule and action not in ERRNO_ACTIONS:
        ctx.fail((*path, "errnoRet"), f"{action} does not return an errno")
    ctx.texts(rule["names"], (*path, "names"))
    for j, arg in enumerate(rule.get("args", ())):
        if arg["index"] > 5:
            ctx.fail(
                (*path, "args", j, "index"),
                f"must be 0-5 (a system call has six arguments), got {arg['index']}",
            )


def _check_resources(ctx: _Config) -> None:
    resources = ctx.linux.get("resources")
    if resources is not None:
        check_resources(resources, path=("linux", "resources"), document=ctx.document)


# The one check of linux.resources' values beyond the schema, for `create` (above) and for
# `update --resources` and update's flags (config/validate.py validate_resources). The cgroup
# mapping (cgroups/resources/) only maps values; what it still refuses is what the target cgroup
# cannot take (a CPU the parent does not offer, a block device, a controller or file missing,
# a v1-only field on v2, a limit below the current usage).
MAX_SHARES = 262144  # kernel MAX_SHARES (1 << 18); cpu.shares 0 is "not set"
MIN_SHARES = 2
CFS_PERIOD_RANGE = (1000, 1000000)  # microseconds
MIN_CFS_QUOTA = 1000  # microseconds
BLKIO_WEIGHT_RANGE = (10, 1000)


def check_resources(
    resources: dict, *, path: tuple = (), document: str = "resources", update: bool = False
) -> None:
    """Raise ConfigError on the first problem of a schema-valid LinuxResources object.

    `update`: the document is a change to a running container's resources (`update`): a field
    may then lean on what the cgroup already has (memory.swap without memory.limit)."""
    check = _Checker(document)
    for i, rule in enumerate(resources.get("devices", ())):
        _check_device_rule(check, rule, (*path, "devices", i))
    if "memory" in resources:
        _check_memory(check, resources["memory"], (*path, "memory"), update)
    if "cpu" in resources:
        _check_cpu(check, resources["cpu"], (*path, "cpu"))
    if "pids" in resources:
        _check_limit(check, resources["pids"], "limit", (*path, "pids"), "a number of processes")
    if "blockIO" in resources:
        _check_block_io(check, resources["blockIO"], (*path, "blockIO"))
    for i, priority in enumerate(resources.get("network", {}).get("priorities", ())):
        problem = interface_name_problem(priority["name"], template=False)
        if problem:
            check.fail((*path, "network", "priorities", i, "name"), f"{priority['name']!r} {problem}")
    for key, value in resources.get("unified", {}).items():
        _check_unified(check, key, value, (*path, "unified", key))


def _check_device_rule(check: _Checker, rule: dict, path: tuple) -> None:
    access = rule.get("access", "")
    if not access:
        check.fail((*path, "access"), "must be set (r, w and/or m); runc refuses a rule without it")
    if not set(access) <= {"r", "w", "m"}:
        check.fail((*path, "access"), f"expected a combination of r, w and m, got {access!r}")


def _check_limit(check: _Checker, section: dict, key: str, path: tuple, unit: str) -> None:
    """A limit: -1 is unlimited, 0 leaves it as it is."""
    value = section.get(key, 0)
    if value < -1:
        check.fail((*path, key), f"must be -1 (unlimited) or {unit}, got {value}")


def _check_memory(check: _Checker, memory: dict, path: tuple, update: bool) -> None:
    for key in MEMORY_FIELDS:
        _check_limit(check, memory, key, path, "a number of bytes")
    limit, swap = memory.get("limit", 0), memory.get("swap", 0)
    if swap > 0 and limit <= 0 and not update:  # an update may keep the container's memory limit
        check.fail((*path, "swap"), "a memory+swap limit needs memory.limit")
    if swap > 0 and swap < limit:
        check.fail((*path, "swap"), f"memory+swap limit {swap} is below memory.limit {limit}")
    swappiness = memory.get("swappiness")
    if swappiness is not None and swappiness > 100 and swappiness != SWAPPINESS_UNSET:
        check.fail((*path, "swappiness"), f"must be between 0 and 100, got {swappiness}")


def _check_cpu(check: _Checker, cpu: dict, path: tuple) -> None:
    for key in ("cpus", "mems"):
        if key in cpu:
            _check_cpu_list(check, cpu[key], (*path, key))
    shares = cpu.get("shares", 0)
    if shares and not MIN_SHARES <= shares <= MAX_SHARES:
        check.fail((*path, "shares"), f"must be between {MIN_SHARES} and {MAX_SHARES}, got {shares}")
    period = cpu.get("period", 0)
    low, high = CFS_PERIOD_RANGE
    if period and not low <= period <= high:
        check.fail((*path, "period"), f"must be between {low} and {high} microseconds, got {period}")
    quota, burst = cpu.get("quota", 0), cpu.get("burst")
    if quota < -1 or 0 < quota < MIN_CFS_QUOTA:
        check.fail((*path, "quota"), f"must be -1 or at least {MIN_CFS_QUOTA} microseconds, got {quota}")
    if burst is not None and quota > 0 and burst > quota:
        check.fail((*path, "burst"), f"must not be larger than quota ({burst} > {quota})")
    _check_limit(check, cpu, "realtimeRuntime", path, "a number of microseconds")
    if cpu.get("idle", 0) not in (0, 1):
        check.fail((*path, "idle"), f"must be 0 or 1 (SCHED_IDLE), got {cpu['idle']}")


def _check_block_io(check: _Checker, blkio: dict, path: tuple) -> None:
    low, high = BLKIO_WEIGHT_RANGE
    for key in ("weight", "leafWeight"):  # 0 is "not set" (dockerd sends weight 0)
        if blkio.get(key, 0) and not low <= blkio[key] <= high:
            check.fail((*path, key), f"must be between {low} and {high}, got {blkio[key]}")
    for i, device in enumerate(blkio.get("weightDevice", ())):
        for key in ("weight", "leafWeight"):
            if key in device and not low <= device[key] <= high:
                check.fail(
                    (*path, "weightDevice", i, key), f"must be between {low} and {high}, got {device[key]}"
                )


def _check_cpu_list(check: _Checker, text: str, path: tuple) -> None:
    if not text:
        return
    try:
        cpulist.ranges(text)
    except cpulist.BackwardsRange as e:
        check.fail(path, str(e))
    except ValueError:
        check.fail(path, f"expected a list such as 0-3,7, got {text!r}")


def is_cpu_list(text: str) -> bool:
    """'0-3,7' style lists (cpuset cpus/mems, CPU affinity, memory nodes)."""
    return cpulist.is_valid(text)


# Files of the cgroup core that hold no resource setting: writing them moves or kills processes.
CGROUP_CORE_FILES = frozenset({"cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.subtree_control"})


def _check_unified(check: _Checker, key: str, value: str, path: tuple) -> None:
    # The key names a file in the container's cgroup directory: no path may lead out of it.
    if not key or "/" in key or key in (".", ".."):
        check.fail(path, f"{key!r} is not a cgroup file name")
    check.text(key, path)
    controller, dot, _ = key.partition(".")
    if not dot or not controller:
        check.fail(path, f"{key!r} must be of the form CONTROLLER.PARAMETER")
    if key in CGROUP_CORE_FILES:
        check.fail(path, f"{key} is not a resource setting")
    check.text(value, path)


def _check_intel_rdt(ctx: _Config) -> None:
    rdt = ctx.linux.get("intelRdt")
    if rdt is None:
        return
    clos = rdt.get("closID")
    if clos is not None and (clos in (".", "..") or "/" in clos or "\0" in clos):
        ctx.fail(("linux", "intelRdt", "closID"), f"{clos!r} is not a resctrl group name")


IFNAMSIZ = 16  # the kernel's interface name buffer, NUL included
# set_mempolicy(2): the modes that need memory nodes, and those that take none (MPOL_PREFERRED
# may go without: it then means local allocation).
MODES_NEEDING_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY")
MODES_WITHOUT_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
NUMA_BALANCING_MODES = ("MPOL_BIND", "MPOL_PREFERRED_MANY")  # what the kernel accepts the flag with


def interface_name_problem(name: str, template: bool) -> str | None:
    """Why the kernel would refuse `name` for a network interface (dev_valid_name), or None.
    With `template`, one %d the kernel replaces with a free number is allowed."""
    if not name or name in (".", ".."):
        return "is not an interface name"
    if len(name.encode()) >= IFNAMSIZ:
        return f"is longer than {IFNAMSIZ - 1} bytes"
    if any(c in "/:" or c.isspace() for c in name):
        return "must not contain '/', ':' or white space"
    percent = name.find("%")
    if percent >= 0 and (
        not template or name[percent + 1 : percent + 2] != "d" or "%" in name[percent + 2 :]
    ):
        return "may hold one %d template only in the container name" if template else "must not contain '%'"
    return None


def _check_net_devices(ctx: _Config) -> None:
    devices = ctx.linux.get("netDevices")
    if not devices:
        return
    if not ctx.has("network"):
        ctx.fail(
            ("linux", "netDevices"), "moving network devices needs a network namespace in linux.namespaces"
        )
    targets: dict = {}
    for host_name, device in devices.items():
        path = ("linux", "netDevices", host_name)
        problem = interface_name_problem(host_name, template=False)
        if problem:
            ctx.fail(path, f"host interface {host_name!r} {problem}")
        name = device.get("name") or host_name
        problem = interface_name_problem(name, template=True)
        if problem:
            ctx.fail((*path, "name"), f"{name!r} {problem}")
        if "%" not in name and name in targets:
            ctx.fail((*path, "name"), f"{name!r} is also the container name of {targets[name]!r}")
        targets[name] = host_name


def _check_memory_policy(ctx: _Config) -> None:
    policy = ctx.linux.get("memoryPolicy")
    if policy is None:
        return
    mode, nodes, flags = policy["mode"], policy.get("nodes", ""), policy.get("flags", ())
    path = ("linux", "memoryPolicy")
    if nodes and not is_cpu_list(nodes):
        ctx.fail((*path, "nodes"), f"expected a node list such as 0-3,7, got {nodes!r}")
    if mode in MODES_NEEDING_NODES and not nodes:
        ctx.fail((*path, "nodes"), f"{mode} needs at least one memory node")
    if mode in MODES_WITHOUT_NODES and nodes:
        ctx.fail((*path, "nodes"), f"{mode} takes no memory nodes, got {nodes!r}")
    if "MPOL_F_STATIC_NODES" in flags and "MPOL_F_RELATIVE_NODES" in flags:
        ctx.fail((*path, "flags"), "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other")
    if ("MPOL_F_STATIC_NODES" in flags or "MPOL_F_RELATIVE_NODES" in flags) and not nodes:
        ctx.fail((*path, "flags"), "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need memory nodes")
    if "MPOL_F_NUMA_BALANCING" in flags and mode not in NUMA_BALANCING_MODES:
        ctx.fail(
            (*path, "flags"), f"MPOL_F_NUMA_BALANCING goes with MPOL_BIND or MPOL_PREFERRED_MANY, not {mode}"
        )


def _check_cgroups_path(ctx: _Config) -> None:
    if "cgroupsPath" in ctx.linux:
        ctx.text(ctx.linux["cgroupsPath"], ("linux", "cgroupsPath"))


_CONFIG_CHECKS = (
    _check_version,
    _check_root,
    _check_namespaces,
    _check_uts,
    _check_user_namespace,
    _check_time_namespace,
    _check_mounts,
    _check_masked_and_readonly_paths,
    _check_without_mount_namespace,
    _check_devices,
    _check_hooks,
    _check_sysctl,
    _check_seccomp,
    _check_resources,
    _check_intel_rdt,
    _check_net_devices,
    _check_memory_policy,
    _check_cgroups_path,
)
