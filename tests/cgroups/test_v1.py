"""cgroup v1 specifics (this machine): the devices controller's allow/deny lists,
the OOM killer switch, hybrid placement, and stats identical to runc's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest

from pyrunc.cgroups import CgroupError, open_manager
from pyrunc.cgroups import devices as dev
from pyrunc.cgroups.discovery import mounted_hierarchies

from .conftest import REPO
from .helpers import eventually, read, run_in

pytestmark = pytest.mark.v1only
MiB = 1 << 20
RUNC = shutil.which("runc") or "/usr/sbin/runc"


def devices_list(mgr) -> dev.DeviceState:
    return dev.parse_devices_list(read(os.path.join(mgr.paths["devices"], "devices.list")) + "\n")


def test_device_rules_become_the_kernels_lists(cgroups):
    mgr = cgroups.open()
    mgr.apply({"devices": [{"allow": False, "access": "rwm"}]})
    expected = dev.emulate(
        dev.parse_rules([{"allow": False, "access": "rwm"}, *dev.DEFAULT_ALLOWED_DEVICES], "r")
    )
    assert devices_list(mgr) == expected
    # Applying a different set moves the kernel's list there (adds and removals, no reset).
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"},
    ]
    mgr.apply({"devices": rules}, default_devices=False)
    assert devices_list(mgr) == dev.emulate(dev.parse_rules(rules, "r"))
    assert run_in(mgr, "exec 3</dev/null")[0] == 0
    assert run_in(mgr, "echo > /dev/null")[0] != 0


def test_disabled_oom_killer_pauses_instead_of_killing(cgroups, workloads):
    """The hog grows a string in the shell: its memory is touched in user mode, where a charge over
    the limit waits in the OOM. `dd if=/dev/zero bs=64M` let read(2) fault the pages in instead,
    and a kernel-mode fault with the OOM killer disabled is not an OOM: the charge fails, the read
    comes back short and dd exits 0, without an event (1 run in 15 here)."""
    mgr = cgroups.open()
    mgr.apply({"memory": {"limit": 16 * MiB, "swap": 16 * MiB, "disableOOMKiller": True}})
    control = os.path.join(mgr.paths["memory"], "memory.oom_control")
    assert "oom_kill_disable 1" in read(control)
    with mgr.oom_events() as watcher:
        hog = workloads("x=a; while :; do x=$x$x; done", mgr)
        assert watcher.wait(timeout=30) >= 1
        assert eventually(lambda: "under_oom 1" in read(control))
        assert hog.proc.poll() is None  # stuck in the OOM wait, not killed
        mgr.kill_all(signal.SIGKILL)
        assert hog.wait() == -signal.SIGKILL
        assert watcher.oom_kill_count() == 0


def test_oom_watcher_reports_the_cgroup_going_away(cgroups):
    mgr = cgroups.open()
    watcher = mgr.oom_events()
    try:
        mgr.destroy()
        assert watcher.wait(timeout=30) is None
    finally:
        watcher.close()


def test_hybrid_host_places_the_container_in_the_unified_hierarchy_too(cgroups, workloads):
    mgr = cgroups.open()
    if "unified" not in mgr.paths:
        pytest.skip("no cgroup2 hierarchy mounted beside v1")
    assert mgr.paths["unified"] == "/sys/fs/cgroup/unified" + cgroups.path("c")
    work = workloads("exec sleep 600", mgr)
    with open(f"/proc/{work.pid}/cgroup") as f:
        assert f"0::{cgroups.path('c')}\n" in f.read()


def test_cpu_and_blkio_files_are_written(cgroups):
    mgr = cgroups.open()
    mgr.apply(
        {
            "cpu": {
                "shares": 512,
                "quota": 20000,
                "period": 50000,
                "burst": 5000,
                "realtimePeriod": 500000,
                "idle": 0,
            },
            "memory": {"reservation": 8 * MiB, "swappiness": 20},
        }
    )
    cpu, memory = mgr.paths["cpu"], mgr.paths["memory"]
    assert read(f"{cpu}/cpu.shares") == "512"
    assert read(f"{cpu}/cpu.cfs_quota_us") == "20000"
    assert read(f"{cpu}/cpu.cfs_period_us") == "50000"
    assert read(f"{cpu}/cpu.cfs_burst_us") == "5000"
    assert read(f"{cpu}/cpu.rt_period_us") == "500000"
    assert read(f"{memory}/memory.soft_limit_in_bytes") == str(8 * MiB)
    assert read(f"{memory}/memory.swappiness") == "20"


def blkio_weight_file(blkio: str) -> str | None:
    """The v1 weight file this kernel has: blkio.weight (CFQ, before 5.0) or blkio.bfq.weight (BFQ
    built in or loaded); none when the kernel has neither I/O scheduler (as on some of our VMs)."""
    for name in ("blkio.weight", "blkio.bfq.weight"):
        if os.path.exists(f"{blkio}/{name}"):
            return name
    return None


def test_blkio_weight_is_written_or_refused_naming_the_field(cgroups):
    mgr = cgroups.open()
    blkio = mgr.paths["blkio"]
    name = blkio_weight_file(blkio)
    if name is None:
        # No CFQ/BFQ here: the weight cannot be applied, so it must be refused, naming the field.
        with pytest.raises(CgroupError) as caught:
            mgr.apply({"blockIO": {"weight": 300}})
        assert str(caught.value).startswith("linux.resources.blockIO.weight: this kernel has none of ")
        return
    mgr.apply({"blockIO": {"weight": 300}})
    assert read(f"{blkio}/{name}").split()[-1] == "300"


def test_stats_are_the_same_as_runcs(cgroups, tmp_path):
    if not os.access(RUNC, os.X_OK):
        pytest.fail(f"{RUNC} missing: apt-get install runc")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    subprocess.run([os.path.join(REPO, "oci-bundles", "build"), str(bundle / "rootfs")], check=True)
    with open(os.path.join(REPO, "oci-bundles", "sleep", "config.json")) as f:
        config = json.load(f)
    config["linux"]["cgroupsPath"] = cgroups.path("runc")
    config["linux"]["resources"] = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 64 * MiB},
        "pids": {"limit": 20},
        "cpu": {"shares": 512, "cpus": "0"},
    }
    (bundle / "config.json").write_text(json.dumps(config))
    root = str(tmp_path / "root")
    container = f"pyrunc-stats-{os.getpid()}"

    def runc(*args: str) -> str:
        return subprocess.run(
            [RUNC, "--root", root, *args],
            check=True,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        ).stdout

    # The container inherits run's stdio: give it none of our pipes.
    with open(tmp_path / "run.log", "w") as log:
        subprocess.run(
            [RUNC, "--root", root, "run", "-d", "--bundle", str(bundle), container],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        theirs = json.loads(runc("events", "--stats", container))["data"]
        ours = open_manager(cgroups.path("runc"), container).stats()
    finally:
        runc("delete", "--force", container)
    assert shape(with_omitted(ours)) == shape(with_omitted(theirs))
    for path in (("memory", "usage", "limit"), ("pids", "limit"), ("pids", "current"), ("cpuset", "cpus")):
        assert dig(ours, path) == dig(theirs, path), path


# runc's `omitempty` fields: absent when zero, so a counter that moves between
# the two reads may appear in one document only.
OMITEMPTY = {
    ("cpu", "usage"): {"total": 0, "percpu": [0], "percpu_kernel": [0], "percpu_user": [0]},
    ("cpu", "throttling"): {"periods": 0, "throttledPeriods": 0, "throttledTime": 0},
    ("memory",): {"cache": 0},
    ("memory", "usage"): {"usage": 0, "max": 0},
    ("memory", "swap"): {"usage": 0, "max": 0},
    ("memory", "kernel"): {"usage": 0, "max": 0},
    ("memory", "kernelTCP"): {"usage": 0, "max": 0},
    ("pids",): {"current": 0, "limit": 0},
}


def with_omitted(stats: dict) -> dict:
    stats = json.loads(json.dumps(stats))
    for path, defaults in OMITEMPTY.items():
        section = dig(stats, path)
        for key, value in defaults.items():
            section.setdefault(key, value)
    for entry in stats["hugetlb"].values():
        entry.setdefault("usage", 0)
        entry.setdefault("max", 0)
    stats["memory"].pop("raw", None)  # the kernel's own memory.stat keys
    return stats


def shape(value):
    """Keys and value types, recursively (counters may differ between two reads)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [type(v).__name__ for v in value[:1]]
    return type(value).__name__


def dig(d: dict, path: tuple):
    for key in path:
        d = d[key]
    return d


def first_block_device() -> tuple[int, int]:
    for name in sorted(os.listdir("/sys/block")):
        major, minor = read(f"/sys/block/{name}/dev").split(":")
        return int(major), int(minor)
    pytest.fail("no block device on this host")


def test_blkio_throttles_and_a_refused_device_weight_rolled_back(cgroups):
    major, minor = first_block_device()
    mgr = cgroups.open()
    blkio = mgr.paths["blkio"]
    mgr.apply(
        {
            "blockIO": {
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}],
            }
        }
    )
    assert read(f"{blkio}/blkio.throttle.read_bps_device") == f"{major}:{minor} 1048576"
    assert read(f"{blkio}/blkio.throttle.write_iops_device") == f"{major}:{minor} 100"
    scheduler = read(f"/sys/dev/block/{major}:{minor}/queue/scheduler")
    if "[bfq]" in scheduler or not os.path.exists(f"{blkio}/blkio.bfq.weight_device"):
        return  # the kernel would accept a per-device weight: nothing to refuse
    # BFQ weights need BFQ on that device: the kernel refuses the write, and the
    # throttle written before it in the same apply is put back.
    with pytest.raises(CgroupError) as caught:
        mgr.apply(
            {
                "blockIO": {
                    "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 4096}],
                    "weightDevice": [{"major": major, "minor": minor, "weight": 300}],
                }
            }
        )
    assert str(caught.value).startswith("linux.resources.blockIO.weightDevice[0].weight: cannot write ")
    assert "blkio.bfq.weight_device: Operation not supported" in str(caught.value)
    assert read(f"{blkio}/blkio.throttle.read_bps_device") == f"{major}:{minor} 1048576"


def test_hugetlb_limits_or_a_clear_error(cgroups):
    mgr = cgroups.open()
    limits = {"hugepageLimits": [{"pageSize": "2MB", "limit": 8 * MiB}]}
    if "hugetlb" not in mgr.paths:
        with pytest.raises(
            CgroupError, match=r"hugepageLimits: the hugetlb cgroup controller is not available"
        ):
            mgr.apply(limits)
        return
    mgr.apply(limits)
    assert read(f"{mgr.paths['hugetlb']}/hugetlb.2MB.limit_in_bytes") == str(8 * MiB)
    if os.path.exists(f"{mgr.paths['hugetlb']}/hugetlb.2MB.rsvd.limit_in_bytes"):
        assert read(f"{mgr.paths['hugetlb']}/hugetlb.2MB.rsvd.limit_in_bytes") == str(8 * MiB)


def test_cpusets_are_filled_in_existing_empty_parents_and_new_ones(cgroups):
    # Issue 18 item 13: a pod's parent made by a manager that does not set cpusets (empty
    # cpuset.cpus and mems), and a new directory below it: every one takes its parent's values,
    # as runc does, or the container cannot join ("No space left on device").
    root = mounted_hierarchies()["cpuset"][0]
    pod = os.path.join(root, cgroups.path("pod").lstrip("/"))
    os.makedirs(pod)  # the test's top directory and the pod's, both with empty cpusets
    assert read(os.path.join(pod, "cpuset.cpus")) == ""
    mgr = cgroups.open("pod", "new", "ctr")
    status, out, err = run_in(mgr, "echo in")
    assert (status, out.strip()) == (0, "in"), err
    for name in ("cpuset.cpus", "cpuset.mems"):
        assert read(os.path.join(pod, name)) == read(os.path.join(root, name))


def test_device_rules_are_listed_in_the_configs_order_then_the_defaults(cgroups):
    # Issue 16 item 4: the spec applies entries in the listed order; after the deny-all, the
    # kernel's devices.list (which keeps the order of writes) reads as the config's allow rules,
    # then the runtime's defaults (appended after the config's, as runc).
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 240, "minor": 9, "access": "r"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"},
        {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "r"},
    ]
    mgr = cgroups.open()
    mgr.apply({"devices": rules})
    listed = read(os.path.join(mgr.paths["devices"], "devices.list")).splitlines()
    assert listed[:3] == ["c 240:9 r", "c 1:11 rw", "b 7:0 r"]
    defaults = dev.emulate(
        dev.parse_rules([{"allow": False, "access": "rwm"}, *dev.DEFAULT_ALLOWED_DEVICES], "d")
    )
    assert listed[3:] == [dev.v1_line(*key, bits) for key, bits in defaults.exceptions.items()]
