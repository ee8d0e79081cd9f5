"""`ps`: the container's processes, as a JSON array of host pids or as `ps` output."""

from __future__ import annotations

import subprocess

from pyrunc.container.base import load
from pyrunc.errors import PyruncError
from pyrunc.state import Store


def container_pids(store: Store, container_id: str) -> list[int]:
    container = load(store, container_id)
    cgroup = container.cgroup()
    if cgroup is not None:
        return cgroup.pids()
    return [container.pid] if container.status not in ("stopped", "creating") else []


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
