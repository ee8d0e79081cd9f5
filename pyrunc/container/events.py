"""`events`: the container's resource statistics (runc's `stats` event) once with --stats, or
every --interval, together with an `oom` event for every OOM kill, until the container stops."""

from __future__ import annotations

import sys

from pyrunc.container.base import load
from pyrunc.errors import NotFound, PyruncError
from pyrunc.store import Store


def parse_duration(text: str) -> float:
    """Go's duration syntax as runc takes it: 5s, 100ms, 1m30s, 2h."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, number, i = 0.0, "", 0
    if not text:
        raise PyruncError("--interval: empty duration")
    while i < len(text):
        if text[i].isdigit() or text[i] == ".":
            number += text[i]
            i += 1
            continue
        unit = text[i : i + 2] if text[i : i + 2] in units else text[i]
        if unit not in units or not number:
            raise PyruncError(f"--interval: invalid duration {text!r} (e.g. 5s, 500ms)")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        raise PyruncError(f"--interval: missing unit in {text!r} (e.g. 5s)")
    if total <= 0:
        raise PyruncError("--interval must be positive")
    return total


def _emit(event: dict) -> None:
    from pyrunc import jsonio

    sys.stdout.write(jsonio.dumps(event) + "\n")
    sys.stdout.flush()


def events(store: Store, container_id: str, stats_once: bool, interval: float) -> None:
    container = load(store, container_id)
    if container.status == "stopped":
        raise PyruncError("container not running")
    cgroup = container.cgroup()
    if cgroup is None:
        raise PyruncError(f"container {container_id} has no cgroup to report on")
    if stats_once:
        _emit({"type": "stats", "id": container_id, "data": cgroup.stats()})
        return
    watcher = cgroup.oom_events()
    try:
        while True:
            _emit({"type": "stats", "id": container_id, "data": cgroup.stats()})
            ooms = watcher.wait(interval)
            if ooms is None:
                return  # the cgroup is gone: the container was deleted
            for _ in range(ooms):
                _emit({"type": "oom", "id": container_id})
            try:
                if load(store, container_id).status == "stopped":
                    return
            except NotFound:
                return
    finally:
        watcher.close()
