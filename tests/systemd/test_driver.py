"""pyrunc --systemd-cgroup on a systemd host (issue 12): the container's cgroup is a transient
scope unit, read back with `systemctl show`, and nothing is left once it is deleted."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.systemd.units import MOUNT, cgroup_of, show, unit_gone

pytestmark = pytest.mark.systemd


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def stored_cgroup(runtime, cid: str) -> dict:
    with open(os.path.join(runtime.root, cid, "state.json")) as f:
        return json.load(f)["cgroup"]


@pytest.fixture
def sd(runtime):
    """The runtime with --systemd-cgroup (a global option, before the command)."""

    def call(*args: str, **kw):
        return runtime("--systemd-cgroup", *args, **kw)

    call.runtime = runtime
    return call


@pytest.fixture
def slice_name(cid):
    """A slice of the test's own (systemd makes it on demand); stopped at teardown."""
    name = f"pyrunc-{cid.replace('-', '')}.slice"
    yield name
    subprocess.run(["systemctl", "stop", name], capture_output=True, timeout=60)
    # systemd unloads an inactive unit when it next collects garbage: inactive and no cgroup is gone.
    assert show(name, "ActiveState")["ActiveState"] == "inactive", f"{name} still active after stop"
    assert not os.path.exists(f"{MOUNT}/pyrunc.slice/{name}")


def test_lifecycle_in_a_transient_scope(sd, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    sd("create", "--bundle", bundle.path, cid)
    unit = f"runc-{cid}.scope"  # runc's name for an empty cgroupsPath
    pid = sd.runtime.state(cid)["pid"]
    assert cgroup_of(pid) == f"/system.slice/{unit}", "the init is in the scope before it runs"
    props = show(
        unit, "ActiveState", "Delegate", "Slice", "DefaultDependencies", "ControlGroup", "TasksAccounting"
    )
    assert props == {
        "ActiveState": "active",
        "Delegate": "yes",
        "Slice": "system.slice",
        "DefaultDependencies": "no",
        "ControlGroup": f"/system.slice/{unit}",
        "TasksAccounting": "yes",
    }
    # The config's device rules (deny all, then runc's defaults) as systemd's allow list.
    devices = subprocess.run(
        ["systemctl", "show", unit, "--property=DevicePolicy", "--property=DeviceAllow"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.splitlines()
    assert "DevicePolicy=strict" in devices
    assert {"DeviceAllow=/dev/char/1:3 rwm", "DeviceAllow=char-pts rwm", "DeviceAllow=char-* m"} <= set(
        devices
    )
    cg = stored_cgroup(sd.runtime, cid)
    assert (cg["driver"], cg["unit"], cg["path"]) == ("systemd", unit, f"{MOUNT}/system.slice/{unit}")

    sd("start", cid)
    assert sd.runtime.status(cid) == "running"
    assert json.loads(sd("ps", "--format", "json", cid).stdout) == [pid]
    stats = json.loads(sd("events", "--stats", cid).stdout)
    assert stats["type"] == "stats" and stats["data"]["pids"]["current"] == 1, stats
    sd("pause", cid)
    assert read(f"{MOUNT}/system.slice/{unit}/cgroup.freeze") == "1"
    assert sd.runtime.status(cid) == "paused"
    sd("resume", cid)
    sd("kill", "--all", cid, "KILL")
    sd("delete", "--force", cid)
    assert unit_gone(unit)
    assert not os.path.exists(f"{MOUNT}/system.slice/{unit}")


def test_exec_joins_the_scope(sd, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "cgroup"
    ]
    bundle.write()
    sd("run", "-d", "--bundle", bundle.path, cid)
    out = sd("exec", cid, "cat", "/proc/self/cgroup").stdout
    assert out.strip() == f"0::/system.slice/runc-{cid}.scope"
    sd("delete", "--force", cid)
    assert unit_gone(f"runc-{cid}.scope")


def test_slice_prefix_name_and_resources_as_unit_properties(sd, make_bundle, cid, slice_name):
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["linux"]["cgroupsPath"] = f"{slice_name}:pyrunc-test:{cid}"
    bundle.config["linux"]["resources"] = {
        "memory": {"limit": 64 << 20, "reservation": 16 << 20},
        "pids": {"limit": 42},
        "cpu": {"shares": 512, "quota": 25000, "period": 100000},
    }
    bundle.write()
    sd("run", "-d", "--bundle", bundle.path, cid)
    unit = f"pyrunc-test-{cid}.scope"
    path = f"{MOUNT}/pyrunc.slice/{slice_name}/{unit}"
    assert cgroup_of(sd.runtime.state(cid)["pid"]) == path[len(MOUNT) :]
    props = show(
        unit, "Description", "Slice", "MemoryMax", "MemoryLow", "TasksMax", "CPUWeight", "CPUQuotaPerSecUSec"
    )
    assert props == {
        "Description": f"libcontainer container {cid}",  # runc's
        "Slice": slice_name,
        "MemoryMax": str(64 << 20),
        "MemoryLow": str(16 << 20),
        "TasksMax": "42",
        "CPUWeight": "20",  # shares 512 -> weight, runc's conversion
        "CPUQuotaPerSecUSec": "250ms",
    }
    assert read(f"{path}/memory.max") == str(64 << 20)
    assert read(f"{path}/pids.max") == "42"
    assert read(f"{path}/cpu.max") == "25000 100000"

    sd("update", "--memory", str(32 << 20), "--pids-limit", "7", cid)
    assert show(unit, "MemoryMax", "TasksMax") == {"MemoryMax": str(32 << 20), "TasksMax": "7"}
    assert read(f"{path}/memory.max") == str(32 << 20)

    sd("delete", "--force", cid)
    assert unit_gone(unit)
    assert not os.path.exists(path)


def test_a_name_ending_in_slice_makes_the_container_a_slice(sd, make_bundle, cid, slice_name):
    # runc's rule for "slice:prefix:NAME.slice": the container's unit is that slice, a child of
    # the given one (by dashes: runc's path is the parent's path + "/" + NAME).
    unit = slice_name.replace(".slice", "-ctr.slice")
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "cgroup"
    ]
    bundle.config["linux"]["cgroupsPath"] = f"{slice_name}:unused:{unit}"
    bundle.config["linux"]["resources"] = {"memory": {"limit": 48 << 20}, "pids": {"limit": 21}}
    bundle.write()
    sd("create", "--bundle", bundle.path, cid)
    path = f"/pyrunc.slice/{slice_name}/{unit}"
    pid = sd.runtime.state(cid)["pid"]
    assert cgroup_of(pid) == path, "the init is in the slice before it runs"
    props = show(unit, "ActiveState", "Wants", "ControlGroup", "MemoryMax", "TasksMax", "Description")
    assert props == {
        "ActiveState": "active",
        "Wants": slice_name,
        "ControlGroup": path,
        "MemoryMax": str(48 << 20),
        "TasksMax": "21",
        "Description": f"libcontainer container {unit}",
    }
    assert stored_cgroup(sd.runtime, cid)["unit"] == unit
    assert read(f"{MOUNT}{path}/memory.max") == str(48 << 20)
    sd("start", cid)
    assert sd("exec", cid, "cat", "/proc/self/cgroup").stdout.strip() == f"0::{path}"
    sd("update", "--pids-limit", "9", cid)
    assert show(unit, "TasksMax") == {"TasksMax": "9"}
    sd("pause", cid)
    assert sd.runtime.status(cid) == "paused"
    sd("resume", cid)
    sd("delete", "--force", cid)
    assert show(unit, "ActiveState")["ActiveState"] == "inactive"  # unloaded at systemd's next GC
    assert not os.path.exists(f"{MOUNT}{path}")


def test_a_slice_not_under_its_parent_is_refused_and_leaves_nothing(sd, make_bundle, cid):
    bundle = make_bundle(args=["true"])
    bundle.config["linux"]["cgroupsPath"] = f"system.slice:p:pyrunc{cid.replace('-', '')}.slice"
    bundle.write()
    result = sd("run", "--bundle", bundle.path, cid, check=False)
    assert result.returncode == 1
    assert "linux.cgroupsPath" in result.stderr and "is not a child of 'system.slice'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not os.path.exists(os.path.join(sd.runtime.root, cid))


def test_refused_resources_leave_no_unit_no_state(sd, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["linux"]["resources"] = {"unified": {"memory.nosuchfile": "1"}}
    bundle.write()
    result = sd("run", "-d", "--bundle", bundle.path, cid, check=False)
    assert result.returncode == 1, result
    assert "memory.nosuchfile" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert unit_gone(f"runc-{cid}.scope")
    assert not os.path.exists(os.path.join(sd.runtime.root, cid))


@pytest.mark.parametrize(
    "path, message",
    [
        ("system.slice:only-two", "slice:prefix:name"),
        ("a/b.slice:p:x", "is not a slice name"),
        ("system.slice:p:bad name", "is not a valid systemd unit name"),
    ],
)
def test_bad_cgroups_path_is_refused_by_name(sd, make_bundle, cid, path, message):
    bundle = make_bundle(args=["true"])
    bundle.config["linux"]["cgroupsPath"] = path
    bundle.write()
    result = sd("create", "--bundle", bundle.path, cid, check=False)
    assert result.returncode == 1
    assert "linux.cgroupsPath" in result.stderr and message in result.stderr, result.stderr
    assert not os.path.exists(os.path.join(sd.runtime.root, cid))


def test_a_failed_unit_of_the_same_name_is_reset_and_replaced(sd, make_bundle, cid):
    # A scope left failed (here: past its RuntimeMaxSec; an OOM kill does the same) keeps its name
    # loaded: runc resets it and starts the new one.
    unit = f"runc-{cid}.scope"
    made = subprocess.run(
        ["systemd-run", "--scope", "--unit", unit, "--property", "RuntimeMaxSec=1", "sleep", "60"],
        capture_output=True,
        timeout=60,
    )
    assert made.returncode != 0
    assert show(unit, "ActiveState")["ActiveState"] == "failed"
    bundle = make_bundle(args=["sleep", "infinity"])
    sd("run", "-d", "--bundle", bundle.path, cid)
    assert show(unit, "ActiveState")["ActiveState"] == "active"
    sd("delete", "--force", cid)
    assert unit_gone(unit)


def test_no_system_bus_is_one_line_and_leaves_nothing(sd, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/bus")
    result = sd("run", "-d", "--bundle", bundle.path, cid, check=False, env=env)
    assert result.returncode == 1
    assert (
        f"systemd: cannot reach the system bus (/nonexistent/bus) to start unit runc-{cid}.scope"
        in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert unit_gone(f"runc-{cid}.scope")
    assert not os.path.exists(os.path.join(sd.runtime.root, cid))


def test_delete_force_after_a_create_killed_with_its_unit_running(sd, make_bundle, cid):
    # A prestart hook runs while create holds the unit and the init waits: it SIGKILLs create.
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["hooks"] = {
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID; sleep 5"]}]
    }
    bundle.write()
    result = sd("create", "--bundle", bundle.path, cid, check=False)
    assert result.returncode == -9, result
    cg = stored_cgroup(sd.runtime, cid)
    assert cg["unit"] == f"runc-{cid}.scope"
    sd("delete", "--force", cid)
    assert unit_gone(cg["unit"])
    assert not os.path.exists(cg["path"])
    assert not os.path.exists(os.path.join(sd.runtime.root, cid))


def test_annotations_are_unit_properties_and_delete_resets_a_failed_unit(sd, make_bundle, cid):
    # runc's own case: the scope outlives RuntimeMaxSec, systemd stops it and marks it failed;
    # delete must leave no failed unit behind.
    bundle = make_bundle(args=["sleep", "30"])
    bundle.config["annotations"] = {
        "org.systemd.property.RuntimeMaxSec": "2",
        "org.systemd.property.TimeoutStopSec": "1",
        "org.systemd.property.CollectMode": "'inactive'",
    }
    bundle.write()
    sd("run", "-d", "--bundle", bundle.path, cid)
    unit = f"runc-{cid}.scope"
    assert show(unit, "RuntimeMaxUSec", "TimeoutStopUSec", "CollectMode") == {
        "RuntimeMaxUSec": "2s",
        "TimeoutStopUSec": "1s",
        "CollectMode": "inactive",
    }
    deadline = time.monotonic() + 60
    while show(unit, "ActiveState")["ActiveState"] != "failed":
        assert time.monotonic() < deadline, "the scope did not fail after its RuntimeMaxSec"
        time.sleep(0.2)
    assert show(unit, "Result")["Result"] == "timeout"
    while sd.runtime.status(cid) != "stopped":
        assert time.monotonic() < deadline, "the container did not stop with its scope"
        time.sleep(0.2)
    sd("delete", cid)
    assert unit_gone(unit)


def test_a_bad_annotation_is_one_line_and_leaves_nothing(sd, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "30"])
    bundle.config["annotations"] = {"org.systemd.property.RuntimeMaxSec": "'soon'"}
    bundle.write()
    result = sd("run", "-d", "--bundle", bundle.path, cid, check=False)
    assert result.returncode == 1
    assert "annotations['org.systemd.property.RuntimeMaxSec']" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert unit_gone(f"runc-{cid}.scope")
    assert not os.path.exists(os.path.join(sd.runtime.root, cid))


def test_features_report_the_systemd_driver(sd):
    features = json.loads(sd.runtime("features").stdout)
    assert features["linux"]["cgroup"]["systemd"] is True
