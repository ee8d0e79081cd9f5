"""A config without a mount namespace (runtime-spec: an unlisted namespace is the runtime's): the
container runs in the runtime's mount namespace, chrooted into its rootfs, as with runc and crun;
whatever would change the host's mounts is refused with a line naming why."""

from __future__ import annotations

import os
import subprocess

import pytest


def ns_link(pid: int | str, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def host_mounts(path: str) -> list[str]:
    """The runtime's mounts that a container at `path` could change: those on the way to it
    (their propagation included) and those under it. Not the whole table: other tests on this
    machine mount and unmount elsewhere meanwhile."""
    ancestors = {"/"} | {path[:i] for i in range(1, len(path) + 1) if path[i : i + 1] in ("/", "")}
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            if point in ancestors or point.startswith(path.rstrip("/") + "/"):
                out.append(" ".join(fields[4:]))
    return sorted(out)


def no_mount_bundle(make_bundle, args, namespaces=("pid", "ipc", "uts")):
    bundle = make_bundle(args=args)
    config = bundle.config
    config["linux"]["namespaces"] = [{"type": kind} for kind in namespaces]
    for key in ("maskedPaths", "readonlyPaths", "devices", "rootfsPropagation"):
        config["linux"].pop(key, None)
    config["mounts"] = []
    config["root"]["readonly"] = False
    if "uts" not in namespaces:
        config.pop("hostname", None)
    return bundle.write()


def test_runs_in_the_runtimes_mount_namespace_with_the_rootfs_as_root(runtime, make_bundle, cid):
    bundle = no_mount_bundle(make_bundle, ["sleep", "infinity"])
    marker = os.path.join(bundle.rootfs, "only-in-this-rootfs")
    with open(marker, "w") as f:
        f.write("yes")
    before = host_mounts(bundle.path)
    runtime("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    assert ns_link(pid, "mnt") == ns_link("self", "mnt"), "the runtime's mount namespace"
    assert ns_link(pid, "pid") != ns_link("self", "pid"), "the listed pid namespace is still new"
    assert os.path.realpath(f"/proc/{pid}/root") == bundle.rootfs
    assert host_mounts(bundle.path) == before, "creating it changed the host's mounts"
    runtime("start", cid)
    out = runtime("exec", cid, "cat", "/only-in-this-rootfs").stdout
    assert out == "yes"
    runtime("delete", "--force", cid)
    assert host_mounts(bundle.path) == before


def test_no_pivot_moves_nothing(runtime, make_bundle, cid):
    """--no-pivot moves the rootfs onto / with MS_MOVE: in the runtime's mount namespace that would
    be the host's /. Without a mount namespace there is nothing to move: the same chroot."""
    bundle = no_mount_bundle(make_bundle, ["sleep", "infinity"])
    before = host_mounts(bundle.path)
    runtime("create", "--no-pivot", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    assert os.path.realpath(f"/proc/{pid}/root") == bundle.rootfs
    assert host_mounts(bundle.path) == before
    runtime("delete", "--force", cid)


def test_exec_gets_the_containers_root(runtime, make_bundle, cid):
    """exec joins no mount namespace here: it must still land in the rootfs, not on the host's /."""
    bundle = no_mount_bundle(make_bundle, ["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    result = runtime("exec", cid, "sh", "-c", "ls /; readlink /proc/self/root || true")
    assert "bin" in result.stdout.split()
    assert "etc" in result.stdout.split()
    # The host has /boot or /usr/lib; busybox's rootfs has no /usr/lib.
    assert runtime("exec", cid, "test", "-e", "/usr/lib/os-release", check=False).returncode != 0


def test_no_namespaces_at_all(runtime, make_bundle, cid):
    bundle = no_mount_bundle(make_bundle, ["sh", "-c", "echo $$ > /pid.txt; cat /etc/passwd | head -1"], ())
    result = runtime("run", "--bundle", bundle.path, cid)
    assert result.stdout.startswith("root:")
    with open(os.path.join(bundle.rootfs, "pid.txt")) as f:
        assert int(f.read()) > 1, "no pid namespace: a host pid"


PROC = {"destination": "/proc", "type": "proc", "source": "proc"}
FUSE = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}


@pytest.mark.parametrize(
    "where, key, value, field, why",
    [
        ((), "mounts", [PROC], "mounts", "mounted on the host"),
        (("linux",), "maskedPaths", ["/proc/kcore"], "linux.maskedPaths", "host's mounts"),
        (("linux",), "readonlyPaths", ["/proc/sys"], "linux.readonlyPaths", "host's mounts"),
        (("root",), "readonly", True, "root.readonly", "remounted read-only"),
        (("linux",), "rootfsPropagation", "private", "linux.rootfsPropagation", "propagation"),
        (("linux",), "devices", [FUSE], "linux.devices", "device nodes"),
    ],
)
def test_what_would_change_the_host_is_refused(runtime, make_bundle, cid, where, key, value, field, why):
    bundle = no_mount_bundle(make_bundle, ["true"])
    parent = bundle.config
    for name in where:
        parent = parent[name]
    parent[key] = value
    bundle.write()
    before = host_mounts(bundle.path)
    result = runtime("create", "--bundle", bundle.path, cid, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert field in lines[0] and "needs a mount namespace" in lines[0] and why in lines[0], lines[0]
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert host_mounts(bundle.path) == before


def test_terminal_without_mount_namespace_binds_no_console(runtime, make_bundle, cid, tmp_path):
    """process.terminal: the pty comes from the container's /dev/ptmx, which only a devpts mount
    provides, and mounts are refused here: the failure names it, and no /dev/console bind (which
    would be the host's) was made on the way."""
    bundle = no_mount_bundle(make_bundle, ["true"])
    bundle.config["process"]["terminal"] = True
    bundle.write()
    before = host_mounts(bundle.path)
    result = subprocess.run(
        runtime.cmd("run", "--bundle", bundle.path, cid),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert host_mounts(bundle.path) == before
    assert result.returncode == 1
    assert "process.terminal needs a devpts mount on /dev/pts" in result.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_user_namespace_without_mount_namespace(runtime, make_bundle, cid):
    if not os.path.exists("/proc/self/ns/user"):
        pytest.skip("no user namespaces")
    bundle = no_mount_bundle(make_bundle, ["sleep", "infinity"], ("user", "pid"))
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.write()
    runtime("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    assert ns_link(pid, "user") != ns_link("self", "user")
    assert ns_link(pid, "mnt") == ns_link("self", "mnt")
    assert os.path.realpath(f"/proc/{pid}/root") == bundle.rootfs
    assert runtime("exec", cid, "id", "-u").stdout.strip() == "0"
    runtime("delete", "--force", cid)
