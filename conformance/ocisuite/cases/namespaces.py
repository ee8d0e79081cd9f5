"""config-linux.md Namespaces (new, inherited, joined by path) and user namespace mappings."""

from __future__ import annotations

import os

from .. import config as cfgmod
from ..ctx import Ctx
from ..registry import case

CHECK = cfgmod.CHECKER
# spec type -> /proc/PID/ns entry
NS_FILE = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "cgroup": "cgroup",
    "user": "user",
    "time": "time",
}


def _ns_link(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{NS_FILE[kind]}")


def _new_ns_case(kind: str, needs: tuple[str, ...] = ()):
    @case(
        f"namespaces/new-{kind}",
        needs=needs,
        spec=f"config-linux.md namespaces: {kind} without path is a new one",
    )
    def check(t: Ctx) -> None:
        b = t.bundle(["sleep", "300"])
        if kind == "user":
            cfgmod.user_namespace(b.config)
        else:
            cfgmod.set_namespace(b.config, kind)
        c = t.create(b)
        t.check(
            _ns_link(c.pid, kind) != _ns_link("self", kind),
            f"the container shares the runtime's {kind} namespace",
        )

    return check


for _kind in ("pid", "network", "mount", "ipc", "uts", "cgroup"):
    _new_ns_case(_kind)
_new_ns_case("user", needs=("user_ns",))
_new_ns_case("time", needs=("time_ns",))


@case(
    "namespaces/pid-init-is-1", spec="config-linux.md namespaces: pid - the process is init of its namespace"
)
def pid_init_is_1(t: Ctx) -> None:
    r = t.run_report(t.bundle([CHECK, "id"]))
    t.eq(r.get("pid"), "1", "getpid() in a new pid namespace")


@case(
    "namespaces/absent-inherits-runtime",
    spec="config-linux.md: a type not listed MUST inherit the runtime namespace",
)
def absent_inherits(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    b.linux["namespaces"] = [{"type": "mount"}]
    b.config.pop("hostname", None)
    b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/sys"]
    c = t.create(b)
    for kind in ("pid", "network", "ipc", "uts", "cgroup"):
        t.eq(
            _ns_link(c.pid, kind),
            _ns_link("self", kind),
            f"{kind} namespace of a container that does not list it",
        )


def _mount_table(path: str) -> list[str]:
    """The runtime's mounts a container at `path` could change: those on the way to it (with
    their propagation) and those under it; not the whole table, which other work on the machine
    may change meanwhile. Mount ids vary; point, options and propagation must not."""
    ancestors = {"/"} | {path[:i] for i in range(1, len(path) + 1) if path[i : i + 1] in ("/", "")}
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] in ancestors or fields[4].startswith(path.rstrip("/") + "/"):
                out.append(" ".join(fields[3:]))
    return sorted(out)


@case(
    "namespaces/no-mount-namespace",
    spec="config-linux.md: a type not listed MUST inherit the runtime namespace (mount included)",
)
def no_mount_namespace(t: Ctx) -> None:
    """Without a mount namespace the container shares the runtime's, with its rootfs as root (a
    chroot): nothing is mounted, so the config has no mounts and no masked/read-only paths, and
    the runtime's mount table must be the same before, during and after."""
    b = t.bundle(["sleep", "300"])
    b.linux["namespaces"] = [{"type": "pid"}, {"type": "ipc"}]
    b.config.pop("hostname", None)
    b.config["mounts"] = []
    before = _mount_table(b.path)
    c = t.create(b)
    t.eq(_ns_link(c.pid, "mount"), _ns_link("self", "mount"), "mount namespace of the container")
    t.check(_ns_link(c.pid, "pid") != _ns_link("self", "pid"), "the listed pid namespace is not new")
    rootfs = os.path.realpath(os.path.join(b.path, "rootfs"))
    t.eq(os.path.realpath(f"/proc/{c.pid}/root"), rootfs, "root of the container's process")
    t.eq(_mount_table(b.path), before, "the runtime's mount table after create")
    c.start()
    t.eq(c.status(), "running", "status after start")
    c.kill("KILL")
    c.wait_stopped()
    c.delete()
    t.eq(_mount_table(b.path), before, "the runtime's mount table after delete")


def _join_case(kind: str, needs: tuple[str, ...] = ()):
    @case(
        f"namespaces/join-{kind}", needs=needs, spec=f"config-linux.md namespaces: {kind} with path is joined"
    )
    def check(t: Ctx) -> None:
        first_bundle = t.bundle(["sleep", "300"])
        cfgmod.set_namespace(first_bundle.config, kind)
        if kind == "user":
            cfgmod.user_namespace(first_bundle.config)
        first = t.create(first_bundle)
        b = t.bundle(["sleep", "300"])
        path = f"/proc/{first.pid}/ns/{NS_FILE[kind]}"
        if kind == "user":
            cfgmod.user_namespace(b.config)
            cfgmod.set_namespace(b.config, "user", path)
        else:
            cfgmod.set_namespace(b.config, kind, path)
        if kind == "uts":
            b.config.pop("hostname", None)
        second = t.create(b)
        t.eq(
            _ns_link(second.pid, kind),
            _ns_link(first.pid, kind),
            f"{kind} namespace of the joining container",
        )
        t.check(_ns_link(second.pid, kind) != _ns_link("self", kind), "the joined namespace is the runtime's")

    return check


for _kind in ("network", "ipc", "uts", "pid", "cgroup"):
    _join_case(_kind)
_join_case("user", needs=("user_ns",))


@case("namespaces/join-keeps-hostname-of-owner")
def join_uts_hostname(t: Ctx) -> None:
    """Joining a UTS namespace by path sees the hostname its owner set."""
    first_bundle = t.bundle(["sleep", "300"])
    first_bundle.config["hostname"] = "owner-host"
    first = t.create(first_bundle)
    first.start()
    b = t.bundle([CHECK, "id"])
    b.config.pop("hostname", None)
    cfgmod.set_namespace(b.config, "uts", f"/proc/{first.pid}/ns/uts")
    t.eq(t.run_report(b).get("hostname"), "owner-host", "hostname inside the joined UTS namespace")


# ------------------------------------------------------------------ user namespace mappings


@case("userns/mappings", needs=("user_ns",), spec="config-linux.md uidMappings/gidMappings")
def userns_mappings(t: Ctx) -> None:
    b = t.bundle([CHECK, "id", "pause"])
    cfgmod.user_namespace(b.config, 100000, 65536)
    c = t.create(b)
    t.eq(_map_lines(f"/proc/{c.pid}/uid_map"), [[0, 100000, 65536]], "uid_map")
    t.eq(_map_lines(f"/proc/{c.pid}/gid_map"), [[0, 100000, 65536]], "gid_map")
    c.start()
    c.wait_for_key("tty2")
    r = c.output()
    t.eq((r.get("uid"), r.get("gid")), ("0", "0"), "uid/gid inside")
    st = t.proc_status(c.pid)
    t.eq(st["Uid"].split()[0], "100000", "host uid of container root")
    t.eq(st["Gid"].split()[0], "100000", "host gid of container root")


@case("userns/multiple-ranges", needs=("user_ns",), spec="config-linux.md uidMappings: several entries")
def userns_ranges(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    cfgmod.set_namespace(b.config, "user")
    ranges = [[0, 200000, 1000], [1000, 300000, 64536]]
    b.linux["uidMappings"] = [{"containerID": c, "hostID": h, "size": s} for c, h, s in ranges]
    b.linux["gidMappings"] = [{"containerID": c, "hostID": h, "size": s} for c, h, s in ranges]
    c = t.create(b)
    t.eq(sorted(_map_lines(f"/proc/{c.pid}/uid_map")), ranges, "uid_map")
    t.eq(sorted(_map_lines(f"/proc/{c.pid}/gid_map")), ranges, "gid_map")


@case(
    "userns/non-root-user", needs=("user_ns",), spec="config.md user: uid/gid are in the container namespace"
)
def userns_nonroot(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    cfgmod.user_namespace(b.config, 100000, 65536)
    b.process["user"] = {"uid": 1000, "gid": 1000}
    c = t.create(b)
    c.start()
    st = t.proc_status(c.pid)
    t.eq(st["Uid"].split()[0], "101000", "host uid of container uid 1000")
    t.eq(st["Gid"].split()[0], "101000", "host gid of container gid 1000")


def _map_lines(path: str) -> list[list[int]]:
    with open(path) as f:
        return [[int(x) for x in line.split()] for line in f if line.strip()]
