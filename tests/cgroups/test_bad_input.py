"""Bad input gets a clear error naming the field, before anything is written; a
write the kernel refuses midway is rolled back and named."""

from __future__ import annotations

import os

import pytest

from pyrunc.cgroups import CgroupError

from .helpers import is_unified, read

pytestmark = pytest.mark.vm
MiB = 1 << 20


def pids_max(mgr) -> str:
    directory = mgr.dir if mgr.version == 2 else mgr.paths["pids"]
    return read(os.path.join(directory, "pids.max"))


def memory_max(mgr) -> str:
    if mgr.version == 2:
        return read(os.path.join(mgr.dir, "memory.max"))
    return read(os.path.join(mgr.paths["memory"], "memory.limit_in_bytes"))


# The values themselves (types, ranges, lists, device rules...) are checked before the mapping, by
# the schema and config/semantic.py, for create and update alike: tests/integration/test_cgroups.py
# asserts those refusals at the command level. Here: what only the target cgroup can answer.
@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"cpu": {"cpus": "0-511"}}, r"linux\.resources\.cpu\.cpus: CPU \d+ is not available \(available: "),
        ({"cpu": {"mems": "7"}}, r"linux\.resources\.cpu\.mems: node 7 is not available"),
        (
            {"blockIO": {"throttleReadBpsDevice": [{"major": 250, "minor": 99, "rate": 1}]}},
            r"throttleReadBpsDevice\[0\]: there is no block device 250:99",
        ),
    ],
)
def test_what_the_cgroup_cannot_take_is_refused_before_any_write(cgroups, resources, message):
    mgr = cgroups.open()
    with pytest.raises(CgroupError, match=message):
        mgr.apply({"pids": {"limit": 10}, **resources})
    assert pids_max(mgr) == "max"  # the valid pids limit beside it was not written either


def has_hugetlb(mgr) -> bool:
    """Can this manager's cgroup take hugetlb limits? A hybrid host may leave hugetlb out of its
    v1 hierarchies (it is then the cgroup2 hierarchy's, which the v1 manager does not use)."""
    if mgr.version == 1:
        return mgr.path("hugetlb") is not None
    return "hugetlb" in read(os.path.join(mgr.mount, "cgroup.controllers")).split()


def test_a_huge_page_size_the_host_lacks_is_refused_before_any_write(cgroups):
    """With a hugetlb hierarchy, the size is checked against the host's; without one, the
    controller's absence is the refusal. Either names the field, and nothing is written."""
    mgr = cgroups.open()
    if has_hugetlb(mgr):
        message = r"hugepageLimits\[0\]\.pageSize: huge page size 3MB is not supported here"
    else:
        message = r"hugepageLimits: the hugetlb cgroup controller is not available on this host"
    with pytest.raises(CgroupError, match=message):
        mgr.apply({"pids": {"limit": 10}, "hugepageLimits": [{"pageSize": "3MB", "limit": 1}]})
    assert pids_max(mgr) == "max"


def test_unknown_fields_are_ignored_and_the_known_ones_applied(cgroups, capfd):
    """The runtime-spec: unknown properties MUST be ignored, not errors (newer managers send
    fields this runtime does not know yet). A key that differs from a known one only in case is
    also unknown (runc would take `CPU` as `cpu`): a warning names it."""
    mgr = cgroups.open()
    mgr.apply(
        {
            "pids": {"limit": 10, "burst": 3},
            "memroy": {"limit": 1},
            "memory": {"limt": 1},
            "CPU": {"shares": 2},
            "futureController": {"x": 1},
            "devices": [{"allow": True, "access": "rwm", "futureField": 1}],
        }
    )
    assert pids_max(mgr) == "10"
    err = capfd.readouterr().err
    assert "linux.resources.CPU: unknown property, ignored" in err and "'cpu'" in err, err
    assert "memroy" not in err, "only a name that differs in case is a warning (the rest: --debug)"


def test_unavailable_controllers_are_named(cgroups):
    mgr = cgroups.open()
    if is_unified():
        cases = [
            (
                {"unified": {"nosuch.max": "1"}},
                r"unified\.nosuch\.max: the nosuch controller is not available",
            ),
            ({"network": {"classID": 1}}, r"network: net_cls/net_prio do not exist on cgroup v2"),
        ]
    else:
        cases = [
            (
                {"network": {"classID": 1}},
                r"network\.classID: the net_cls cgroup controller is not available",
            ),
            (
                {"network": {"priorities": [{"name": "lo", "priority": 1}]}},
                r"priorities\[0\]: the net_prio cgroup controller is not available",
            ),
            ({"rdma": {"mlx5_0": {"hcaHandles": 1}}}, r"rdma: the rdma cgroup controller is not available"),
            (
                {"unified": {"memory.max": "1"}},
                r"unified: holds cgroup v2 settings, but this host uses cgroup v1",
            ),
        ]
    for resources, message in cases:
        with pytest.raises(CgroupError, match=message):
            mgr.apply({"pids": {"limit": 10}, **resources})
        assert pids_max(mgr) == "max"


@pytest.mark.v2only
@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"memory": {"swappiness": 10}}, r"memory\.swappiness: cgroup v1 only"),
        ({"memory": {"kernel": 1 << 20}}, r"memory\.kernel: cgroup v1 only"),
        (
            {"memory": {"disableOOMKiller": True}},
            r"memory\.disableOOMKiller: the OOM killer cannot be disabled",
        ),
        (
            {"cpu": {"realtimeRuntime": 1000}},
            r"cpu\.realtimeRuntime: realtime CPU scheduling is cgroup v1 only",
        ),
        ({"blockIO": {"leafWeight": 100}}, r"blockIO\.leafWeight: cgroup v1 only"),
        ({"memory": {"swap": 100 * MiB}}, r"memory\.swap: unable to set a swap limit without a memory limit"),
    ],
)
def test_v1_only_settings_are_refused_on_v2(cgroups, resources, message):
    mgr = cgroups.open()
    with pytest.raises(CgroupError, match=message):
        mgr.apply({"pids": {"limit": 10}, **resources})
    assert pids_max(mgr) == "max"


@pytest.mark.v2only
def test_a_write_the_kernel_refuses_is_named_and_earlier_writes_rolled_back(cgroups):
    mgr = cgroups.open()
    with pytest.raises(CgroupError) as caught:
        mgr.apply({"pids": {"limit": 10}, "memory": {"limit": 64 * MiB}, "unified": {"memory.high": "lots"}})
    message = str(caught.value)
    assert message.startswith("linux.resources.unified.memory.high: cannot write 'lots' to ")
    assert f"{mgr.dir}/memory.high" in message and "Invalid argument" in message
    assert "rolled back" in message
    assert pids_max(mgr) == "max"
    assert memory_max(mgr) == "max"


@pytest.mark.v1only
def test_v1_write_refused_midway_is_rolled_back(cgroups):
    # A nested cgroup's parent has no realtime budget, so the kernel refuses the
    # child's cpu.rt_runtime_us after the memory limit was already written.
    cgroups.open("p")
    mgr = cgroups.open("p", "c")
    before = memory_max(mgr)
    with pytest.raises(CgroupError) as caught:
        mgr.apply({"memory": {"limit": 64 * MiB}, "cpu": {"realtimeRuntime": 1000}})
    message = str(caught.value)
    assert message.startswith("linux.resources.cpu.realtimeRuntime: cannot write '1000' to ")
    assert "cpu.rt_runtime_us: Invalid argument" in message
    assert "rolled back" in message
    assert memory_max(mgr) == before


@pytest.mark.v1only
def test_v1_memory_limit_below_usage_explains_itself(cgroups, workloads):
    mgr = cgroups.open()
    holder = workloads(
        "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo held; while :; do sleep 600; done", mgr
    )
    assert holder.proc.stdout.readline() == b"held\n"
    with pytest.raises(
        CgroupError, match=r"memory\.limit: .*is below what the container uses \(current usage: \d+"
    ):
        mgr.update({"memory": {"limit": 1 * MiB}})


def test_check_before_update_refuses_a_limit_below_usage(cgroups, workloads):
    mgr = cgroups.open()
    holder = workloads(
        "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo held; while :; do sleep 600; done", mgr
    )
    assert holder.proc.stdout.readline() == b"held\n"
    with pytest.raises(CgroupError, match=r"memory\.limit: 4194304 is not above the current usage"):
        mgr.update({"memory": {"limit": 4 * MiB, "checkBeforeUpdate": True}}, where="linux.resources")
    assert holder.proc.poll() is None
