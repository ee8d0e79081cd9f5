"""crun 1.8.1 refuses a hybrid cgroup layout unless hugetlb is mounted as a v1 hierarchy. The
conformance suite and the benchmarks mount it for crun's run and undo it after, through this
module. Standard library only: conformance/run uses Debian's python3, bench/run the venv's.

Undoing the mount is the delicate half. The kernel destroys a v1 hierarchy at unmount only if its
root has no child cgroups at that moment, dying ones (crun's deleted containers) included.
Otherwise the hierarchy lives on, unmounted, still listed in every /proc/PID/cgroup, and
containerd's and dockerd's cgroup v1 code then fail on it ("no metrics received" from
`ctr task metrics`, CRI ContainerStats and `docker stats`). So: wait for the children to go, and
if the hierarchy outlives the unmount anyway, mount it again and say so."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

HUGETLB_V1 = "/sys/fs/cgroup/hugetlb"


def hierarchy_id() -> int:
    """hugetlb's v1 hierarchy id in /proc/cgroups: 0 when it is not a v1 hierarchy (or is absent)."""
    with open("/proc/cgroups") as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] == "hugetlb":
                return int(fields[1])
    return 0


def _enabled() -> bool:
    with open("/proc/cgroups") as f:
        return any(line.split()[0] == "hugetlb" and line.split()[3] == "1" for line in f if line[0] != "#")


def needed() -> bool:
    """Whether crun needs hugetlb mounted as v1 here: a host with v1 hierarchies (hybrid), hugetlb
    enabled, and no v1 mount of it yet. A v1 hugetlb hierarchy that exists but is mounted nowhere
    (left by an earlier run) counts as not mounted: mounting it repairs the host."""
    v1_mounts = _v1_mounts()
    return bool(v1_mounts) and _enabled() and not any("hugetlb" in options for options in v1_mounts)


def _v1_mounts() -> list[set[str]]:
    """The super options of each cgroup v1 mount in this mount namespace."""
    with open("/proc/self/mounts") as f:
        return [set(fields[3].split(",")) for fields in map(str.split, f) if fields[2] == "cgroup"]


UNIFIED_CONTROL = "/sys/fs/cgroup/unified/cgroup.subtree_control"


def mount() -> bool:
    """Mount hugetlb as a v1 hierarchy at HUGETLB_V1; True if the directory had to be made too.
    A controller enabled in the cgroup2 hierarchy cannot be mounted as v1 (EBUSY): the error says
    so when that is why."""
    created = not os.path.exists(HUGETLB_V1)
    os.makedirs(HUGETLB_V1, exist_ok=True)
    argv = ["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", HUGETLB_V1]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(HUGETLB_V1)
        why = done.stderr.strip().splitlines()[:1]
        if enabled_in_cgroup2():
            why = [f"hugetlb is enabled in {UNIFIED_CONTROL}"]
        raise RuntimeError(f"cannot mount hugetlb as cgroup v1 at {HUGETLB_V1}: {' '.join(why)}")
    return created


def enabled_in_cgroup2() -> bool:
    """Whether hugetlb is enabled in the cgroup2 root (then it cannot be mounted as v1)."""
    try:
        with open(UNIFIED_CONTROL) as f:
            return "hugetlb" in f.read().split()
    except OSError:
        return False


def _children() -> list[str]:
    return sorted(entry.name for entry in os.scandir(HUGETLB_V1) if entry.is_dir())


def unmount(remove_dir: bool, wait: float = 10.0) -> str | None:
    """Undo mount(). Returns None when done, or why the mount was left in place."""
    deadline = time.monotonic() + wait
    while _children() and time.monotonic() < deadline:
        time.sleep(0.1)
    children = _children()
    if children:
        return f"left {HUGETLB_V1} mounted: in use by cgroups {', '.join(children[:5])}"
    while True:
        subprocess.run(["umount", HUGETLB_V1], check=True, timeout=30)
        if _gone(within=1.0):
            break
        # A dying cgroup (removed, not yet freed) held the root at the unmount, so the hierarchy
        # stays for good. Mount it again: then the host is as usable as before the run, and the
        # next unmount, once the cgroup is freed, takes the hierarchy with it.
        mount()
        if time.monotonic() >= deadline:
            return (
                f"left {HUGETLB_V1} mounted: the kernel kept the hugetlb hierarchy after the unmount "
                "(dying cgroups), and unmounted it would break containerd's and dockerd's cgroup v1 code"
            )
        time.sleep(0.5)
    if remove_dir:
        with contextlib.suppress(OSError):
            os.rmdir(HUGETLB_V1)
    return None


def _gone(within: float) -> bool:
    deadline = time.monotonic() + within
    while hierarchy_id() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not hierarchy_id()
