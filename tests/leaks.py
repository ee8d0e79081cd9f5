"""The leak check around every test that makes containers (integration, environment, security):
after the test and the runtime fixture's own clean-up (`delete --force` of anything left), no
process, mount, cgroup or state directory made by the test may remain. A leak fails the test and
is then cleaned up here, so the next test starts clean."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from pyrunc.store import SECCOMP_CACHE_PREFIX
from tests.mountinfo import mounts
from tests.support import USED_IDS, reap_orphans

CGROUP_ROOT = "/sys/fs/cgroup"


def is_seccomp_cache(path) -> bool:
    """What a --root holds besides containers: pyrunc's compiled-seccomp cache, as files."""
    return path.name.startswith(SECCOMP_CACHE_PREFIX) and path.is_file()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def mount_points_under(prefixes: list[str]) -> set[str]:
    points = set()
    for m in mounts():
        if any(m.point == p or m.point.startswith(p.rstrip("/") + "/") for p in prefixes):
            points.add(m.point)
    return points


def our_cgroups(ids: set[str]) -> set[str]:
    """Cgroup directories named after a container id this test used (other test sessions may run
    on the machine at the same time with similar names: never look at theirs)."""
    found = set()
    if not ids:
        return found
    for top, dirs, _ in os.walk(CGROUP_ROOT):
        depth = top[len(CGROUP_ROOT) :].count("/")
        if depth >= 4:
            dirs[:] = []
            continue
        for d in dirs:
            # The systemd driver's scopes are PREFIX-ID.scope (runc-ID.scope by default).
            scope = d.endswith(".scope") and any(d == f"{i}.scope" or d.endswith(f"-{i}.scope") for i in ids)
            if d in ids or scope:
                found.add(os.path.join(top, d))
    return found


def is_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def describe(pids: list[int]) -> str:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            out.append(f"{pid} ({cmdline})")
        except OSError:
            out.append(str(pid))
    return ", ".join(out)


def _kill_and_reap(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    reap_orphans()


def around_test(tmp_path):
    """The body of an autouse fixture (`yield from leaks.around_test(tmp_path)`): autouse, it is
    set up before the runtime fixture and torn down after the runtime fixture's clean-up."""
    watched = [str(tmp_path), "/run/pyrunc"]
    mounts_before = mount_points_under(watched)
    USED_IDS.clear()
    yield
    reap_orphans()
    problems = []
    leaked_pids = [p for p in descendants(os.getpid()) if is_alive(p)]
    if leaked_pids:
        problems.append(f"processes left: {describe(leaked_pids)}")
        _kill_and_reap(leaked_pids)
    leaked_mounts = mount_points_under(watched) - mounts_before
    if leaked_mounts:
        problems.append(f"mounts left: {sorted(leaked_mounts)}")
        for point in sorted(leaked_mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
    leaked_cgroups = our_cgroups(set(USED_IDS))
    if leaked_cgroups:
        problems.append(f"cgroups left: {sorted(leaked_cgroups)}")
        for path in sorted(leaked_cgroups, key=len, reverse=True):
            try:
                os.rmdir(path)
            except OSError:
                pass
    root = tmp_path / "root"
    left = sorted(p.name for p in root.iterdir() if not is_seccomp_cache(p)) if root.is_dir() else []
    if left:
        problems.append(f"state directories left: {left}")
    if problems:
        pytest.fail("leak: " + "; ".join(problems))
