"""Rootless --systemd-cgroup (issues 12 and 13), as runc does it: an unprivileged user's container
is a transient scope of the user's own systemd instance (user@UID.service), asked for over the
user's bus, with its limits in the controllers systemd delegated to that instance.

A test user is made for the module and its user@UID.service started, as logind does for a login or
a lingering user (logind is masked in the guest, to boot faster): with dbus-user-session, the
instance's bus is /run/user/UID/bus. It is stopped, and the user removed, at the end.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.rootless.conftest import (
    SUBID_COUNT,
    SUBID_FILES,
    User,
    _drop_subid_lines,
    _free_subid_start,
    _kill_user_processes,
    _user_processes,
)
from tests.support import REPO, reap_orphans

pytestmark = pytest.mark.systemd

MOUNT = "/sys/fs/cgroup"
START_TIMEOUT = 120  # user@UID.service under software emulation


def _wait_for(what: str, probe, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.2)


def _user_manager_up(uid: int) -> bool:
    active = subprocess.run(
        ["systemctl", "is-active", f"user@{uid}.service"], capture_output=True, text=True, timeout=30
    )
    return active.stdout.strip() == "active" and os.path.exists(f"/run/user/{uid}/bus")


@pytest.fixture(scope="module")
def sd_user(rootfs_template: str) -> Iterator[User]:
    """An ordinary user whose systemd instance and bus run, with a busybox rootfs."""
    name = f"prs{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    uid = entry.pw_uid
    try:
        # Ranges of its own for rootless podman's user namespace.
        _drop_subid_lines(name)
        start = _free_subid_start()
        for path in SUBID_FILES:
            with open(path, "a") as f:
                f.write(f"{name}:{start}:{SUBID_COUNT}\n")
        start_unit = ["systemctl", "start", f"user@{uid}.service"]
        subprocess.run(start_unit, check=True, capture_output=True, timeout=300)
        _wait_for(f"user@{uid}.service with its bus /run/user/{uid}/bus", lambda: _user_manager_up(uid))
        user = User(name, uid, entry.pw_gid, entry.pw_dir, start, f"/run/user/{uid}")
        # A copy of the session's rootfs (building one forks a process per applet: slow here).
        shutil.copytree(rootfs_template, os.path.join(entry.pw_dir, "rootfs-template"), symlinks=True)
        yield user
    finally:
        units = [f"user@{uid}.service", f"user-runtime-dir@{uid}.service", f"user-{uid}.slice"]
        subprocess.run(["systemctl", "stop", *units], capture_output=True, timeout=120)
        _kill_user_processes(uid)  # e.g. rootless podman's pause process, wherever it went
        reap_orphans()
        subprocess.run(["userdel", "--remove", "--force", name], capture_output=True)
        _drop_subid_lines(name)
    assert not os.path.exists(f"{MOUNT}/user.slice/user-{uid}.slice"), "the user's slice is gone"


@pytest.fixture
def user(sd_user: User) -> Iterator[User]:
    """The module's user; the test's containers are checked gone (force-deleted if not)."""
    yield sd_user
    root = sd_user.state_root
    left = [n for n in (os.listdir(root) if os.path.isdir(root) else []) if not n.startswith("#")]
    for name in left:
        sd_user.pyrunc("--systemd-cgroup", "delete", "--force", name)
    assert not left, f"containers left in {root}: {left}"
    slice_dir = f"{MOUNT}/user.slice/user-{sd_user.uid}.slice/user@{sd_user.uid}.service/user.slice"
    scopes = [n for n in (os.listdir(slice_dir) if os.path.isdir(slice_dir) else []) if n.startswith("runc-")]
    assert not scopes, f"scopes left under the user's manager: {scopes}"


def bundle(user: User, args: list[str], edit=None) -> str:
    """A rootless bundle (runc's spec --rootless, made as the user, all of it) in the user's
    home."""
    path = os.path.join(user.home, f"bundle-{secrets.token_hex(4)}")
    os.mkdir(path)
    shutil.copytree(os.path.join(user.home, "rootfs-template"), os.path.join(path, "rootfs"), symlinks=True)
    user.chown(path)
    user.pyrunc("spec", "--rootless", "--bundle", path, check=True)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["process"].update(terminal=False, args=args)
    if edit is not None:
        edit(config)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


def user_show(user: User, unit: str, *names: str) -> dict[str, str]:
    """`systemctl --user show` as the user: the unit as the user's manager knows it."""
    out = user.run(["systemctl", "--user", "show", unit, *(f"--property={n}" for n in names)], check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


LIMITS = {"memory": {"limit": 64 << 20}, "pids": {"limit": 32}, "cpu": {"quota": 50000, "period": 100000}}


def test_a_users_container_is_a_scope_of_its_own_systemd_instance(user: User) -> None:
    def edit(config):
        config["linux"]["resources"] = LIMITS

    cid = f"rls-{secrets.token_hex(4)}"
    path = bundle(user, ["sleep", "1000"], edit)
    user.pyrunc("--systemd-cgroup", "create", "--bundle", path, cid, check=True)
    unit = f"runc-{cid}.scope"
    manager = f"/user.slice/user-{user.uid}.slice/user@{user.uid}.service"
    scope = f"{manager}/user.slice/{unit}"  # runc's default slice when rootless: user.slice
    state = json.loads(user.pyrunc("state", cid, check=True).stdout)
    assert read(f"/proc/{state['pid']}/cgroup") == f"0::{scope}", "the init is in the scope before it runs"
    props = user_show(user, unit, "ActiveState", "Delegate", "ControlGroup", "MemoryMax", "TasksMax", "Slice")
    assert props == {
        "ActiveState": "active",
        "Delegate": "yes",
        "ControlGroup": scope,
        "MemoryMax": str(64 << 20),
        "TasksMax": "32",
        "Slice": "user.slice",
    }
    system = subprocess.run(
        ["systemctl", "show", unit, "--property=LoadState"], capture_output=True, text=True, timeout=30
    )
    assert system.stdout.strip() == "LoadState=not-found", "not a unit of the system's manager"
    # The limits are in the delegated controllers' files of the scope.
    assert read(f"{MOUNT}{scope}/memory.max") == str(64 << 20)
    assert read(f"{MOUNT}{scope}/pids.max") == "32"
    assert read(f"{MOUNT}{scope}/cpu.max") == "50000 100000"

    user.pyrunc("--systemd-cgroup", "start", cid, check=True)
    # exec joins the scope's cgroup: the container's cgroup namespace root.
    out = user.pyrunc("--systemd-cgroup", "exec", cid, "cat", "/proc/self/cgroup", check=True).stdout
    assert out.strip() == "0::/"
    # The spec's /sys/fs/cgroup mount: a fresh cgroup2 there is refused (EBUSY, the host's is
    # mounted on that spot under the /sys bound from the host), so the scope's directory is bound
    # instead (runc's fallback): the container sees its own cgroup, limits and processes.
    script = (
        f"grep ' {MOUNT} ' /proc/self/mountinfo | tail -n 1; cat {MOUNT}/memory.max {MOUNT}/pids.max;"
        f" while read p; do echo pid $p; done < {MOUNT}/cgroup.procs; echo self $$"
    )
    out = user.pyrunc("--systemd-cgroup", "exec", cid, "sh", "-c", script, check=True).stdout.splitlines()
    mount = out[0].split()
    assert mount[3] == "/" and mount[mount.index("-") + 1] == "cgroup2", out[0]
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(mount[5].split(",")), out[0]
    assert out[1:3] == [str(64 << 20), "32"]
    assert sorted(out[3:-1]) == sorted(["pid 1", f"pid {out[-1].split()[1]}"]), out
    pids = json.loads(user.pyrunc("--systemd-cgroup", "ps", "--format", "json", cid, check=True).stdout)
    assert pids == [state["pid"]]

    user.pyrunc("--systemd-cgroup", "kill", cid, "KILL", check=True)
    stopped = lambda: json.loads(user.pyrunc("state", cid).stdout)["status"] == "stopped"  # noqa: E731
    _wait_for("stopped container", stopped, 30)
    user.pyrunc("--systemd-cgroup", "delete", cid, check=True)
    assert user_show(user, unit, "LoadState")["LoadState"] == "not-found"
    assert not os.path.exists(f"{MOUNT}{scope}")


def test_run_in_a_slice_of_the_users_choosing_with_the_bus_address_given(user: User) -> None:
    """cgroupsPath "slice:prefix:name" names a slice of the user's manager; the bus is found from
    DBUS_SESSION_BUS_ADDRESS when set (else $XDG_RUNTIME_DIR/bus, as in the test above)."""
    name = f"rls{secrets.token_hex(4)}"
    cgroups_path = f"pyrunctest.slice:pr:{name}"

    def edit(config):
        config["linux"]["cgroupsPath"] = cgroups_path
        config["linux"]["resources"] = {"pids": {"limit": 20}}
        # No cgroup namespace: /proc/self/cgroup shows the full path.
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "cgroup"]

    script = "cat /proc/self/cgroup; exit 3"
    path = bundle(user, ["sh", "-c", script], edit)
    # No $XDG_RUNTIME_DIR to fall back on: the bus is the address's.
    address = f"unix:path=/run/user/{user.uid}/bus"
    env = user.env(DBUS_SESSION_BUS_ADDRESS=address, XDG_RUNTIME_DIR="/nonexistent")
    root = ["--root", os.path.join(user.home, "state")]
    result = user.run([user.binary, *root, "--systemd-cgroup", "run", "--bundle", path, name], env=env)
    assert result.returncode == 3, result.stderr
    manager = f"/user.slice/user-{user.uid}.slice/user@{user.uid}.service"
    assert result.stdout.strip() == f"0::{manager}/pyrunctest.slice/pr-{name}.scope"
    assert user_show(user, f"pr-{name}.scope", "LoadState")["LoadState"] == "not-found"
    user.run(["systemctl", "--user", "stop", "pyrunctest.slice"], check=True)


def test_features_report_the_user_driver(user: User) -> None:
    features = json.loads(user.pyrunc("features", check=True).stdout)
    assert features["linux"]["cgroup"]["systemdUser"] is True


def test_no_user_bus_is_one_line_and_leaves_nothing(user: User) -> None:
    cid = f"rls-{secrets.token_hex(4)}"
    path = bundle(user, ["true"])
    env = user.env(DBUS_SESSION_BUS_ADDRESS=f"unix:path={user.home}/no-bus")
    result = user.run([user.binary, "--systemd-cgroup", "run", "--bundle", path, cid], env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the user's bus" in lines[0] and "no-bus" in lines[0], result.stderr
    assert not os.path.exists(os.path.join(user.state_root, cid))
    assert not _user_processes_but_the_manager(user)


def _user_processes_but_the_manager(user: User) -> list[int]:
    manager = f"/user.slice/user-{user.uid}.slice/user@{user.uid}.service/"
    return [pid for pid in _user_processes(user.uid) if manager not in _cgroup(pid)]


def _cgroup(pid: int) -> str:
    try:
        return read(f"/proc/{pid}/cgroup")
    except OSError:
        return ""


# ---------------------------------------------------------------- rootless podman

PODMAN_IMAGE = "localhost/pyrunc-busybox:latest"


def test_rootless_podman_with_its_default_systemd_cgroup_manager(user: User) -> None:
    """Rootless podman runs pyrunc as root of the user's own user namespace, with cgroupsPath
    "user.slice:libpod:ID": the scope is the user manager's, reached over the user's bus."""
    tar = os.path.join(user.home, "busybox-image.tar")
    if not os.path.exists(tar):
        build = os.path.join(REPO, "oci-bundles", "build-image")
        subprocess.run([build, tar, PODMAN_IMAGE], check=True, capture_output=True)
        os.chmod(tar, 0o644)
    conf = os.path.join(user.home, "pyrunc-containers.conf")
    with open(conf, "w") as f:
        # No network (the guest has none); the guest's nofile hard limit is below podman's default.
        f.write('[containers]\nnetns = "none"\ndefault_ulimits = ["nofile=1024:1024"]\n')
    with open(conf + ".reg", "w") as f:
        f.write("unqualified-search-registries = []\n")
    env = user.env(
        CONTAINERS_CONF=conf,
        CONTAINERS_REGISTRIES_CONF=conf + ".reg",
        DBUS_SESSION_BUS_ADDRESS=f"unix:path={user.runtime_dir}/bus",
    )
    storage = ["--root", os.path.join(user.home, "podman-storage"), "--storage-driver", "vfs"]
    argv = ["podman", *storage, "--events-backend", "file", "--runtime", user.binary]

    def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return user.run([*argv, *args], env=env, check=check, timeout=300)

    try:
        assert podman("info", "--format", "{{.Host.CgroupManager}}").stdout.strip() == "systemd"
        podman("load", "-i", tar)
        full = podman("run", "-d", PODMAN_IMAGE, "sleep", "1000").stdout.strip()
        pid = int(podman("inspect", "--format", "{{.State.Pid}}", full).stdout)
        manager = f"/user.slice/user-{user.uid}.slice/user@{user.uid}.service"
        assert read(f"/proc/{pid}/cgroup") == f"0::{manager}/user.slice/libpod-{full}.scope"
        assert user_show(user, f"libpod-{full}.scope", "ActiveState")["ActiveState"] == "active"
        assert podman("exec", full, "echo", "hi").stdout.strip() == "hi"
        podman("rm", "-f", "-t", "0", full)
        assert user_show(user, f"libpod-{full}.scope", "LoadState")["LoadState"] == "not-found"
        assert not os.path.exists(f"{MOUNT}{manager}/user.slice/libpod-{full}.scope")
    finally:
        podman("rm", "--all", "--force", "--time", "0", check=False)
