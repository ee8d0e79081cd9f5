"""The base config.json every case starts from, and small helpers that edit it.

Its own on purpose, not pyrunc's default (pyrunc/config/spec.py, which the tests import): the suite
judges runc, crun and pyrunc alike, runs with the system python and no pyrunc, and a case must not
change its meaning when pyrunc's default does."""

from __future__ import annotations

import copy

CHECKER = "/cfcheck"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

_BASE = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": [CHECKER, "id"],
        "env": [PATH_ENV, "HOME=/root"],
        "cwd": "/",
        "capabilities": {
            "bounding": DEFAULT_CAPS,
            "effective": DEFAULT_CAPS,
            "permitted": DEFAULT_CAPS,
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": False},
    "hostname": "ocisuite",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
    },
}


def base_config(args: list[str] | None = None) -> dict:
    cfg = copy.deepcopy(_BASE)
    if args is not None:
        cfg["process"]["args"] = list(args)
    return cfg


def add_mount(cfg: dict, destination: str, type_: str, source: str, options: list[str] | None = None) -> dict:
    entry = {"destination": destination, "type": type_, "source": source}
    if options is not None:
        entry["options"] = list(options)
    cfg.setdefault("mounts", []).append(entry)
    return entry


def bind(cfg: dict, source: str, destination: str, options: tuple[str, ...] = ("rbind", "rw")) -> dict:
    return add_mount(cfg, destination, "bind", source, list(options))


def set_namespace(cfg: dict, type_: str, path: str | None = None) -> None:
    """Add (or replace) a namespace entry; path=None means a new namespace."""
    namespaces = [ns for ns in cfg["linux"].setdefault("namespaces", []) if ns["type"] != type_]
    entry = {"type": type_}
    if path is not None:
        entry["path"] = path
    namespaces.append(entry)
    cfg["linux"]["namespaces"] = namespaces


def drop_namespace(cfg: dict, type_: str) -> None:
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"].get("namespaces", []) if ns["type"] != type_]


def all_caps(cfg: dict, caps: list[str]) -> None:
    cfg["process"]["capabilities"] = {s: list(caps) for s in ("bounding", "effective", "permitted")}


def resources(cfg: dict) -> dict:
    return cfg["linux"].setdefault("resources", {})


def user_namespace(cfg: dict, host_base: int = 100000, size: int = 65536) -> None:
    """A new user namespace mapping container 0..size-1 onto host_base.. (and the same for gids)."""
    set_namespace(cfg, "user")
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_base, "size": size}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_base, "size": size}]
