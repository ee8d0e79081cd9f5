"""The masks' /dev/null is the host's (CVE-2025-31133's defence): a masked file such as /proc/keys is
covered with a bind of the host's own null device, so whatever changes the metadata of a masked path
changes the host's /dev/null. With a read-write bind, `chmod 600 /proc/keys` in a default container
made the host's /dev/null unusable to every unprivileged program, and with CAP_CHOWN (Docker grants
it) `chown` gave it away. The binds are read-only now, so chmod, chown, utimes and setxattr through
every masked path fail with EROFS (the kernel checks the mount's flags first); directory masks are
read-only tmpfs and refuse the same way.

In a user namespace the default devices are binds of the host's nodes too (mknod is not allowed
there), read-only for the same reason: with a mapping of the host's root, the container's root owns
them and `chmod 600 /dev/null` changed the host's (runc 1.1.5 does the same).

The attacker's `meta` tries each change on every masked path of the default config (and, in a user
namespace, on the default devices); the host's nodes (mode, owner, times, the test's xattr) are
saved before and put back after whatever happens, and must not have changed.
"""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from tests.security.helpers import map_host_root, plant, report

DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]
XATTR = "security.pyrunc-test"  # what the attacker's `meta` sets
# Docker's defaults among them: what chown, chmod and utimes of a file one does not own need.
CAPS = ["CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"]
OPS = {"chmod", "chown", "utimes", "setxattr"}


def _node_state(path: str) -> tuple[int, int, int, int, int, bytes | None]:
    st = os.lstat(path)
    try:
        xattr = os.getxattr(path, XATTR, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
            raise
        xattr = None
    return st.st_mode, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns, xattr


def _restore(path: str, state: tuple, now: tuple) -> None:
    mode, uid, gid, atime, mtime, _ = state
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode & 0o7777)
    os.utime(path, ns=(atime, mtime), follow_symlinks=False)
    if now[5] is not None:
        os.removexattr(path, XATTR, follow_symlinks=False)


@pytest.fixture
def host_devices_untouched():
    """Fails the test if a host device node changed, after putting every one back as it was."""
    before = {path: _node_state(path) for path in DEVICES}
    assert all(state[5] is None for state in before.values()), f"a device already carries {XATTR}"
    try:
        yield
    finally:
        after = {path: _node_state(path) for path in DEVICES}
        for path in DEVICES:
            _restore(path, before[path], after[path])
    changed = {path: (before[path], after[path]) for path in DEVICES if after[path] != before[path]}
    assert not changed, f"host device nodes changed (before, after): {changed}"


def masked_paths_here(config: dict) -> tuple[list[str], list[str]]:
    """(files, directories) among the config's masked paths that this kernel has."""
    paths = [p for p in config["linux"]["maskedPaths"] if os.path.exists(p)]
    return [p for p in paths if not os.path.isdir(p)], [p for p in paths if os.path.isdir(p)]


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns-0-to-0"])
def test_metadata_changes_through_masks_and_device_binds_fail_and_leave_the_host_alone(
    runtime, make_bundle, cid, attacker, host_devices_untouched, userns
):
    bundle = make_bundle()
    files, dirs = masked_paths_here(bundle.config)
    assert files and dirs, f"this kernel has no masked file or no masked directory: {files} {dirs}"
    targets = files + dirs + (DEVICES if userns else [])  # outside one, the devices are the container's
    bundle.config["process"]["args"] = [plant(bundle.rootfs, attacker), "meta", *targets]
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = sorted(set(caps.get(kind, [])) | set(CAPS))
    if userns:
        # The worst mapping: the container's root is the host's, owner of the host's /dev/null.
        map_host_root(bundle.config)
    bundle.write()

    result = runtime("run", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)

    seen = {(o["path"], o["op"]): o["result"] for o in report(result.stdout) if o.kind == "META"}
    assert set(seen) == {(p, op) for p in targets for op in OPS}, result.stdout
    assert {key: r for key, r in seen.items() if r != "EROFS"} == {}, result.stdout
