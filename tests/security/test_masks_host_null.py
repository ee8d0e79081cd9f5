"""The masks' /dev/null is the host's (CVE-2025-31133's defence): a masked file such as /proc/keys is
covered with a bind of the host's own null device, so whatever changes the metadata of a masked path
changes the host's /dev/null. With a read-write bind, `chmod 600 /proc/keys` in a default container
made the host's /dev/null unusable to every unprivileged program, and with CAP_CHOWN (Docker grants
it) `chown` gave it away. The binds are read-only now, so chmod, chown, utimes and setxattr through
every masked path fail with EROFS (the kernel checks the mount's flags first); directory masks are
read-only tmpfs and refuse the same way.

The attacker's `meta` tries each change on every masked path of the default config; the host's
/dev/null (mode, owner, times, the test's xattr) is saved before and put back after whatever
happens, and must not have changed.
"""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from tests.security.helpers import plant, report

NULL = "/dev/null"
XATTR = "security.pyrunc-test"  # what the attacker's `meta` sets
# Docker's defaults among them: what chown, chmod and utimes of a file one does not own need.
CAPS = ["CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"]
OPS = {"chmod", "chown", "utimes", "setxattr"}


def _null_state() -> tuple[int, int, int, int, int, bytes | None]:
    st = os.lstat(NULL)
    try:
        xattr = os.getxattr(NULL, XATTR, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
            raise
        xattr = None
    return st.st_mode, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns, xattr


@pytest.fixture
def host_null_untouched():
    """Fails the test if the host's /dev/null changed, after putting it back as it was."""
    mode, uid, gid, atime, mtime, xattr = before = _null_state()
    assert xattr is None, f"{NULL} already carries {XATTR}"
    try:
        yield
    finally:
        after = _null_state()
        os.chown(NULL, uid, gid, follow_symlinks=False)
        os.chmod(NULL, mode & 0o7777)
        os.utime(NULL, ns=(atime, mtime), follow_symlinks=False)
        if after[5] is not None:
            os.removexattr(NULL, XATTR, follow_symlinks=False)
    assert after == before, f"the host's {NULL} changed: {before} -> {after}"


def masked_paths_here(config: dict) -> tuple[list[str], list[str]]:
    """(files, directories) among the config's masked paths that this kernel has."""
    paths = [p for p in config["linux"]["maskedPaths"] if os.path.exists(p)]
    return [p for p in paths if not os.path.isdir(p)], [p for p in paths if os.path.isdir(p)]


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns-0-to-0"])
def test_metadata_changes_through_masked_paths_fail_and_leave_the_host_null_alone(
    runtime, make_bundle, cid, attacker, host_null_untouched, userns
):
    bundle = make_bundle()
    files, dirs = masked_paths_here(bundle.config)
    assert files and dirs, f"this kernel has no masked file or no masked directory: {files} {dirs}"
    bundle.config["process"]["args"] = [plant(bundle.rootfs, attacker), "meta", *files, *dirs]
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = sorted(set(caps.get(kind, [])) | set(CAPS))
    if userns:
        # The worst mapping: the container's root is the host's, owner of the host's /dev/null.
        linux = bundle.config["linux"]
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    bundle.write()

    result = runtime("run", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)

    seen = {(o["path"], o["op"]): o["result"] for o in report(result.stdout) if o.kind == "META"}
    assert set(seen) == {(p, op) for p in files + dirs for op in OPS}, result.stdout
    assert {key: r for key, r in seen.items() if r != "EROFS"} == {}, result.stdout
