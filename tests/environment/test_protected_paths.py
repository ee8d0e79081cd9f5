"""/proc and /sys safety, maskedPaths and readonlyPaths (issue 3, item 2).

A masked file is the host's /dev/null (checked to be the char device 1:3) bound over it; a masked
directory is an empty read-only tmpfs; a read-only path is a read-only rebind of itself. They are
applied after every mount of the config, and resolved inside the rootfs like everything else."""

from __future__ import annotations

import os
import stat
import uuid

import pytest

from .helpers import exec_inside, fails, long_running, mount_at, mountinfo, run_inside, running


@pytest.fixture
def secrets(make_bundle):
    """A long-running bundle whose rootfs holds a secret file and a secret directory."""
    bundle = long_running(make_bundle())
    os.makedirs(os.path.join(bundle.rootfs, "etc", "secretdir"))
    for path in ("etc/secret", "etc/secretdir/inner"):
        with open(os.path.join(bundle.rootfs, path), "w") as f:
            f.write("secret\n")
    return bundle


def test_masked_file_gets_the_hosts_dev_null_and_a_directory_an_empty_readonly_tmpfs(runtime, secrets, cid):
    linux = secrets.config["linux"]
    linux["maskedPaths"] += ["/etc/secret", "/etc/secretdir", "/no/such/path"]
    secrets.write()
    with running(runtime, secrets, cid) as pid:
        assert mount_at(pid, "/etc/secret").root.endswith("null"), "a bind of a null device"
        st = os.stat(f"/proc/{pid}/root/etc/secret")
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3), "the real /dev/null, 1:3"
        masked_dir = mount_at(pid, "/etc/secretdir")
        assert masked_dir.fstype == "tmpfs" and "ro" in masked_dir.options, masked_dir
        for path in ("/proc/keys", "/sys/firmware"):  # from the default list, present on this host
            assert mount_at(pid, path).fstype in ("devtmpfs", "tmpfs"), path
        script = (
            "wc -c < /etc/secret; ls -A /etc/secretdir | wc -l;"
            "touch /etc/secretdir/x 2>/dev/null && echo writable || echo refused"
        )
        out = exec_inside(runtime, cid, script).stdout.split()
    assert out == ["0", "0", "refused"]
    # A path that does not exist is skipped, and not created.
    assert not os.path.lexists(os.path.join(secrets.rootfs, "no"))


def test_readonly_paths_are_readonly_rebinds(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    bundle.config["root"]["readonly"] = False
    os.makedirs(os.path.join(bundle.rootfs, "data", "ro"))
    bundle.config["linux"]["readonlyPaths"] += ["/data/ro", "/no/such/path"]
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        ro = mount_at(pid, "/data/ro")
        assert "ro" in ro.options and ro.root.endswith("/data/ro"), ro
        assert "ro" in mount_at(pid, "/proc/sys").options
        script = (
            "touch /data/ro/x 2>&1; touch /data/x && echo rw-ok;"
            "{ echo x > /proc/sys/kernel/domainname; } 2>&1"
        )
        out = exec_inside(runtime, cid, script, check=False).stdout
    assert "Read-only file system" in out.splitlines()[0], out
    assert "rw-ok" in out
    assert out.count("Read-only file system") == 2, out
    assert not os.path.lexists(os.path.join(bundle.rootfs, "no"))


def test_masked_and_readonly_paths_apply_over_the_configs_mounts(runtime, make_bundle, cid, host_dir):
    """They come after every mount, so a path inside a bind mount is protected too."""
    src = host_dir("volume")
    os.makedirs(os.path.join(src, "locked"))
    with open(os.path.join(src, "token"), "w") as f:
        f.write("token\n")
    bundle = long_running(make_bundle())
    bundle.config["mounts"].append(
        {"type": "bind", "source": src, "destination": "/vol", "options": ["rbind"]}
    )
    bundle.config["linux"]["maskedPaths"].append("/vol/token")
    bundle.config["linux"]["readonlyPaths"].append("/vol/locked")
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        points = [m.point for m in mountinfo(pid)]
        assert points.index("/vol/token") > points.index("/vol")
        assert "ro" in mount_at(pid, "/vol/locked").options
        assert "ro" not in mount_at(pid, "/vol").options
        out = exec_inside(runtime, cid, "cat /vol/token; touch /vol/locked/x 2>/dev/null || echo refused")
    assert out.stdout.split() == ["refused"]
    assert not os.path.exists(os.path.join(src, "locked", "x"))


def test_masked_symlink_is_resolved_inside_the_rootfs(runtime, make_bundle, cid):
    """A masked path that is a symlink to an absolute host path masks that path inside the rootfs
    (or nothing), never the host's file."""
    name = f"pyrunc-mask-{uuid.uuid4().hex[:10]}"
    host_file = f"/tmp/{name}"
    with open(host_file, "w") as f:
        f.write("host\n")
    try:
        bundle = long_running(make_bundle())
        os.symlink(host_file, os.path.join(bundle.rootfs, "etc", "evil"))
        bundle.config["linux"]["maskedPaths"].append("/etc/evil")
        bundle.write()
        with running(runtime, bundle, cid) as pid:
            assert not any(m.point in ("/etc/evil", host_file) for m in mountinfo(pid))
        with open("/proc/self/mountinfo") as f:
            assert host_file not in f.read()
        with open(host_file) as f:
            assert f.read() == "host\n"
    finally:
        os.unlink(host_file)


@pytest.mark.parametrize(("fstype", "dest"), [("proc", "/proc"), ("sysfs", "/sys")])
def test_proc_and_sysfs_go_only_onto_real_directories(runtime, make_bundle, cid, fstype, dest):
    """A file where proc or sysfs should go is refused (CVE-2019-19921): masked paths would miss."""
    bundle = make_bundle()
    path = os.path.join(bundle.rootfs, dest.lstrip("/"))
    os.rmdir(path)
    with open(path, "w"):
        pass
    fails(runtime, "create", "--bundle", bundle.path, cid, message=(dest, "must be a real directory"))


PROC_MOUNT_CHECK = (
    "bug: nothing stops a mount over a path inside /proc (CVE-2019-16884: over /proc/self/attr it "
    "defeats the LSM; over /proc/sys/... it fakes kernel settings); runc's checkProcMount refuses "
    "every destination under /proc but the files lxcfs emulates, and anything but proc on /proc "
    "itself. The check belongs in mounts.build / the child's do_mount after resolving the target"
)


@pytest.fixture
def fake_file(host_dir):
    path = os.path.join(host_dir("fake"), "file")
    with open(path, "w") as f:
        f.write("fake\n")
    return path


@pytest.mark.parametrize("dest", ["/proc/self/attr/exec", "/proc/sys/kernel/core_pattern", "/proc/kmsg"])
def test_no_bind_over_a_path_inside_proc(runtime, make_bundle, cid, fake_file, dest):
    bundle = make_bundle()
    bundle.config["mounts"].append(
        {"type": "bind", "source": fake_file, "destination": dest, "options": ["bind"]}
    )
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message=("mounts[7]", "/proc"))


def test_nothing_but_proc_onto_proc(runtime, make_bundle, cid):
    bundle = make_bundle()
    bundle.config["mounts"].append({"type": "tmpfs", "source": "tmpfs", "destination": "/proc"})
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message=("mounts[7]", "/proc"))


@pytest.mark.parametrize("dest", ["/proc/cpuinfo", "/proc/meminfo", "/proc/uptime"])
def test_lxcfs_style_binds_over_proc_files_are_allowed(runtime, make_bundle, cid, fake_file, dest):
    bundle = make_bundle()
    bundle.config["mounts"].append(
        {"type": "bind", "source": fake_file, "destination": dest, "options": ["bind"]}
    )
    bundle.write()
    assert run_inside(runtime, bundle, cid, f"cat {dest}") == "fake\n"


def test_a_planted_dev_null_symlink_never_masks_with_a_proc_file(runtime, make_bundle, cid):
    """CVE-2025-31133: with the rootfs's own /dev, an image whose /dev/null is a symlink to a proc
    file must not get that file bound (writable) over the masked paths."""
    with open("/proc/sys/kernel/core_pattern") as f:
        core_pattern = f.read()
    bundle = long_running(make_bundle())
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]
    os.symlink("/proc/sys/kernel/core_pattern", os.path.join(bundle.rootfs, "dev", "null"))
    bundle.write()
    result = runtime("create", "--bundle", bundle.path, cid, check=False)
    try:
        if result.returncode == 0:
            pid = runtime.state(cid)["pid"]
            for path in ("/proc/keys", "/proc/timer_list"):
                st = os.stat(f"/proc/{pid}/root{path}")
                assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3), path
            proc_roots = [m for m in mountinfo(pid) if m.fstype == "proc" and m.point != "/proc"]
            assert not [m for m in proc_roots if "core_pattern" in m.root], proc_roots
        else:
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    finally:
        runtime("delete", "--force", cid, check=False)
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read() == core_pattern
