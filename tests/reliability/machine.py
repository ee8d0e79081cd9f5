"""What the machine holds, read straight from the kernel: processes, cgroups, mounts, locks, fds.

The reliability tests judge pyrunc by these readings, never by what pyrunc says about itself.
"""

from __future__ import annotations

import os
import time

from tests.leaks import mount_points_under  # noqa: F401  (used as machine.mount_points_under)

CGROUP_ROOT = "/sys/fs/cgroup"
HELPER_COMM = "memfd:pyrunc-in"  # the init before it execs the user's process (a sealed memfd)
SYSCALL_NR = {"setns": 308, "execve": 59, "execveat": 322, "openat": 257, "pivot_root": 155}


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, ppid, start time) of a process, None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])


def is_alive(pid: int) -> bool:
    """A process that runs or sleeps: not a zombie, not gone."""
    stat = proc_stat(pid) if pid > 0 else None
    return stat is not None and stat[0] not in ("Z", "X", "x")


def comm(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def all_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def descendants(ancestor: int) -> list[int]:
    """Every process below `ancestor` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        stat = proc_stat(pid)
        if stat is not None:
            children.setdefault(stat[1], []).append(pid)
    out, todo = [], [ancestor]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def live_descendants(ancestor: int) -> list[int]:
    return [pid for pid in descendants(ancestor) if is_alive(pid)]


def zombie_children(parent: int) -> list[int]:
    return [p for p in all_pids() if (s := proc_stat(p)) is not None and s[1] == parent and s[0] == "Z"]


def cgroup_dirs(match) -> set[str]:
    """Cgroup directories (any hierarchy, any depth up to 6) whose name satisfies `match`."""
    found = set()
    for top, dirs, _ in os.walk(CGROUP_ROOT):
        if top[len(CGROUP_ROOT) :].count("/") >= 6:
            dirs[:] = []
            continue
        for d in dirs:
            if match(d):
                found.add(os.path.join(top, d))
    return found


def cgroup_dirs_named(name: str) -> set[str]:
    return cgroup_dirs(lambda d: d == name)


def pids_in_cgroups(directories) -> set[int]:
    """Processes in these cgroup directories or below them."""
    pids = set()
    for directory in directories:
        for top, _dirs, files in os.walk(directory):
            if "cgroup.procs" not in files:
                continue
            try:
                with open(os.path.join(top, "cgroup.procs")) as f:
                    pids.update(int(line) for line in f if line.strip())
            except OSError:
                pass
    return pids


def freezer_state(directories) -> str | None:
    for directory in directories:
        path = os.path.join(directory, "freezer.state")
        if os.path.exists(path):
            try:
                with open(path) as f:
                    return f.read().strip()
            except OSError:
                return None
    return None


def host_mount_count() -> int:
    with open("/proc/self/mountinfo") as f:
        return sum(1 for _ in f)


def lock_holders(path: str) -> list[int]:
    """Pids holding a lock (flock, POSIX or OFD) on the file at `path`, from /proc/locks."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if "->" in fields:  # a waiter, not a holder
                continue
            if len(fields) >= 6 and fields[5] == key:
                holders.append(int(fields[4]))
    return holders


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def current_syscall(pid: int) -> int | None:
    """The number of the syscall a stopped or blocked process is in, None if running or gone."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            first = f.read().split()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.lstrip("-").isdigit() and int(first) >= 0 else None


def wait_for(predicate, timeout: float, interval: float = 0.005):
    """Poll until predicate() is truthy; returns its value, or None at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)
