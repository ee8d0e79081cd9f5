"""What this host can do, probed once before any case runs.

Cases name what they need (e.g. "cap_sys_resource"); a case whose need is not met is reported as
`# SKIP <reason>`. The decision comes from the host, never from which runtime is under test, so
every runtime skips the same cases on one machine.
"""

from __future__ import annotations

import os
import subprocess

from . import sysutil

CAP_NAMES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]


def cap_mask(names: list[str] | set[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << CAP_NAMES.index(name)
    return mask


def cap_names(mask: int) -> set[str]:
    return {name for i, name in enumerate(CAP_NAMES) if mask & (1 << i)}


class Host:
    """Facts about this machine that decide which cases can run."""

    def __init__(self) -> None:
        self.hierarchies = sysutil.cgroup_hierarchies()
        self.v1_controllers = {c for c in self.hierarchies if c != "unified" and not c.startswith("name=")}
        self.cgroup_mode = self._cgroup_mode()
        status = sysutil.proc_status(os.getpid())
        self.cap_bounding = cap_names(int(status.get("CapBnd", "0"), 16))
        self.apparmor = (sysutil.read_text("/sys/module/apparmor/parameters/enabled") or "").strip() == "Y"
        self.selinux = os.path.exists("/sys/fs/selinux/enforce")
        self.time_ns = os.path.exists("/proc/self/ns/time")
        self.user_ns = int((sysutil.read_text("/proc/sys/user/max_user_namespaces") or "0").strip() or 0) > 0
        self.seccomp = "Seccomp" in status
        self.oom_score_adj = int((sysutil.read_text("/proc/self/oom_score_adj") or "0").strip())
        self.block_device = self._block_device()
        self.mems = (sysutil.read_text("/sys/devices/system/node/online") or "0").strip()
        self.numa = os.path.exists("/proc/self/numa_maps")
        self.resctrl = os.path.isdir("/sys/fs/resctrl/info")
        self.veth = self._veth()

    def _cgroup_mode(self) -> str:
        if os.path.exists(os.path.join(sysutil.CGROUP_ROOT, "cgroup.controllers")):
            return "v2"
        return "hybrid" if "unified" in self.hierarchies else "v1"

    @staticmethod
    def _block_device() -> tuple[int, int] | None:
        """major:minor of a real (non-loop, non-zram) disk, for blkio throttle cases."""
        try:
            names = sorted(os.listdir("/sys/block"))
        except OSError:
            return None
        for name in names:
            if name.startswith(("loop", "zram", "ram", "dm-", "sr")):
                continue
            dev = sysutil.read_text(f"/sys/block/{name}/dev")
            if dev:
                major, minor = dev.strip().split(":")
                return int(major), int(minor)
        return None

    @staticmethod
    def _veth() -> bool:
        """Can this host make a veth pair (iproute2's ip, the veth driver)? Tried once, undone."""
        name = f"ocs{os.getpid() % 100000}p"
        try:
            made = subprocess.run(
                ["ip", "link", "add", name, "type", "veth", "peer", "name", name + "x"],
                capture_output=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        if made.returncode != 0:
            return False
        subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=10)
        return True

    def v1_file(self, controller: str, name: str) -> bool:
        mount = self.hierarchies.get(controller)
        return bool(mount) and self.cgroup_mode != "v2" and os.path.exists(os.path.join(mount, name))

    def as_dict(self) -> dict:
        return {
            "cgroup_mode": self.cgroup_mode,
            "v1_controllers": sorted(self.v1_controllers),
            "cap_bounding_missing": sorted(set(CAP_NAMES) - self.cap_bounding),
            "apparmor": self.apparmor,
            "selinux": self.selinux,
            "time_ns": self.time_ns,
            "user_ns": self.user_ns,
            "oom_score_adj": self.oom_score_adj,
            "block_device": "{}:{}".format(*self.block_device) if self.block_device else None,
            "numa": self.numa,
            "resctrl": self.resctrl,
            "veth": self.veth,
        }


def _v1(controller: str):
    return (
        lambda h: h.cgroup_mode != "v2" and controller in h.v1_controllers,
        f"no cgroup v1 {controller} hierarchy mounted on this host",
    )


def _v1_file(controller: str, name: str):
    return (lambda h: h.v1_file(controller, name), f"cgroup v1 {controller} has no {name} on this kernel")


# need -> (predicate over Host, reason printed when it is not met)
REQUIREMENTS = {
    "cgroup_v1": (
        lambda h: h.cgroup_mode != "v2",
        "these checks read cgroup v1 files; this host is cgroup v2",
    ),
    "cgroup_v2": (
        lambda h: h.cgroup_mode == "v2",
        "cgroup v2-only feature; this host has the hybrid v1 layout",
    ),
    "memory": _v1("memory"),
    "cpu": _v1("cpu"),
    "cpuset": _v1("cpuset"),
    "pids": _v1("pids"),
    "blkio": _v1("blkio"),
    "devices_cg": _v1("devices"),
    "freezer": _v1("freezer"),
    "hugetlb": _v1("hugetlb"),
    "net_cls": _v1("net_cls"),
    "net_prio": _v1("net_prio"),
    "rdma": _v1("rdma"),
    "memsw": _v1_file("memory", "memory.memsw.limit_in_bytes"),
    "cpu_idle": _v1_file("cpu", "cpu.idle"),
    "cpu_burst": _v1_file("cpu", "cpu.cfs_burst_us"),
    "blkio_weight": (
        lambda h: h.v1_file("blkio", "blkio.weight") or h.v1_file("blkio", "blkio.bfq.weight"),
        "no blkio.weight or blkio.bfq.weight file (the block scheduler has no weights)",
    ),
    "block_device": (lambda h: h.block_device is not None, "no block device to throttle"),
    "cap_sys_resource": (
        lambda h: "CAP_SYS_RESOURCE" in h.cap_bounding,
        "no CAP_SYS_RESOURCE in the host's bounding set (cannot raise hard rlimits or lower oom_score_adj)",
    ),
    "apparmor": (lambda h: h.apparmor, "AppArmor is not enabled on this host"),
    "selinux": (lambda h: h.selinux, "SELinux is not enabled on this host"),
    "time_ns": (lambda h: h.time_ns, "the kernel has no time namespaces"),
    "user_ns": (lambda h: h.user_ns, "user namespaces are disabled (max_user_namespaces is 0)"),
    "seccomp": (lambda h: h.seccomp, "the kernel has no seccomp"),
    "numa": (lambda h: h.numa, "the kernel has no NUMA support (no /proc/self/numa_maps)"),
    "no_resctrl": (lambda h: not h.resctrl, "this host has resctrl: Intel RDT could be applied here"),
    "veth": (lambda h: h.veth, "cannot make a veth pair here (no ip, or no veth driver)"),
}


def unmet(host: Host, needs: tuple[str, ...]) -> str | None:
    """The skip reason of the first unmet need, or None when the case can run here."""
    for need in needs:
        predicate, reason = REQUIREMENTS[need]
        if not predicate(host):
            return reason
    return None
