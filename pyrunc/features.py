"""`pyrunc features`: the runtime-spec features document (features.md), listing only what this
runtime really applies on this host."""

from __future__ import annotations

import os

from pyrunc import OCI_VERSION, linux, mounts, plan

HOOKS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def _host_capabilities() -> list[str]:
    """Our capability table, cut to what the host kernel knows."""
    last = linux.last_capability()
    return [name for name, bit in linux.CAPABILITIES.items() if bit <= last]


def _cgroup_features() -> dict:
    v2_only = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    # The systemd driver (cgroups/systemd.py) works on cgroup v2 only; rootless, through the
    # user's own systemd instance.
    return {"v1": not v2_only, "v2": True, "systemd": v2_only, "systemdUser": v2_only, "rdma": False}


def features() -> dict:
    from pyrunc import seccomp
    from pyrunc.cgroups.systemd import ANNOTATION_PREFIX

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": sorted(set(mounts.FLAG_OPTIONS) | set(mounts.PROPAGATION_OPTIONS)),
        "linux": {
            "namespaces": sorted(linux.NAMESPACES),
            "capabilities": _host_capabilities(),
            "cgroup": _cgroup_features(),
            "seccomp": seccomp.features(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            # No resctrl support: a config with linux.intelRdt is refused (lsm.py), naming the field.
            "intelRdt": {"enabled": False, "schemata": False, "monitoring": False},
            "memoryPolicy": {"modes": sorted(plan.MPOL_MODES), "flags": sorted(plan.MPOL_FLAGS)},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": True},
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": seccomp.libseccomp_version(),
            "org.opencontainers.runc.checkpoint.enabled": "true",  # checkpoint/restore exist (through criu)
        },
        # Config annotations that change what the runtime does (a trailing "." names a prefix):
        # unit properties for the systemd cgroup driver.
        "potentiallyUnsafeConfigAnnotations": [ANNOTATION_PREFIX],
    }
