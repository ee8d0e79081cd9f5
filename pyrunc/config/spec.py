"""`pyrunc spec`: the default config.json, runc's with more of /proc and /sys protected."""

from __future__ import annotations

import copy
import os

from pyrunc import OCI_VERSION, jsonio
from pyrunc.errors import PyruncError

_DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

DEFAULT_SPEC = {
    "ociVersion": OCI_VERSION,
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        # No inheritable set: capabilities must never be inherited by default (CVE-2022-29162).
        "capabilities": {
            "bounding": list(_DEFAULT_CAPS),
            "effective": list(_DEFAULT_CAPS),
            "permitted": list(_DEFAULT_CAPS),
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "pyrunc",
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
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        "maskedPaths": [
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            # Writes here reach the host kernel: masked, not only read-only.
            "/proc/sysrq-trigger",
            "/proc/sys/kernel/core_pattern",
            "/sys/firmware",
            "/sys/devices/virtual/powercap",
        ],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
}


def default_spec(rootless: bool = False) -> dict:
    spec = copy.deepcopy(DEFAULT_SPEC)
    if rootless:
        _make_rootless(spec)
    return spec


def _make_rootless(spec: dict) -> None:
    """As runc's specconv.ToRootless: a user namespace mapping the caller to root (and no network
    namespace, which an ordinary user could give no device), /sys bound from the host (sysfs
    cannot be mounted without a network namespace of our own), no uid=/gid= mount options (the
    ids may not be mapped) and no resources (no cgroup is needed)."""
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    linux.pop("resources", None)
    mounts = []
    for mount in spec["mounts"]:
        if os.path.normpath(mount["destination"]) == "/sys":
            mount = {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        elif mount.get("options"):
            options = [o for o in mount["options"] if not o.startswith(("uid=", "gid="))]
            mount = dict(mount, options=options)
        mounts.append(mount)
    spec["mounts"] = mounts


def write_default_spec(bundle: str, rootless: bool = False) -> None:
    path = os.path.join(bundle, "config.json")
    if not os.path.isdir(bundle):
        raise PyruncError(f"bundle {bundle} does not exist or is not a directory")
    if os.path.exists(path):
        raise PyruncError(f"{path} exists: remove it first")
    with open(path, "w") as f:
        f.write(jsonio.dumps_pretty(default_spec(rootless), indent="\t") + "\n")
