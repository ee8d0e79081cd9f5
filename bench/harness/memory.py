"""Memory held by a created (not started) container: every process it leaves behind and the bytes
charged to its cgroup."""

import os

from . import cgroups

KIB = 1024


def parse_smaps_rollup(text: str) -> dict[str, int]:
    """RSS, PSS and USS (private clean + private dirty + private hugetlb) in bytes."""
    fields = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0]) * KIB
    return {
        "rss": fields.get("Rss", 0),
        "pss": fields.get("Pss", 0),
        "uss": fields.get("Private_Clean", 0)
        + fields.get("Private_Dirty", 0)
        + fields.get("Private_Hugetlb", 0),
    }


def process_memory(pid: int) -> dict[str, int] | None:
    """RSS/PSS/USS of one process, None if it is gone (or a zombie, which has no smaps)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            text = f.read()
    except OSError:
        return None
    if not text.strip():
        return None
    return parse_smaps_rollup(text)


def children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(child) for child in f.read().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """pid and all its descendants, parents first."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        if current in found:
            continue
        found.append(current)
        queue.extend(children(current))
    return found


def container_memory(init_pid: int) -> dict[str, int | None]:
    """Sum of RSS/PSS/USS over the processes of the init's memory cgroup, the init itself and its
    descendants; plus the charge of that cgroup (None if it has none) and how many processes
    were counted."""
    directory = cgroups.memory_cgroup_dir(init_pid)
    pids = set(descendants(init_pid))
    if directory:
        pids.update(cgroups.procs(directory))
    total = {"rss": 0, "pss": 0, "uss": 0, "processes": 0}
    for pid in sorted(pids):
        usage = process_memory(pid)
        if usage is None:
            continue
        total["processes"] += 1
        for key, value in usage.items():
            total[key] += value
    total["cgroup"] = cgroups.memory_charge(directory) if directory else None
    return total
