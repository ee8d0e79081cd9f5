"""config-linux.md Control groups: cgroupsPath (absolute and relative) and resources per controller,
checked in cgroupfs (this host's cgroup v1 hierarchies)."""

from __future__ import annotations

import os

from .. import config as cfgmod
from .. import sysutil
from ..ctx import Ctx
from ..registry import case

CHECK = cfgmod.CHECKER
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")


def _limited(t: Ctx, resources: dict, args: list[str] | None = None, relative: bool = False):
    """A created container with the given linux.resources under a fresh cgroupsPath."""
    b = t.bundle(args or ["sleep", "300"])
    b.linux["resources"].update(resources)
    b.linux["cgroupsPath"] = t.cgroup_path("res", absolute=not relative)
    return t.create(b)


@case(
    "cgroups/absolute-path-placement",
    needs=("cgroup_v1",),
    spec="config-linux.md cgroupsPath: an absolute path is relative to the cgroups mount point",
)
def absolute_placement(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    path = t.cgroup_path("abs") + "/nested"
    b.linux["cgroupsPath"] = path
    c = t.create(b)
    placed = sysutil.proc_cgroups(c.pid)
    for ctrl in CONTROLLERS:
        if ctrl in t.host.v1_controllers:
            t.eq(placed.get(ctrl), path, f"{ctrl} cgroup of the container process")
            t.check(
                os.path.isdir(os.path.join(t.host.hierarchies[ctrl], path.lstrip("/"))),
                f"{ctrl} directory for {path} does not exist",
            )


@case(
    "cgroups/relative-path-placement",
    needs=("cgroup_v1", "memory", "cpu", "cpuset", "pids", "devices_cg", "freezer"),
    spec="config-linux.md cgroupsPath: a relative path MAY be relative to a runtime-determined location",
)
def relative_placement(t: Ctx) -> None:
    """The limits of every controller land in the directory the relative path names."""
    resources = {
        "memory": {"limit": 48 << 20},
        "cpu": {"shares": 256, "cpus": "0"},
        "pids": {"limit": 77},
        "devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 240, "minor": 9, "access": "r"},
        ],
    }
    if t.host.block_device:
        major, minor = t.host.block_device
        resources["blockIO"] = {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 4096}]}
    c = _limited(t, resources, relative=True)
    rel = c.bundle.linux["cgroupsPath"]
    placed = sysutil.proc_cgroups(c.pid)
    for ctrl in CONTROLLERS:
        if ctrl in t.host.v1_controllers:
            t.check(
                (placed.get(ctrl) or "").endswith("/" + rel),
                f"{ctrl} cgroup {placed.get(ctrl)!r} does not end in {rel}",
            )
    t.eq(t.cgroup_read("memory", c.pid, "memory.limit_in_bytes"), str(48 << 20), "memory.limit_in_bytes")
    t.eq(t.cgroup_read("cpu", c.pid, "cpu.shares"), "256", "cpu.shares")
    t.eq(t.cgroup_read("cpuset", c.pid, "cpuset.cpus"), "0", "cpuset.cpus")
    t.eq(t.cgroup_read("pids", c.pid, "pids.max"), "77", "pids.max")
    t.check(
        "c 240:9 r" in t.cgroup_read("devices", c.pid, "devices.list").splitlines(),
        "devices.list lacks c 240:9 r",
    )
    if t.host.block_device:
        value = t.cgroup_read("blkio", c.pid, "blkio.throttle.read_bps_device")
        t.check(
            "{}:{} 4096".format(*t.host.block_device) in value, f"blkio.throttle.read_bps_device is {value!r}"
        )
    t.eq(t.cgroup_read("freezer", c.pid, "freezer.state"), "THAWED", "freezer.state")


@case(
    "cgroups/same-path-same-place",
    needs=("cgroup_v1",),
    spec="config-linux.md cgroupsPath: the same value MUST consistently attach to the same place",
)
def same_path_same_place(t: Ctx) -> None:
    rel = t.cgroup_path("same", absolute=False)
    seen = []
    for _ in range(2):
        b = t.bundle(["sleep", "300"])
        b.linux["cgroupsPath"] = rel
        c = t.create(b)
        seen.append(sysutil.proc_cgroups(c.pid))
        c.delete(force=True)
    t.eq(seen[0], seen[1], "cgroups of two containers created with the same relative cgroupsPath")


@case(
    "cgroups/removed-on-delete",
    needs=("cgroup_v1",),
    spec="runtime.md delete: MUST delete the resources create made",
)
def removed_on_delete(t: Ctx) -> None:
    c = _limited(t, {"pids": {"limit": 50}, "memory": {"limit": 64 << 20}})
    dirs = [t.cgroup_dir(ctrl, c.pid) for ctrl in CONTROLLERS if ctrl in t.host.v1_controllers]
    c.start()
    c.kill("KILL")
    c.wait_stopped()
    c.delete()
    left = [d for d in dirs if os.path.isdir(d)]
    t.check(not left, f"cgroup directories survived delete: {left[:3]}")


@case("cgroups/memory-limit", needs=("memory",), spec="config-linux.md memory.limit")
def memory_limit(t: Ctx) -> None:
    c = _limited(t, {"memory": {"limit": 64 << 20}})
    t.eq(t.cgroup_read("memory", c.pid, "memory.limit_in_bytes"), str(64 << 20), "memory.limit_in_bytes")


@case("cgroups/memory-reservation", needs=("memory",), spec="config-linux.md memory.reservation")
def memory_reservation(t: Ctx) -> None:
    c = _limited(t, {"memory": {"limit": 64 << 20, "reservation": 32 << 20}})
    t.eq(
        t.cgroup_read("memory", c.pid, "memory.soft_limit_in_bytes"),
        str(32 << 20),
        "memory.soft_limit_in_bytes",
    )


@case("cgroups/memory-swap", needs=("memory", "memsw"), spec="config-linux.md memory.swap: memory+swap limit")
def memory_swap(t: Ctx) -> None:
    c = _limited(t, {"memory": {"limit": 64 << 20, "swap": 96 << 20}})
    t.eq(
        t.cgroup_read("memory", c.pid, "memory.memsw.limit_in_bytes"),
        str(96 << 20),
        "memory.memsw.limit_in_bytes",
    )


@case("cgroups/memory-swappiness", needs=("memory",), spec="config-linux.md memory.swappiness")
def memory_swappiness(t: Ctx) -> None:
    c = _limited(t, {"memory": {"swappiness": 17}})
    t.eq(t.cgroup_read("memory", c.pid, "memory.swappiness"), "17", "memory.swappiness")


@case("cgroups/memory-disable-oom-killer", needs=("memory",), spec="config-linux.md memory.disableOOMKiller")
def memory_oom_killer(t: Ctx) -> None:
    c = _limited(t, {"memory": {"limit": 64 << 20, "disableOOMKiller": True}})
    lines = t.cgroup_read("memory", c.pid, "memory.oom_control").splitlines()
    t.check("oom_kill_disable 1" in lines, f"memory.oom_control {lines}")


@case("cgroups/memory-kernel-tcp", needs=("memory",), spec="config-linux.md memory.kernelTCP")
def memory_kernel_tcp(t: Ctx) -> None:
    c = _limited(t, {"memory": {"limit": 64 << 20, "kernelTCP": 16 << 20}})
    value = t.cgroup_read("memory", c.pid, "memory.kmem.tcp.limit_in_bytes")
    t.eq(value, str(16 << 20), "memory.kmem.tcp.limit_in_bytes")


@case("cgroups/cpu-shares", needs=("cpu",), spec="config-linux.md cpu.shares")
def cpu_shares(t: Ctx) -> None:
    c = _limited(t, {"cpu": {"shares": 512}})
    t.eq(t.cgroup_read("cpu", c.pid, "cpu.shares"), "512", "cpu.shares")


@case("cgroups/cpu-quota-period", needs=("cpu",), spec="config-linux.md cpu.quota and cpu.period")
def cpu_quota_period(t: Ctx) -> None:
    c = _limited(t, {"cpu": {"quota": 25000, "period": 50000}})
    t.eq(t.cgroup_read("cpu", c.pid, "cpu.cfs_period_us"), "50000", "cpu.cfs_period_us")
    t.eq(t.cgroup_read("cpu", c.pid, "cpu.cfs_quota_us"), "25000", "cpu.cfs_quota_us")


@case("cgroups/cpu-idle", needs=("cpu", "cpu_idle"), spec="config-linux.md cpu.idle")
def cpu_idle(t: Ctx) -> None:
    c = _limited(t, {"cpu": {"idle": 1}})
    t.eq(t.cgroup_read("cpu", c.pid, "cpu.idle"), "1", "cpu.idle")


@case("cgroups/cpu-burst", needs=("cpu", "cpu_burst"), spec="config-linux.md cpu.burst")
def cpu_burst(t: Ctx) -> None:
    c = _limited(t, {"cpu": {"quota": 20000, "period": 100000, "burst": 10000}})
    t.eq(t.cgroup_read("cpu", c.pid, "cpu.cfs_burst_us"), "10000", "cpu.cfs_burst_us")


@case("cgroups/cpuset", needs=("cpuset",), spec="config-linux.md cpu.cpus and cpu.mems")
def cpuset(t: Ctx) -> None:
    mem = t.host.mems.split(",")[0].split("-")[0]
    c = _limited(t, {"cpu": {"cpus": "0", "mems": mem}})
    t.eq(t.cgroup_read("cpuset", c.pid, "cpuset.cpus"), "0", "cpuset.cpus")
    t.eq(t.cgroup_read("cpuset", c.pid, "cpuset.mems"), mem, "cpuset.mems")
    t.eq(t.proc_status(c.pid).get("Cpus_allowed_list"), "0", "Cpus_allowed_list of the container process")


@case("cgroups/pids-limit", needs=("pids",), spec="config-linux.md pids.limit")
def pids_limit(t: Ctx) -> None:
    c = _limited(t, {"pids": {"limit": 10}}, args=[CHECK, "forks", "30", "pause"])
    t.eq(t.cgroup_read("pids", c.pid, "pids.max"), "10", "pids.max")
    c.start()
    r = c.wait_for_key("forks_errno")
    t.check(int(r.get("forks") or 99) <= 9, f"{r.get('forks')} forks succeeded under pids.limit 10")
    t.eq(r.get("forks_errno"), "11", "errno of the fork refused by the pids limit (EAGAIN)")


@case(
    "cgroups/unknown-resources-ignored",
    needs=("pids",),
    spec="config.md Extensibility: runtimes MUST NOT error on, and MUST ignore, unknown properties",
)
def unknown_resources_ignored(t: Ctx) -> None:
    """Also under linux.resources and in `update --resources` (a newer manager's fields)."""
    c = _limited(t, {"pids": {"limit": 40, "futureKnob": 1}, "futureController": {"weight": 5}})
    t.eq(t.cgroup_read("pids", c.pid, "pids.max"), "40", "pids.max")
    c.start()
    update = t.path("resources.json")
    with open(update, "w") as f:
        f.write('{"pids": {"limit": 41, "futureKnob": 2}, "futureController": {}}')
    res = t.rt("update", "--resources", update, c.id)
    t.check(res.ok, f"update --resources with unknown properties: {res.brief()}")
    t.eq(t.cgroup_read("pids", c.pid, "pids.max"), "41", "pids.max after update")


@case("cgroups/blkio-throttle", needs=("blkio", "block_device"), spec="config-linux.md blockIO.throttle*")
def blkio_throttle(t: Ctx) -> None:
    major, minor = t.host.block_device
    dev = {"major": major, "minor": minor}
    c = _limited(
        t,
        {
            "blockIO": {
                "throttleReadBpsDevice": [{**dev, "rate": 1048576}],
                "throttleWriteBpsDevice": [{**dev, "rate": 2097152}],
                "throttleReadIOPSDevice": [{**dev, "rate": 300}],
                "throttleWriteIOPSDevice": [{**dev, "rate": 400}],
            }
        },
    )
    for name, rate in (
        ("read_bps_device", 1048576),
        ("write_bps_device", 2097152),
        ("read_iops_device", 300),
        ("write_iops_device", 400),
    ):
        value = t.cgroup_read("blkio", c.pid, f"blkio.throttle.{name}")
        t.check(f"{major}:{minor} {rate}" in value.splitlines(), f"blkio.throttle.{name} is {value!r}")


@case("cgroups/blkio-weight", needs=("blkio", "blkio_weight"), spec="config-linux.md blockIO.weight")
def blkio_weight(t: Ctx) -> None:
    c = _limited(t, {"blockIO": {"weight": 300}})
    d = t.cgroup_dir("blkio", c.pid)
    name = "blkio.weight" if os.path.exists(os.path.join(d, "blkio.weight")) else "blkio.bfq.weight"
    t.check("300" in t.cgroup_read("blkio", c.pid, name), f"{name} does not show 300")


@case(
    "cgroups/freezer-placement",
    needs=("freezer",),
    spec="config-linux.md cgroupsPath: the container's freezer cgroup",
)
def freezer_placement(t: Ctx) -> None:
    c = _limited(t, {})
    c.start()
    t.eq(t.cgroup_read("freezer", c.pid, "freezer.state"), "THAWED", "freezer.state of a running container")
    t.eq(sysutil.proc_cgroups(c.pid).get("freezer"), c.bundle.linux["cgroupsPath"], "freezer cgroup path")


@case("cgroups/hugetlb-limit", needs=("hugetlb",), spec="config-linux.md hugepageLimits")
def hugetlb_limit(t: Ctx) -> None:
    c = _limited(t, {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
    t.eq(
        t.cgroup_read("hugetlb", c.pid, "hugetlb.2MB.limit_in_bytes"),
        str(4 << 20),
        "hugetlb.2MB.limit_in_bytes",
    )


@case("cgroups/network-classid", needs=("net_cls",), spec="config-linux.md network.classID")
def network_classid(t: Ctx) -> None:
    c = _limited(t, {"network": {"classID": 1048577}})
    t.eq(t.cgroup_read("net_cls", c.pid, "net_cls.classid"), "1048577", "net_cls.classid")


@case("cgroups/network-priorities", needs=("net_prio",), spec="config-linux.md network.priorities")
def network_priorities(t: Ctx) -> None:
    c = _limited(t, {"network": {"priorities": [{"name": "lo", "priority": 7}]}})
    t.check("lo 7" in t.cgroup_read("net_prio", c.pid, "net_prio.ifpriomap"), "net_prio.ifpriomap lacks lo 7")


@case("cgroups/unified", needs=("cgroup_v2",), spec="config-linux.md unified: cgroup v2 key/values")
def unified(t: Ctx) -> None:
    c = _limited(t, {"unified": {"pids.max": "42"}})
    t.eq(t.cgroup_read("unified", c.pid, "pids.max"), "42", "pids.max via unified")


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@case(
    "cgroups/frozen-cgroup-refused",
    needs=("cgroup_v1", "freezer"),
    spec="runtime.md create: a cgroup frozen before create is refused, not waited on (runc: "
    '"container\'s cgroup unexpectedly frozen")',
)
def frozen_cgroup_refused(t: Ctx) -> None:
    """A paused container's cgroup reused, or a crash's leftover: the init would freeze as it joins.
    create must come back (refused) and leave the cgroup as it found it."""
    path = t.cgroup_path("frozen")
    freezer = os.path.join(t.host.hierarchies["freezer"], path.lstrip("/"))
    os.mkdir(freezer)
    try:
        _write(os.path.join(freezer, "freezer.state"), "FROZEN")
        b = t.bundle(["sleep", "300"])
        b.linux["cgroupsPath"] = path
        c = t.create(b, expect_ok=False)  # fails the case if create does not come back
        t.check(not c.create_result.ok, "create into a frozen cgroup succeeded")
        t.check(os.path.isdir(freezer), "the frozen cgroup, which the runtime did not make, was removed")
        state = (sysutil.read_text(os.path.join(freezer, "freezer.state")) or "").strip()
        t.eq(state, "FROZEN", "freezer.state of the refused cgroup")
    finally:
        if os.path.isdir(freezer):
            _write(os.path.join(freezer, "freezer.state"), "THAWED")
            try:
                os.rmdir(freezer)
            except OSError:
                pass  # a runtime's process is still in it: the harness's clean-up reports it


@case(
    "cgroups/shared-path-keeps-the-first",
    needs=("cgroup_v1",),
    spec="runtime.md create/delete: a second container given a running container's cgroupsPath "
    "(refused, as runc 1.2, or let in, as runc 1.1) must not kill it or remove its cgroup",
)
def shared_path_keeps_the_first(t: Ctx) -> None:
    path = t.cgroup_path("shared")
    first = t.bundle(["sleep", "300"])
    first.linux["cgroupsPath"] = path
    a = t.create(first)
    a.start()
    dirs = [t.cgroup_dir(ctrl, a.pid) for ctrl in CONTROLLERS if ctrl in t.host.v1_controllers]
    second = t.bundle(["sleep", "300"])
    second.linux["cgroupsPath"] = path
    b = t.create(second, expect_ok=False)
    if b.create_result.ok:
        b.delete(force=True, expect_ok=False)
    t.check(sysutil.alive(a.pid), "the first container's process died when the second was created or deleted")
    t.eq(a.status(), "running", "status of the first container")
    left = [d for d in dirs if not os.path.isdir(d)]
    t.check(not left, f"the first container's cgroup directories were removed: {left[:3]}")


@case(
    "cgroups/cpuset-empty-parent",
    needs=("cgroup_v1", "cpuset"),
    spec="config-linux.md cgroupsPath: a path below an existing parent whose cpuset is empty (a pod's "
    "cgroup made by a manager that does not set cpusets) works, as runc fills the cpusets down the path",
)
def cpuset_empty_parent(t: Ctx) -> None:
    pod = t.cgroup_path("pod")
    parent = os.path.join(t.host.hierarchies["cpuset"], pod.lstrip("/"))
    os.mkdir(parent)  # cpuset.cpus and cpuset.mems start empty (clone_children is 0)
    b = t.bundle(["sleep", "300"])
    b.linux["cgroupsPath"] = pod + "/new/ctr"  # .../new does not exist yet either
    c = t.create(b)
    t.check(t.cgroup_read("cpuset", c.pid, "cpuset.cpus") != "", "the container's cpuset.cpus is empty")
    c.delete(force=True)
    try:
        os.rmdir(parent)  # ours
    except OSError:
        pass  # the runtime left what it made below it: the harness's clean-up reports it
