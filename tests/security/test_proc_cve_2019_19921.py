"""/proc and the masked paths: CVE-2019-19921 and CVE-2023-27561 (a rootfs whose /proc is a
symlink, so that proc is mounted elsewhere and the masks and read-only binds of /proc/... land on
a decoy while the real procfs stays writable), and CVE-2025-31133 (a rootfs /dev/null that is a
symlink or a regular file, so that "masking" binds the attacker's file instead of the null device).

The check inside the container (PROBE) looks for procfs wherever it ended up and reports a
kernel file it could open for writing or a masked file that is not the null device. It never
writes: it opens for append and closes (`: >>`), and it keeps off /dev/null, which the attack may
have turned into core_pattern. The host's core_pattern is compared before and after, and put back
if a vulnerable runtime let it change (runc 1.1.5 does, on the /dev/null tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.security.helpers import read_text

PROBE = """
is_null() { [ -c "$1" ] && [ "$(stat -c %t:%T "$1")" = 1:3 ]; }
for d in /proc /proc-real; do
    [ "$(stat -f -c %T $d 2>&-)" = proc ] || continue
    echo "PROCFS $d"
    pattern=$d/sys/kernel/core_pattern
    if ! is_null $pattern && (: >> $pattern) 2>&-; then echo "WRITABLE $pattern"; fi
    for name in keys timer_list sys/kernel/core_pattern; do
        if [ -e $d/$name ] && ! is_null $d/$name; then echo "UNMASKED $d/$name"; fi
    done
done
"""
MASKED = ["/proc/keys", "/proc/timer_list", "/proc/sys/kernel/core_pattern"]


@pytest.fixture
def core_pattern():
    """The host's core_pattern must be the same after the test (a container that could write it
    runs a program of its choice as root on the host at the next crash)."""
    path = "/proc/sys/kernel/core_pattern"
    before = read_text(path)
    yield
    after = read_text(path)
    if after != before:
        with open(path, "w") as f:
            f.write(before)
    assert after == before, f"core_pattern changed from {before!r} to {after!r}"


def probe_bundle(make_bundle):
    """A bundle that runs PROBE with the default masks plus core_pattern (as `pyrunc spec` has)."""
    bundle = make_bundle(args=["sh", "-c", PROBE])
    linux = bundle.config["linux"]
    linux["maskedPaths"] = sorted(set(linux["maskedPaths"]) | set(MASKED))
    return bundle.write()


def findings(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("WRITABLE", "UNMASKED"))]


def add_hook(bundle, script: str, tmp_path) -> None:
    """A createRuntime hook (host side, after the mounts and devices, before masking): the moment
    a racing process on the host has to win. Placing it there turns a race into a certainty."""
    path = tmp_path / f"hook-{uuid.uuid4().hex[:6]}"
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(0o755)
    bundle.config.setdefault("hooks", {}).setdefault("createRuntime", []).append({"path": str(path)})
    bundle.write()


def test_control_the_probe_sees_an_unprotected_proc(runtime, make_bundle, cid, core_pattern):
    """Without masks and read-only paths the probe reports procfs wide open: it can detect it."""
    bundle = probe_bundle(make_bundle)
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    bundle.write()
    result = runtime("run", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    assert "WRITABLE /proc/sys/kernel/core_pattern" in findings(result.stdout), result.stdout


def test_default_masks_hold(runtime, make_bundle, cid, core_pattern):
    result = runtime("run", "--bundle", probe_bundle(make_bundle).path, cid, stdin=subprocess.DEVNULL)
    assert result.stdout.splitlines()[0] == "PROCFS /proc"
    assert findings(result.stdout) == [], result.stdout


@pytest.mark.parametrize("dest", ["proc", "sys"])
@pytest.mark.parametrize("target", ["inside", "host"])
def test_proc_or_sys_as_a_symlink_is_refused(runtime, make_bundle, cid, tmp_path, dest, target):
    """CVE-2019-19921: proc and sysfs go only onto real directories."""
    host_dir = tmp_path / "host-target"
    host_dir.mkdir()
    bundle = probe_bundle(make_bundle)
    decoy = os.path.join(bundle.rootfs, "decoy")
    os.mkdir(decoy)
    os.rmdir(os.path.join(bundle.rootfs, dest))
    os.symlink("/decoy" if target == "inside" else str(host_dir), os.path.join(bundle.rootfs, dest))
    result = runtime("create", "--bundle", bundle.path, cid, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    assert f"/{dest} must be a real directory" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert os.listdir(host_dir) == [] and os.listdir(decoy) == []


SWAP_PROC = """
import json, os, sys
rootfs = os.path.join(json.load(sys.stdin)["bundle"], "rootfs")
os.rename(os.path.join(rootfs, "proc"), os.path.join(rootfs, "proc-real"))
os.symlink("/decoy", os.path.join(rootfs, "proc"))
"""


def test_proc_swapped_for_a_symlink_after_mounting_keeps_its_masks(
    runtime, make_bundle, cid, tmp_path, core_pattern
):
    """CVE-2023-27561's shape: proc is mounted on the real directory, then (by a racing process
    with write access to the rootfs, here the hook) that directory is renamed and /proc becomes a
    symlink to a decoy holding every masked name. The decoy's `self` leads to the real procfs so
    that the container still starts. Either create refuses, or the real procfs is protected."""
    bundle = probe_bundle(make_bundle)
    decoy = os.path.join(bundle.rootfs, "decoy")
    os.mkdir(decoy)
    linux = bundle.config["linux"]
    for path in linux["maskedPaths"] + linux["readonlyPaths"]:
        if path.startswith("/proc/"):
            name = os.path.join(decoy, path[len("/proc/") :])
            os.makedirs(os.path.dirname(name), exist_ok=True)
            if os.path.isdir(path):
                os.makedirs(name, exist_ok=True)
            else:
                open(name, "w").close()
    os.symlink("/proc-real/self", os.path.join(decoy, "self"))
    add_hook(bundle, SWAP_PROC, tmp_path)
    result = runtime("run", "--bundle", bundle.path, cid, check=False, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        assert result.stderr.count("\n") == 1 and "level=error" in result.stderr, result.stderr
        return
    assert "PROCFS /proc-real" in result.stdout.splitlines(), result.stdout
    assert findings(result.stdout) == [], result.stdout


REPLACE_NULL = """
import json, os, sys
state = json.load(sys.stdin)
null = "/proc/%d/root%s/rootfs/dev/null" % (state["pid"], state["bundle"])
os.unlink(null)
if KIND == "symlink":
    os.symlink("/proc/sys/kernel/core_pattern", null)
else:
    open(null, "w").close()
"""


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_masks_use_the_real_null_device_whatever_the_rootfs_dev_null_is(
    runtime, make_bundle, cid, tmp_path, core_pattern, kind
):
    """CVE-2025-31133: the container's /dev/null is replaced (after the runtime made it, before
    masking) by a symlink to core_pattern or by a regular file. The masks must still be the null
    device: pyrunc binds the host's /dev/null, checked to be char 1:3, never the rootfs's."""
    bundle = probe_bundle(make_bundle)
    add_hook(bundle, f"KIND = {kind!r}\n{REPLACE_NULL}", tmp_path)
    result = runtime("run", "--bundle", bundle.path, cid, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert findings(result.stdout) == [], result.stdout
    assert result.stdout.splitlines()[0] == "PROCFS /proc"


def test_masks_ignore_a_planted_dev_null_in_a_rootfs_without_a_dev_mount(
    runtime, make_bundle, cid, core_pattern
):
    """Same attack through the image alone: no tmpfs on /dev, and the rootfs ships /dev/null as a
    symlink to core_pattern."""
    bundle = probe_bundle(make_bundle)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    bundle.write()
    os.symlink("/proc/sys/kernel/core_pattern", os.path.join(bundle.rootfs, "dev", "null"))
    result = runtime("run", "--bundle", bundle.path, cid, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert findings(result.stdout) == [], result.stdout
