"""cgroupfs as the harness needs it: where the hierarchies are, which cgroup a process is in, what
it is charged, and removing the harness's own cgroup tree (killing what is left in it).

Every container the harness makes gets `linux.cgroupsPath` under one parent, /pyrunc-bench-<pid>,
so cleanup never has to guess which cgroups are ours.
"""

import contextlib
import os
import signal
import time

CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fstype, controllers) of every cgroup and cgroup2 mount, from mountinfo."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            mount_point = left.split()[4]
            fstype, _source, options = right.split()[:3]
            if fstype == "cgroup2":
                mounts.append((mount_point, fstype, set()))
            elif fstype == "cgroup":
                known = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"}
                known |= {"hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc"}
                controllers = {opt for opt in options.split(",") if opt in known or opt.startswith("name=")}
                mounts.append((mount_point, fstype, controllers))
    return mounts


def layout() -> str:
    """'v2' (unified only), 'hybrid' (v1 controllers plus cgroup2 at unified/) or 'v1'."""
    kinds = {mp: fstype for mp, fstype, _ in cgroup_mounts()}
    if kinds.get(CGROUP_ROOT) == "cgroup2":
        return "v2"
    if "cgroup2" in kinds.values():
        return "hybrid"
    return "v1"


def memory_cgroup_dir(pid: int) -> str | None:
    """The directory of the cgroup that charges `pid`'s memory: the v1 memory controller's if
    mounted, else the cgroup2 one. None if the process is gone or no hierarchy matches."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    paths = {}
    for line in lines:
        _hid, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    for mount_point, fstype, controllers in cgroup_mounts():
        if fstype == "cgroup" and "memory" in controllers and "memory" in paths:
            return mount_point + paths["memory"]
    for mount_point, fstype, _ in cgroup_mounts():
        if fstype == "cgroup2" and "" in paths and _has_memory_controller(mount_point + paths[""]):
            return mount_point + paths[""]
    return None


def _has_memory_controller(directory: str) -> bool:
    return os.path.exists(os.path.join(directory, "memory.current"))


def memory_charge(directory: str) -> int:
    """Bytes charged to the cgroup: memory.usage_in_bytes (v1) or memory.current (v2)."""
    for name in ("memory.usage_in_bytes", "memory.current"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read())
    raise FileNotFoundError(f"no memory.usage_in_bytes or memory.current in {directory}")


def procs(directory: str) -> list[int]:
    try:
        with open(os.path.join(directory, "cgroup.procs")) as f:
            return [int(line) for line in f if line.strip()]
    except OSError:
        return []


def tree_dirs(relative: str) -> list[str]:
    """Every directory of cgroup `relative` and its descendants in every hierarchy, deepest first."""
    found = []
    for mount_point, _fstype, _controllers in cgroup_mounts():
        top = mount_point + relative
        if not os.path.isdir(top):
            continue
        for dirpath, _dirnames, _files in os.walk(top, topdown=False):
            found.append(dirpath)
    return found


def remove_tree(relative: str, reap, timeout: float = 10.0) -> list[str]:
    """Kill every process left in cgroup `relative` (any hierarchy) and remove its directories,
    deepest first. `reap` is called between attempts so killed orphans of ours go away.
    Returns the directories that could not be removed."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for directory in tree_dirs(relative):
            for pid in procs(directory):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(directory)
        if not left or time.monotonic() > deadline:
            return left
        reap()
        time.sleep(0.05)
