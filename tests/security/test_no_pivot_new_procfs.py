"""A fresh procfs undoes maskedPaths and readonlyPaths: a process that makes its own user, mount and
pid namespaces (no capability needed) may mount proc, but the kernel allows it only when a procfs is
already fully visible in its mount namespace (mount_too_revealing()); sysfs likewise, with a network
namespace. After pivot_root the only procfs left is the container's, with its masks. With
`--no-pivot` the rootfs is moved onto / and the host's mounts stay below it: the host's whole /proc
and /sys counted as visible, and the attacker's `newfs` got an unmasked proc. pyrunc now detaches
them first (covers them when they cannot be detached), as runc's msMoveRoot does.
"""

from __future__ import annotations

import subprocess

import pytest

from tests import mountinfo
from tests.security.helpers import map_host_root, plant, report


def newfs_results(output: str) -> dict[str, str]:
    return {o["fs"]: o["result"] for o in report(output) if o.kind == "NEWFS"}


@pytest.fixture
def newfs_allowed_here(attacker) -> None:
    """Control: on the host (procfs fully visible) the attack works; else it shows nothing."""
    result = subprocess.run([attacker, "newfs"], capture_output=True, text=True, timeout=60)
    found = newfs_results(result.stdout)
    if found.get("userns"):
        pytest.skip(f"this host does not let a process make a user namespace: {found['userns']}")
    assert found == {"proc": "ok", "sysfs": "ok"}, result


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns"])
@pytest.mark.parametrize("pivot", ["pivot", "no-pivot"])
def test_no_fresh_procfs_or_sysfs_in_the_container(
    runtime, make_bundle, cid, attacker, newfs_allowed_here, pivot, userns
):
    bundle = make_bundle()
    bundle.config["process"]["args"] = [plant(bundle.rootfs, attacker), "newfs"]
    if userns:
        # The host's mounts are locked in the container's user namespace: they cannot be detached.
        map_host_root(bundle.config)
    bundle.write()
    extra = ["--no-pivot"] if pivot == "no-pivot" else []

    result = runtime("run", *extra, "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)

    assert newfs_results(result.stdout) == {"proc": "EPERM", "sysfs": "EPERM"}, result.stdout


def test_no_pivot_leaves_the_hosts_proc_and_sys_mounted(runtime, make_bundle, cid):
    """The host's mounts are detached in the container's mount namespace only."""
    bundle = make_bundle()
    runtime("run", "--no-pivot", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    points = {m.point for m in mountinfo.mounts()}
    assert {"/proc", "/sys"} <= points
