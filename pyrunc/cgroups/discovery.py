"""The host's cgroup hierarchies and this process's place in them, read once for all of pyrunc:
the v1 manager places a container in every hierarchy (v1.py), and a container's /sys/fs/cgroup
is planned from the same facts (mount_plan.py).

mountinfo is parsed by pyrunc.mountinfo (the one parser); the cgroup2 hierarchy is keyed UNIFIED
in every map here. Only create and the plan need it: the hot paths (v1.py's from_state) never
load it.
"""

from pyrunc.cgroups._fs import UNIFIED

# Kernel cgroup v1 controllers (anything else in a cgroup mount's options is a flag or name=).
V1_CONTROLLERS = frozenset(
    {
        *("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls"),
        *("net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc"),
    }
)


def cgroup_mounts(mountinfo: str = "/proc/self/mountinfo") -> list:
    """The cgroup and cgroup2 mounts this process sees (pyrunc.mountinfo.Mount), in mount order."""
    from pyrunc import mountinfo as parser

    with open(mountinfo, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return [m for m in parser.parse(text) if m.fstype in ("cgroup", "cgroup2")]


def hierarchy_keys(fstype: str, super_options: str) -> list[str]:
    """How /proc/self/cgroup names the hierarchy of a mount: its controllers and name=...
    (v1), or UNIFIED (cgroup2)."""
    if fstype == "cgroup2":
        return [UNIFIED]
    return [o for o in super_options.split(",") if o in V1_CONTROLLERS or o.startswith("name=")]


def mounted_hierarchies(mountinfo: str = "/proc/self/mountinfo") -> dict[str, tuple[str, str]]:
    """{controller: (mount point, mount root)} for every hierarchy mounted, the cgroup2 one as
    UNIFIED. Combined mounts such as cpu,cpuacct give one entry per controller with the same
    mount point; of a hierarchy mounted twice, the first mount counts."""
    found: dict[str, tuple[str, str]] = {}
    for m in cgroup_mounts(mountinfo):
        for key in hierarchy_keys(m.fstype, m.super_options):
            found.setdefault(key, (m.point, m.root))
    return found


def own_cgroups(proc_cgroup: str = "/proc/self/cgroup") -> dict[str, str]:
    """{controller: path} from /proc/self/cgroup; the v2 entry is UNIFIED."""
    own = {}
    with open(proc_cgroup, encoding="utf-8", errors="replace") as f:
        for line in f.read().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [UNIFIED]:
                if name:
                    own[name] = path
    return own
