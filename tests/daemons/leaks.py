"""What a daemon fixture must leave behind: nothing. Mounts, cgroups, network devices."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.mountinfo import mounts

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Interface names a container engine would create; other engineers' tests may make their own
# devices at the same time, so only these count as ours.
DAEMON_NETDEV = re.compile(r"^(docker|br-|veth|cni|podman|netavark|virbr)")


def mount_points() -> set[str]:
    return {m.point for m in mounts()}


def netdevs() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def own_cgroups() -> dict[str, str]:
    """Our cgroup in each hierarchy, keyed by controller list ("memory", "name=systemd", "" for v2)."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _id, controllers, path = line.rstrip("\n").split(":", 2)
            own[controllers] = path
    return own


def cgroup_parents() -> list[Path]:
    """Where a daemon's cgroups can appear: every hierarchy root (v1 controllers, name=systemd,
    the unified v2 tree) and, since a relative cgroup parent is taken relative to the caller's
    own cgroup, our own cgroup in each of them."""
    own = own_cgroups()
    parents = set()
    for m in mounts():
        point = Path(m.point)
        if m.fstype not in ("cgroup", "cgroup2") or not point.is_relative_to(CGROUP_ROOT):
            continue
        parents.add(point)
        if m.fstype == "cgroup2":
            key = ""
        else:
            known = ("name=systemd", *(k for k in own if k))
            key = next((k for k in known if set(k.split(",")) <= m.super_options), "")
        relative = own.get(key, "/").lstrip("/")
        if relative:
            parents.add(point / relative)
    return sorted(parents)


def remove_cgroup_tree(path: Path) -> list[str]:
    """rmdir a cgroup and its children bottom-up; return the ones that would not go (busy)."""
    stuck = []
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            sub.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            stuck.append(f"{sub}: {exc.strerror}")
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        stuck.append(f"{path}: {exc.strerror}")
    return stuck


@dataclass
class HostSnapshot:
    """Taken before a daemon starts; compared after it stops."""

    private_dirs: list[Path]
    cgroup_names: list[str]
    # Child cgroups a daemon keeps by design and never removes (podman's shared "conmon" one).
    expected_children: frozenset[str] = frozenset()
    mounts: set[str] = field(default_factory=mount_points)
    devices: set[str] = field(default_factory=netdevs)
    cgroups_before: set[Path] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.cgroups_before = self._existing_cgroups()

    def _existing_cgroups(self) -> set[Path]:
        return {
            parent / name
            for parent in cgroup_parents()
            for name in self.cgroup_names
            if (parent / name).is_dir()
        }

    def leaks(self) -> list[str]:
        """Describe everything left behind, and clean cgroups up so later fixtures start clean."""
        found = []
        for point in sorted(mount_points()):
            if any(Path(point).is_relative_to(d) for d in self.private_dirs):
                found.append(f"mount left at {point}")
        for dev in sorted(netdevs() - self.devices):
            if DAEMON_NETDEV.match(dev):
                found.append(f"network device left: {dev}")
        for cgroup in sorted(self._existing_cgroups() - self.cgroups_before):
            children = sorted(
                str(p) for p in cgroup.rglob("*") if p.is_dir() and p.name not in self.expected_children
            )
            if children:
                found.append(f"cgroups left under {cgroup}: {children}")
            procs = cgroup_processes(cgroup)
            if procs:
                found.append(f"processes left in {cgroup}: {procs}")
            # The parent dir itself is ours to remove (daemons never rmdir their parents).
            found.extend(f"cgroup would not go: {s}" for s in remove_cgroup_tree(cgroup))
        return found


def cgroup_processes(cgroup: Path) -> list[int]:
    pids: list[int] = []
    for procs in cgroup.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            pids.extend(int(p) for p in procs.read_text().split())
    return pids


def unmount_below(path: Path) -> list[str]:
    """Last-resort cleanup after a failed test: lazily unmount anything under path."""
    undone = []
    for point in sorted(mount_points(), key=len, reverse=True):
        if Path(point).is_relative_to(path):
            rc = os.system(f"umount -l '{point}' 2>/dev/null")
            if rc != 0:
                undone.append(point)
    return undone
