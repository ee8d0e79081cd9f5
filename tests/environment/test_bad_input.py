"""Bad input of issue 3: each refused with one clear line naming the field, exit status 1, nothing
left behind (no state directory here; the leak check fixture covers processes, mounts and
cgroups), and nothing done to the host."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.mountinfo import mounts

from .helpers import create_fails

CAPABILITY_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


@pytest.mark.parametrize("capability_set", CAPABILITY_SETS)
def test_unknown_capability(runtime, make_bundle, cid, capability_set):
    bundle = make_bundle()
    bundle.config["process"]["capabilities"][capability_set] = ["CAP_KILL", "CAP_NO_SUCH_THING"]
    bundle.write()
    create_fails(runtime, bundle, cid, f"process.capabilities.{capability_set}[1]", "CAP_NO_SUCH_THING")


def test_capability_without_the_cap_prefix_gets_a_hint(runtime, make_bundle, cid):
    bundle = make_bundle()
    bundle.config["process"]["capabilities"]["bounding"] = ["KILL"]
    bundle.write()
    create_fails(runtime, bundle, cid, "process.capabilities.bounding[0]", "CAP_KILL")


@pytest.mark.parametrize("path", ["dev/relative", "relative", "./dev/x"])
def test_device_with_a_relative_path(runtime, make_bundle, cid, path):
    bundle = make_bundle()
    bundle.config["linux"]["devices"] = [{"path": path, "type": "c", "major": 1, "minor": 3}]
    bundle.write()
    create_fails(runtime, bundle, cid, "linux.devices[0].path", "absolute")


@pytest.fixture
def host_target():
    """An existing host directory a hostile rootfs points at."""
    path = f"/tmp/pyrunc-target-{uuid.uuid4().hex[:10]}"
    os.mkdir(path)
    yield path
    os.rmdir(path)


def host_mount_points() -> set[str]:
    return {m.point for m in mounts()}


@pytest.mark.parametrize(("dest", "fstype"), [("proc", "proc"), ("sys", "sysfs")])
@pytest.mark.parametrize("link", ["host", "relative"])
def test_proc_or_sys_that_is_a_symlink(runtime, make_bundle, cid, host_target, dest, fstype, link):
    """CVE-2019-19921 / CVE-2023-27561: proc and sysfs only onto real directories, never through
    a symlink (in or out of the rootfs)."""
    bundle = make_bundle()
    path = os.path.join(bundle.rootfs, dest)
    os.rmdir(path)
    os.symlink(host_target if link == "host" else "../../../../..", path)
    before = host_mount_points()
    create_fails(runtime, bundle, cid, f"/{dest}", "symlink")
    assert host_mount_points() - before == set(), "something was mounted on the host"
    assert os.listdir(host_target) == []


@pytest.mark.parametrize(
    ("key", "namespaces", "message"),
    [
        ("kernel.pid_max", None, "not namespaced"),
        ("vm.swappiness", None, "not namespaced"),
        ("kernel.core_pattern", None, "not namespaced"),
        ("net.ipv4.ip_forward", ["pid", "ipc", "uts", "mount"], "network namespace"),
        ("kernel.shm_rmid_forced", ["pid", "network", "uts", "mount"], "ipc namespace"),
        ("kernel.domainname", ["pid", "network", "ipc", "mount"], "uts namespace"),
        ("net.ipv4/../../kernel/core_pattern", None, ""),  # no way out of /proc/sys/net
    ],
)
def test_sysctl_outside_the_containers_namespaces(runtime, make_bundle, cid, key, namespaces, message):
    with open("/proc/sys/kernel/core_pattern") as f:
        core_pattern = f.read()
    bundle = make_bundle()
    bundle.config["linux"]["sysctl"] = {key: "1"}
    if namespaces is not None:
        bundle.config["linux"]["namespaces"] = [{"type": kind} for kind in namespaces]
        if "uts" not in namespaces:
            bundle.config.pop("hostname", None)
    bundle.write()
    create_fails(runtime, bundle, cid, "linux.sysctl", message)
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read() == core_pattern


def test_sysctl_of_the_hosts_network_namespace(runtime, make_bundle, cid):
    bundle = make_bundle()
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = f"/proc/{os.getpid()}/ns/net"  # the host's, as ours
    bundle.write()
    create_fails(runtime, bundle, cid, "linux.sysctl", "host's network namespace")


STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


@pytest.mark.parametrize("stage", STAGES)
def test_hook_path_not_absolute(runtime, make_bundle, cid, stage):
    bundle = make_bundle()
    bundle.config["hooks"] = {stage: [{"path": "/bin/true"}, {"path": "bin/true"}]}
    bundle.write()
    create_fails(runtime, bundle, cid, f"hooks.{stage}[1].path", "absolute")


@pytest.mark.parametrize(
    ("field", "mappings", "where"),
    [
        ("uidMappings", [(0, 100000, 1000), (500, 200000, 10)], "linux.uidMappings[1].containerID"),
        ("uidMappings", [(0, 100000, 1000), (1000, 100500, 10)], "linux.uidMappings[1].hostID"),
        ("gidMappings", [(0, 100000, 1000), (999, 300000, 2)], "linux.gidMappings[1].containerID"),
        ("gidMappings", [(1000, 300000, 2), (0, 299999, 2)], "linux.gidMappings[1].hostID"),
    ],
)
def test_overlapping_mappings(runtime, make_bundle, cid, field, mappings, where):
    bundle = make_bundle()
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    for kind in ("uidMappings", "gidMappings"):
        linux[kind] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    linux[field] = [{"containerID": c, "hostID": h, "size": s} for c, h, s in mappings]
    bundle.write()
    create_fails(runtime, bundle, cid, where, "overlap")


def test_overlapping_mappings_of_an_idmapped_mount(runtime, make_bundle, cid, host_dir):
    bundle = make_bundle()
    bundle.config["mounts"].append(
        {
            "type": "bind",
            "source": host_dir("src"),
            "destination": "/mnt/mapped",
            "options": ["bind", "idmap"],
            "uidMappings": [
                {"containerID": 0, "hostID": 100000, "size": 10},
                {"containerID": 5, "hostID": 200000, "size": 10},
            ],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}],
        }
    )
    bundle.write()
    create_fails(runtime, bundle, cid, "uidMappings[1]", "overlap")


@pytest.mark.parametrize(
    ("mount", "where"),
    [
        ({"type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}, "mounts[7]"),  # idmap needs a bind
        ({"type": "bind", "options": ["bind", "idmap"]}, "mounts[7]"),  # no mappings, no user namespace
        (
            {
                "type": "bind",
                "options": ["bind"],  # mappings without idmap/ridmap (runtime-spec 1.2: MUST be refused)
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}],
            },
            "mounts[7]",
        ),
    ],
)
def test_inconsistent_idmapped_mount(runtime, make_bundle, cid, host_dir, mount, where):
    bundle = make_bundle()
    assert len(bundle.config["mounts"]) == 7
    if mount["type"] == "bind":
        mount = {**mount, "source": host_dir("src")}
    bundle.config["mounts"].append({**mount, "destination": "/mnt/mapped"})
    bundle.write()
    create_fails(runtime, bundle, cid, where)


# --------------------------------------------------------------------------------------------------
# Fields this host cannot apply: refused before anything is made, never silently dropped.


@pytest.mark.skipif(os.path.isdir("/sys/fs/resctrl/info"), reason="this host has resctrl")
@pytest.mark.parametrize("rdt", [{"closID": "pyrunc", "l3CacheSchema": "L3:0=f"}, {"memBwSchema": "MB:0=50"}])
def test_intel_rdt_without_resctrl(runtime, make_bundle, cid, rdt):
    bundle = make_bundle()
    bundle.config["linux"]["intelRdt"] = rdt
    bundle.write()
    create_fails(runtime, bundle, cid, "linux.intelRdt")


@pytest.mark.skipif(
    os.path.exists("/sys/fs/cgroup/net_cls") or os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
    reason="needs a cgroup v1 host without net_cls (this VM)",
)
def test_net_cls_without_its_controller(runtime, make_bundle, cid):
    bundle = make_bundle()
    bundle.config["linux"]["resources"]["network"] = {"classID": 1048577}
    bundle.write()
    create_fails(runtime, bundle, cid, "linux.resources.network.classID", "not available")
