"""Issue 13: pyrunc run by an ordinary user, with no privilege at all (a test user made for the
session), as runc allows: lifecycle, exec, kill, delete, maps of its own ids and of its
/etc/subuid ranges, mounts in a user namespace, cgroups only where delegated, and what such a
container must never reach.

Those marked `vm` also run on the cgroup v2-only guest (tests/vm/run-v2): the ones whose cgroup
side differs there (the cgroup mount, a delegated cgroupfs cgroup, no writable cgroup)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time

import pytest

from tests.support import reap_orphans

from .conftest import User


def _id() -> str:
    return f"rl-{secrets.token_hex(4)}"


def _state(user: User, cid: str) -> dict:
    return json.loads(user.pyrunc("state", cid, check=True).stdout)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_spec_rootless_is_runcs(user: User) -> None:
    """`spec --rootless` makes runc's changes: a user namespace mapping the caller to root, no
    network namespace, /sys bound from the host, no uid=/gid= options, no resources."""
    bundle = os.path.join(user.home, f"spec-{secrets.token_hex(3)}")
    os.mkdir(bundle)
    user.chown(bundle)
    try:
        user.pyrunc("spec", "--rootless", "--bundle", bundle, check=True)
        with open(os.path.join(bundle, "config.json")) as f:
            config = json.load(f)
    finally:
        subprocess.run(["rm", "-rf", bundle], check=True)
    linux = config["linux"]
    kinds = [ns["type"] for ns in linux["namespaces"]]
    assert "user" in kinds and "network" not in kinds
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": user.uid, "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": user.gid, "size": 1}]
    assert "resources" not in linux
    sys_mount = next(m for m in config["mounts"] if m["destination"] == "/sys")
    assert sys_mount["source"] == "/sys" and "rbind" in sys_mount["options"]
    options = [o for m in config["mounts"] for o in m.get("options") or []]
    assert not [o for o in options if o.startswith(("uid=", "gid="))]


def test_lifecycle_as_an_ordinary_user(user: User, rootless_bundle) -> None:
    bundle = rootless_bundle(["sleep", "1000"])
    cid = _id()
    user.pyrunc("create", "--bundle", bundle, cid, check=True)
    # The default root of an ordinary user: $XDG_RUNTIME_DIR/pyrunc, its own alone.
    assert os.path.isdir(os.path.join(user.state_root, cid))
    assert os.stat(user.state_root).st_mode & 0o777 == 0o700
    state = _state(user, cid)
    assert state["status"] == "created"
    listed = json.loads(user.pyrunc("list", "--format", "json", check=True).stdout)
    assert [(c["id"], c["owner"]) for c in listed] == [(cid, user.name)]
    pid = state["pid"]
    with open(f"/proc/{pid}/uid_map") as f:
        assert f.read().split() == ["0", str(user.uid), "1"]
    with open(f"/proc/{pid}/setgroups") as f:
        assert f.read().strip() == "deny"
    assert os.stat(f"/proc/{pid}").st_uid == user.uid

    user.pyrunc("start", cid, check=True)
    assert _state(user, cid)["status"] == "running"
    assert cid in user.pyrunc("list", "-q", check=True).stdout.split()
    out = user.pyrunc("exec", cid, "id", "-u", check=True).stdout
    assert out.strip() == "0"
    assert user.pyrunc("ps", "--format", "json", cid, check=True).stdout.strip() == f"[{pid}]"
    # Without a cgroup, ps lists the processes of the container's pid namespace.
    user.pyrunc("exec", "--detach", cid, "sleep", "999", check=True)
    pids = json.loads(user.pyrunc("ps", "--format", "json", cid, check=True).stdout)
    assert len(pids) == 2 and pid in pids, pids

    user.pyrunc("kill", cid, "KILL", check=True)
    for _ in range(100):
        # The detached exec's process is our orphan: until reaped, the init cannot finish exiting.
        reap_orphans()
        if _state(user, cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    assert _state(user, cid)["status"] == "stopped"
    user.pyrunc("delete", cid, check=True)
    assert not os.path.exists(os.path.join(user.state_root, cid))


def test_run_in_the_foreground_returns_the_exit_status(user: User, rootless_bundle) -> None:
    bundle = rootless_bundle(["sh", "-c", "echo out; exit 7"])
    result = user.pyrunc("run", "--bundle", bundle, _id())
    assert result.returncode == 7, result.stderr
    assert result.stdout == "out\n"


def test_several_ranges_go_through_newuidmap(user: User, rootless_bundle) -> None:
    """Root is the user, 1..65536 its /etc/subuid range: newuidmap/newgidmap write them."""
    sub = user.subid_start

    def edit(config):
        for kind in ("uid", "gid"):
            own = user.uid if kind == "uid" else user.gid
            config["linux"][f"{kind}Mappings"] = [
                {"containerID": 0, "hostID": own, "size": 1},
                {"containerID": 1, "hostID": sub, "size": 65536},
            ]
        for kind in ("bounding", "effective", "permitted"):
            config["process"]["capabilities"][kind].append("CAP_CHOWN")

    bundle = rootless_bundle(["sleep", "1000"], edit)
    cid = _id()
    user.pyrunc("run", "-d", "--bundle", bundle, cid, check=True)
    pid = _state(user, cid)["pid"]
    with open(f"/proc/{pid}/uid_map") as f:
        assert [line.split() for line in f] == [["0", str(user.uid), "1"], ["1", str(sub), "65536"]]
    # A file chowned to container uid 1000 belongs on the host to the subuid range's 1000th id.
    user.pyrunc("exec", cid, "sh", "-c", "touch /owned && chown 1000:1000 /owned", check=True)
    st = os.stat(os.path.join(bundle, "rootfs", "owned"))
    assert (st.st_uid, st.st_gid) == (sub + 999, sub + 999)
    # Setgroups stays allowed: newgidmap writes the gid map as a privileged helper.
    out = user.pyrunc("exec", "--user", "1000:1000", "--additional-gids", "2000", cid, "id", "-G")
    assert out.returncode == 0 and out.stdout.split() == ["1000", "2000"], out.stderr
    user.pyrunc("delete", "--force", cid, check=True)

    # An init running as a subordinate id (it cannot enter the user's 0700 state root) starts.
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["process"]["user"] = {"uid": 1000, "gid": 1000}
    config["process"]["args"] = ["id", "-u"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    result = user.pyrunc("run", "--bundle", bundle, _id())
    assert (result.returncode, result.stdout) == (0, "1000\n"), result.stderr


@pytest.mark.parametrize("kind", ["uid", "gid"])
def test_ids_the_user_does_not_own_cannot_be_mapped(user: User, rootless_bundle, kind: str) -> None:
    """Host root, or a range outside the user's /etc/sub*id, is refused, naming the field, and
    nothing is left."""

    def edit(config):
        config["linux"][f"{kind}Mappings"] = [
            {"containerID": 0, "hostID": 0, "size": 1},
            {"containerID": 1, "hostID": user.subid_start, "size": 10},
        ]

    bundle = rootless_bundle(["true"], edit)
    cid = _id()
    result = user.pyrunc("run", "--bundle", bundle, cid)
    assert result.returncode == 1
    line = _one_error_line(result)
    assert f"linux.{kind}Mappings" in line and f"new{kind}map" in line, line
    assert not os.path.exists(os.path.join(user.state_root, cid))


def test_a_single_foreign_id_is_refused(user: User, rootless_bundle) -> None:
    def edit(config):
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]

    result = user.pyrunc("run", "--bundle", rootless_bundle(["true"], edit), _id())
    assert result.returncode == 1
    assert "linux.uidMappings" in _one_error_line(result)


def test_host_files_the_user_cannot_write_stay_untouched(user: User, rootless_bundle) -> None:
    """Container root is the user: a host file only root may write, bound read-write into the
    container, cannot be written, removed or chmodded from inside."""
    target_dir = os.path.join(user.home, f"hostdir-{secrets.token_hex(3)}")
    os.mkdir(target_dir, 0o755)  # owned by root
    victim = os.path.join(target_dir, "victim")
    with open(victim, "w") as f:
        f.write("original\n")
    os.chmod(victim, 0o644)

    def edit(config):
        config["mounts"].append(
            {"destination": "/host", "type": "bind", "source": target_dir, "options": ["rbind", "rw"]}
        )

    script = (
        "echo evil > /host/victim; echo evil > /host/new; rm -f /host/victim; "
        "chmod 777 /host/victim; chown 0 /host/victim; echo done"
    )
    try:
        result = user.pyrunc("run", "--bundle", rootless_bundle(["sh", "-c", script], edit), _id())
        assert result.stdout == "done\n", result.stderr
        with open(victim) as f:
            assert f.read() == "original\n"
        assert os.stat(victim).st_mode & 0o777 == 0o644 and os.stat(victim).st_uid == 0
        assert os.listdir(target_dir) == ["victim"]
    finally:
        subprocess.run(["rm", "-rf", target_dir], check=True)


def test_other_users_containers_are_out_of_reach(user: User, rootless_bundle) -> None:
    """The user's state root is 0700: another ordinary user (nobody) can neither list, read nor
    signal its containers, even when pointing --root at it."""
    bundle = rootless_bundle(["sleep", "1000"])
    cid = _id()
    user.pyrunc("run", "-d", "--bundle", bundle, cid, check=True)
    pid = _state(user, cid)["pid"]
    nobody = User("nobody", 65534, 65534, "/", 0, "/nonexistent")
    for args in (["state", cid], ["kill", cid, "KILL"], ["delete", "--force", cid], ["exec", cid, "true"]):
        result = subprocess.run(
            [user.binary, "--root", user.state_root, *args],
            user=65534,
            group=65534,
            extra_groups=[],
            env=nobody.env(),
            cwd="/",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode != 0, args
        assert "permission denied" in result.stderr, (args, result.stderr)
    assert _state(user, cid)["status"] == "running"
    assert os.path.exists(f"/proc/{pid}")
    user.pyrunc("delete", "--force", cid, check=True)


def test_a_root_container_is_out_of_the_users_reach(user: User, make_bundle, cid) -> None:
    """A container of root's, in a state root the user can read: the user gets no further than
    its own rights (it cannot signal, join or delete it)."""
    import tempfile

    from tests.support import PYRUNC, Runtime

    runtime = Runtime(PYRUNC, tempfile.mkdtemp(prefix="pyrunc-rootless-", dir="/tmp"))
    os.chmod(runtime.root, 0o755)
    bundle = make_bundle(["sleep", "1000"])
    subprocess.run(runtime.cmd("run", "-d", "--bundle", bundle.path, cid), check=True)
    try:
        for args in (["kill", cid, "KILL"], ["exec", cid, "true"], ["delete", "--force", cid]):
            result = user.run([user.binary, "--root", runtime.root, *args])
            assert result.returncode != 0, args
        state = json.loads(subprocess.run(runtime.cmd("state", cid), capture_output=True, check=True).stdout)
        assert state["status"] == "running"
    finally:
        subprocess.run(runtime.cmd("delete", "--force", cid), check=True)
        os.rmdir(runtime.root)


@pytest.mark.vm
def test_limits_without_a_delegated_cgroup_are_refused_naming_the_field(user: User, rootless_bundle) -> None:
    def edit(config):
        config["linux"]["resources"] = {"pids": {"limit": 100}}

    cid = _id()
    result = user.pyrunc("run", "--bundle", rootless_bundle(["true"], edit), cid)
    assert result.returncode == 1
    line = _one_error_line(result)
    assert "linux.resources.pids" in line and "cgroup" in line, line
    assert not os.path.exists(os.path.join(user.state_root, cid))


def test_device_rules_alone_need_no_cgroup(user: User, rootless_bundle) -> None:
    """As runc: device cgroup rules are skipped in a user namespace (no node can be made)."""

    def edit(config):
        config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}

    result = user.pyrunc("run", "--bundle", rootless_bundle(["true"], edit), _id())
    assert result.returncode == 0, result.stderr


def test_pause_without_a_cgroup_says_why(user: User, rootless_bundle) -> None:
    cid = _id()
    user.pyrunc("run", "-d", "--bundle", rootless_bundle(["sleep", "1000"]), cid, check=True)
    result = user.pyrunc("pause", cid)
    assert result.returncode == 1
    assert "cgroup" in _one_error_line(result)
    assert _state(user, cid)["status"] == "running"
    user.pyrunc("delete", "--force", cid, check=True)


def test_devices_are_the_hosts_nodes_bound(user: User, rootless_bundle) -> None:
    script = "echo x > /dev/null && head -c 4 /dev/zero | wc -c && grep ' /dev/null ' /proc/self/mountinfo"
    result = user.pyrunc("run", "--bundle", rootless_bundle(["sh", "-c", script]), _id())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "4"
    assert " /null /dev/null " in lines[1]  # a bind of the host's node, not a node of its own


@pytest.fixture
def locked_mount(user: User):
    """A tmpfs mounted by root read-only, nosuid and noatime in the user's home: binding it into
    a user namespace locks those flags."""
    path = os.path.join(user.home, f"locked-{secrets.token_hex(3)}")
    os.mkdir(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,nosuid,noatime,size=1m", "tmpfs", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", path], check=True)
        os.rmdir(path)


def test_locked_mount_flags_are_kept_when_remounting(user: User, rootless_bundle, locked_mount) -> None:
    """Asked for nodev only, the bind keeps the source's ro, nosuid and noatime (the kernel
    refuses a remount that would clear them): the container starts, with all four."""

    def edit(config):
        config["mounts"].append(
            {"destination": "/locked", "type": "bind", "source": locked_mount, "options": ["bind", "nodev"]}
        )

    result = user.pyrunc(
        "run", "--bundle", rootless_bundle(["grep", " /locked ", "/proc/self/mountinfo"], edit), _id()
    )
    assert result.returncode == 0, result.stderr
    flags = result.stdout.split()[5].split(",")
    assert {"ro", "nosuid", "nodev", "noatime"} <= set(flags), result.stdout


def test_sysfs_is_bound_without_a_network_namespace(user: User, rootless_bundle) -> None:
    """A config asking for sysfs (not runc's rootless bind): without a network namespace of its
    own the kernel refuses that mount in a user namespace, so the host's /sys is bound."""

    def edit(config):
        for m in config["mounts"]:
            if m["destination"] == "/sys":
                m.update(type="sysfs", source="sysfs", options=["nosuid", "noexec", "nodev", "ro"])

    script = "grep ' /sys ' /proc/self/mountinfo; ls /sys/kernel >/dev/null && echo ok"
    result = user.pyrunc("run", "--bundle", rootless_bundle(["sh", "-c", script], edit), _id())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "ok"
    assert " - sysfs " in result.stdout and result.stdout.split()[5].startswith("ro")


def test_a_refused_mount_is_one_line_naming_it(user: User, rootless_bundle) -> None:
    """proc needs a pid namespace owned by the container's user namespace: without one the
    kernel refuses it, and the error names the mount."""

    def edit(config):
        config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]

    cid = _id()
    result = user.pyrunc("run", "--bundle", rootless_bundle(["true"], edit), cid)
    assert result.returncode == 1
    line = _one_error_line(result)
    assert "/proc" in line and "operation not permitted" in line, line
    assert not os.path.exists(os.path.join(user.state_root, cid))


@pytest.mark.vm
def test_root_in_another_users_namespace_is_detected(user: User, rootless_bundle) -> None:
    """Root of a user namespace the user made (as podman does): euid 0, yet rootless. The state
    goes under $XDG_RUNTIME_DIR (USER is not root), no cgroup is tried, and the container's own
    namespace maps container root onto that root (privileged over it: no helper)."""
    bundle = rootless_bundle(["sh", "-c", "cat /proc/self/uid_map"])
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    for kind in ("uid", "gid"):
        config["linux"][f"{kind}Mappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    cid = _id()
    result = user.run(
        ["unshare", "--user", "--map-root-user", user.binary, "--debug", "run", "--bundle", bundle, cid]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "0", "1"]
    assert "no writable cgroup" in result.stderr
    assert not [name for name in os.listdir(user.state_root) if not name.startswith("#")]


def _hierarchies() -> list[str]:
    """Every cgroup hierarchy's mount point (v1 controllers, and cgroup2)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2") and fields[4].startswith("/sys/fs/cgroup"):
                out.append(fields[4])
    return out


def _enable_root_controllers(mount: str) -> list[str]:
    """A cgroup2 root's controllers enabled for its children, as systemd does at boot (a v2 host
    without systemd, e.g. the v2 guest, may have none): those this enabled, to undo after."""
    with open(os.path.join(mount, "cgroup.controllers")) as f:
        available = f.read().split()
    with open(os.path.join(mount, "cgroup.subtree_control")) as f:
        enabled = set(f.read().split())
    added = []
    for controller in available:
        if controller not in enabled:
            with open(os.path.join(mount, "cgroup.subtree_control"), "w") as f:
                f.write(f"+{controller}")
            added.append(controller)
    return added


@pytest.fixture
def delegated_cgroup(user: User):
    """What a privileged manager (systemd's Delegate=yes) gives a user: a cgroup of its own in
    every hierarchy, which its commands start in (on cgroup2, in a leaf of it, `runner`: a cgroup
    with processes cannot enable controllers for its children). Returns (cgroupsPath parent,
    runner)."""
    name = f"pyrunc-rootless-{secrets.token_hex(3)}"
    made = []
    places = []
    root_controllers: list[tuple[str, list[str]]] = []
    try:
        for mount in _hierarchies():
            path = os.path.join(mount, name)
            v2 = os.path.exists(os.path.join(mount, "cgroup.subtree_control"))
            if mount == "/sys/fs/cgroup" and v2:  # not a hybrid host's: its controllers are v1's
                root_controllers.append((mount, _enable_root_controllers(mount)))
            os.mkdir(path)
            made.append(path)
            places.append(os.path.join(path, "runner") if v2 else path)
            if v2:
                os.mkdir(places[-1])
            for knob in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset starts empty
                if not v2 and os.path.exists(os.path.join(path, knob)):
                    with open(os.path.join(mount, knob)) as src, open(os.path.join(path, knob), "w") as dst:
                        dst.write(src.read())
            subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", path], check=True)

        def run_placed(*args: str) -> subprocess.CompletedProcess:
            """pyrunc as the user, started inside the delegated cgroup (placed there by root)."""
            place = " ".join(f"echo $$ > {path}/cgroup.procs;" for path in places)
            script = f'{place} exec setpriv --reuid={user.uid} --regid={user.gid} --clear-groups "$@"'
            return user_as_root_run(["sh", "-c", script, "sh", user.binary, *args], user)

        yield f"/{name}", run_placed
    finally:
        for path in made:
            for child in sorted(os.listdir(path)):
                if os.path.isdir(os.path.join(path, child)):
                    os.rmdir(os.path.join(path, child))
            os.rmdir(path)
        for mount, added in root_controllers:
            for controller in reversed(added):
                try:  # best effort: another cgroup may use it by now
                    with open(os.path.join(mount, "cgroup.subtree_control"), "w") as f:
                        f.write(f"-{controller}")
                except OSError:
                    pass


def _pids_max(relative: str) -> str:
    """The container's pids.max, in the v1 pids hierarchy or in cgroup2."""
    for mount in _hierarchies():
        path = os.path.join(mount, relative, "pids.max")
        if os.path.exists(path):
            return path
    raise AssertionError(f"no pids.max for {relative} in {_hierarchies()}")


def user_as_root_run(argv: list[str], user: User) -> subprocess.CompletedProcess:
    """Run argv as root with the user's environment (it drops to the user itself)."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = subprocess.run(
            argv, env=user.env(), cwd=user.home, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, done.returncode, out.read().decode(), err.read().decode())


@pytest.mark.vm
def test_a_delegated_cgroup_gives_limits_pause_resume_ps_and_update(
    user: User, rootless_bundle, delegated_cgroup
) -> None:
    parent, run = delegated_cgroup

    def edit(config):
        config["linux"]["cgroupsPath"] = f"{parent}/c1"
        config["linux"]["resources"] = {"pids": {"limit": 50}, "devices": [{"allow": False, "access": "rwm"}]}

    bundle = rootless_bundle(["sleep", "1000"], edit)
    cid = _id()
    result = run("run", "-d", "--bundle", bundle, cid)
    assert result.returncode == 0, result.stderr
    pids_max = _pids_max(parent.strip("/") + "/c1")
    with open(pids_max) as f:
        assert f.read().strip() == "50"
    assert run("exec", "--detach", cid, "sleep", "999").returncode == 0
    assert len(json.loads(run("ps", "--format", "json", cid).stdout)) == 2
    assert run("pause", cid).returncode == 0
    assert _state(user, cid)["status"] == "paused"
    assert run("resume", cid).returncode == 0
    assert _state(user, cid)["status"] == "running"
    assert run("update", "--pids-limit", "60", cid).returncode == 0
    with open(pids_max) as f:
        assert f.read().strip() == "60"
    assert run("kill", "--all", cid, "KILL").returncode == 0
    for _ in range(100):
        reap_orphans()
        if _state(user, cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    deleted = run("delete", "--force", cid)
    assert deleted.returncode == 0, deleted.stderr
    assert not os.path.exists(os.path.dirname(pids_max))


@pytest.mark.parametrize("mount", ["bind", "sysfs"])
def test_sys_bound_only_onto_a_real_directory(user: User, rootless_bundle, mount: str) -> None:
    """The host's /sys bound on /sys (runc's rootless spec, or sysfs turned into a bind) goes onto a
    real directory only, never through a symlink (CVE-2019-19921, CVE-2023-27561)."""

    def edit(config):
        for m in config["mounts"]:
            if m["destination"] == "/sys" and mount == "sysfs":
                m.update(type="sysfs", source="sysfs", options=["nosuid", "noexec", "nodev", "ro"])

    bundle = rootless_bundle(["true"], edit)
    sys_dir = os.path.join(bundle, "rootfs", "sys")
    os.rmdir(sys_dir)
    os.symlink("../../../../../tmp", sys_dir)
    cid = _id()
    result = user.pyrunc("run", "--bundle", bundle, cid)
    assert result.returncode == 1
    assert "/sys" in _one_error_line(result)
    assert not os.path.exists(os.path.join(user.state_root, cid))


def _cgroup2_mount_inside() -> str:
    """Where the container's cgroup2 is: /sys/fs/cgroup on a v2 host, its `unified` on a hybrid
    one (the host's own layout, which the cgroup mount repeats)."""
    return "/sys/fs/cgroup" if "/sys/fs/cgroup" in _cgroup2_points() else "/sys/fs/cgroup/unified"


def _cgroup2_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if " - cgroup2 " in line]


@pytest.mark.vm
def test_the_cgroup_mount_is_the_containers_own_cgroup(user: User, rootless_bundle, delegated_cgroup) -> None:
    """runc's whole `spec --rootless` config, its /sys/fs/cgroup mount included. On a cgroup v2
    host the kernel refuses a fresh cgroup2 there (EBUSY: the host's is already mounted on that
    spot, under the /sys bound from the host), and the container's own cgroup is bound instead, as
    runc does; on a hybrid host the fresh cgroup2 goes on the cgroup tmpfs. Either way it is a
    cgroup2 whose root is the container's cgroup: its cgroup.procs lists the container's init
    (pid 1 there, read by the shell's builtins: no other process) and nothing else."""
    parent, run = delegated_cgroup
    inside = _cgroup2_mount_inside()

    def edit(config):
        config["linux"]["cgroupsPath"] = f"{parent}/c1"

    procs = f"while read p; do echo pid $p; done < {inside}/cgroup.procs"
    script = f"grep ' {inside} ' /proc/self/mountinfo; {procs}"
    bundle = rootless_bundle(["sh", "-c", script], edit)
    result = run("run", "--bundle", bundle, _id())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The last mount on that spot is the one seen (the /sys bound from the host brings the host's
    # hierarchies in beneath it).
    mount = [line for line in lines if not line.startswith("pid ")][-1].split()
    assert mount[3] == "/" and mount[mount.index("-") + 1] == "cgroup2", result.stdout
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(mount[5].split(",")), result.stdout
    assert [line for line in lines if line.startswith("pid ")] == ["pid 1"], result.stdout
