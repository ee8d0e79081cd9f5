"""`ps`: the container's processes, as a JSON array of host pids or as `ps` output."""

from __future__ import annotations

import subprocess

from pyrunc.container.base import load
from pyrunc.errors import PyruncError
from pyrunc.store import Store


def container_pids(store: Store, container_id: str) -> list[int]:
    container = load(store, container_id)
    cgroup = container.cgroup()
    if cgroup is not None:
        return cgroup.pids()
    if container.status in ("stopped", "creating"):
        return []
    return pid_namespace_members(container.pid)


def pid_namespace_members(init: int) -> list[int]:
    """Without a cgroup (rootless): the processes of the init's own pid namespace, or the init
    alone when it shares ours. Those we may not inspect are not ours to list anyway."""
    import os

    try:
        target = os.stat(f"/proc/{init}/ns/pid").st_ino
        if target == os.stat("/proc/self/ns/pid").st_ino:
            return [init]
    except OSError:
        return [init]
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}/ns/pid").st_ino == target:
                members.append(int(name))
        except OSError:
            continue
    return sorted(members)


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """Run ps (default `-ef`) and keep its header and the lines of our pids."""
    try:
        output = subprocess.run(
            ["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise PyruncError(f"ps {' '.join(ps_args)}: {err}") from None
    lines = output.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise PyruncError("ps output has no PID column: give ps options that print one")
    column = header.index("PID")
    wanted = set(pids)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            kept.append(line)
    return "\n".join(kept) + "\n"
