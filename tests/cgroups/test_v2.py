"""cgroup v2 specifics. The BPF device controller, cgroup.freeze and cgroup.kill
exist in any cgroup2 hierarchy, so those tests also run here on the hybrid
host's /sys/fs/cgroup/unified; controller conversions need the v2 guest."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pyrunc.cgroups import CgroupError, bpf
from pyrunc.cgroups.resources import convert_shares_to_weight

from .helpers import eventually, read, run_in

pytestmark = pytest.mark.vm
MiB = 1 << 20


def attached_programs(directory: str) -> list[int]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bpf.attached_program_ids(fd)
    finally:
        os.close(fd)


def test_bpf_device_program_denies_and_allows(v2_cgroup, tmp_path):
    v2_cgroup.apply(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "w"},
            ]
        },
        default_devices=False,
    )
    assert len(attached_programs(v2_cgroup.dir)) == 1
    status, out, _ = run_in(v2_cgroup, "head -c3 /dev/zero | wc -c")
    assert (status, out.strip()) == (0, "3")  # c 1:5 r
    status, _, err = run_in(v2_cgroup, "echo > /dev/zero")  # c 1:5 w: not granted
    assert status != 0 and "Operation not permitted" in err
    status, _, err = run_in(v2_cgroup, "echo x > /dev/null")  # c 1:3 w
    assert status == 0, err
    status, _, err = run_in(v2_cgroup, "exec 3</dev/null")  # c 1:3 r: not granted
    assert status != 0 and "Operation not permitted" in err
    status, _, err = run_in(v2_cgroup, f"mknod {tmp_path}/zero c 1 5")
    assert status != 0 and "Operation not permitted" in err


def test_bpf_default_devices_keep_the_host_console_out(v2_cgroup, tmp_path):
    from .test_enforcement import host_console_node

    console = host_console_node(tmp_path)
    v2_cgroup.apply({"devices": [{"allow": False, "access": "rwm"}]})
    status, _, err = run_in(v2_cgroup, f"exec 3<>{console}")
    assert status != 0 and "Operation not permitted" in err
    status, _, err = run_in(v2_cgroup, "exec 3<>/dev/null")  # the defaults still work
    assert status == 0, err


def test_frozen_v2_cgroups_are_refused(cgroups, v2_mount, v2_cgroup):
    # Issue 18 item 4 on cgroup.freeze / cgroup.events: the cgroup itself, and one below a
    # frozen parent (a new, empty cgroup is frozen in effect from birth); made parents go again.
    from pyrunc.cgroups.v2 import V2Manager

    v2_cgroup.freeze()
    again = V2Manager.for_path(cgroups.path("c"), mount=v2_mount)
    with pytest.raises(CgroupError, match="container's cgroup unexpectedly frozen"):
        again.create()
    assert os.path.isdir(v2_cgroup.dir)
    below = cgroups.track(V2Manager.for_path(cgroups.path("c", "new", "leaf"), mount=v2_mount))
    with pytest.raises(CgroupError, match="unexpectedly frozen"):
        below.create()
    assert not os.path.exists(os.path.join(v2_cgroup.dir, "new"))
    v2_cgroup.thaw()
    below.create()
    assert below.frozen_file() is None


def test_reapplying_replaces_the_device_program(v2_cgroup):
    v2_cgroup.apply({"devices": [{"allow": False, "access": "rwm"}]})
    first = attached_programs(v2_cgroup.dir)
    deny_null = [{"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    v2_cgroup.apply({"devices": deny_null}, default_devices=False)
    second = attached_programs(v2_cgroup.dir)
    assert len(first) == len(second) == 1 and first != second
    status, _, err = run_in(v2_cgroup, "exec 3</dev/kmsg")  # allowed again by the new program
    assert status == 0, err
    status, _, err = run_in(v2_cgroup, "exec 3</dev/null")
    assert status != 0 and "Operation not permitted" in err


def test_allow_all_detaches_every_device_program(v2_cgroup):
    v2_cgroup.apply({"devices": [{"allow": False, "access": "rwm"}]})
    assert len(attached_programs(v2_cgroup.dir)) == 1
    v2_cgroup.apply({"devices": [{"allow": True, "access": "rwm"}]})
    assert attached_programs(v2_cgroup.dir) == []
    status, _, err = run_in(v2_cgroup, "exec 3</dev/kmsg")
    assert status == 0, err


def test_update_leaves_device_rules_alone(v2_cgroup):
    v2_cgroup.apply({"devices": [{"allow": False, "access": "rwm"}]})
    before = attached_programs(v2_cgroup.dir)
    v2_cgroup.update({"devices": [{"allow": True, "access": "rwm"}]})
    assert attached_programs(v2_cgroup.dir) == before


def test_cgroup_freeze_and_kill(v2_cgroup, workloads, tmp_path):
    counter = tmp_path / "n"
    workloads(f"i=0; while :; do i=$((i+1)); echo $i > {counter}; done", v2_cgroup)
    assert eventually(lambda: counter.exists() and counter.read_text().strip() not in ("", "1"))
    v2_cgroup.freeze()
    assert read(f"{v2_cgroup.dir}/cgroup.freeze") == "1"
    assert "frozen 1" in read(f"{v2_cgroup.dir}/cgroup.events")
    first = counter.read_text()
    time.sleep(0.3)
    assert counter.read_text() == first
    v2_cgroup.kill_all(signal.SIGKILL)  # cgroup.kill: kills frozen tasks too
    assert eventually(lambda: v2_cgroup.pids() == [])
    v2_cgroup.thaw()


@pytest.mark.v2only
def test_v1_values_are_converted_like_runc(cgroups):
    mgr = cgroups.open()
    mgr.apply(
        {
            "cpu": {"shares": 1024, "quota": 50000, "period": 200000, "burst": 1000},
            "memory": {"limit": 64 * MiB, "swap": 96 * MiB, "reservation": 16 * MiB},
            "pids": {"limit": -1},
        }
    )
    assert read(f"{mgr.dir}/cpu.weight") == str(convert_shares_to_weight(1024)) == "39"
    assert read(f"{mgr.dir}/cpu.max") == "50000 200000"
    assert read(f"{mgr.dir}/cpu.max.burst") == "1000"
    assert read(f"{mgr.dir}/memory.max") == str(64 * MiB)
    assert read(f"{mgr.dir}/memory.low") == str(16 * MiB)
    if os.path.exists(f"{mgr.dir}/memory.swap.max"):
        assert read(f"{mgr.dir}/memory.swap.max") == str(32 * MiB)  # memory+swap minus memory
    assert read(f"{mgr.dir}/pids.max") == "max"
    # Updating half of cpu.max keeps the other half.
    mgr.update({"cpu": {"quota": 25000}})
    assert read(f"{mgr.dir}/cpu.max") == "25000 200000"
    mgr.update({"memory": {"limit": -1}})
    assert read(f"{mgr.dir}/memory.max") == "max"


@pytest.mark.v2only
def test_unified_keys_are_written_last_and_win(cgroups):
    mgr = cgroups.open()
    mgr.apply(
        {"memory": {"limit": 64 * MiB}, "unified": {"memory.max": str(48 * MiB), "memory.high": "40000000"}}
    )
    assert read(f"{mgr.dir}/memory.max") == str(48 * MiB)
    assert read(f"{mgr.dir}/memory.high") == "39997440"  # the kernel rounds to pages


@pytest.mark.v2only
def test_hugetlb_limits_include_reservations(cgroups):
    mgr = cgroups.open()
    mgr.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 8 * MiB}]})
    assert read(f"{mgr.dir}/hugetlb.2MB.max") == str(8 * MiB)
    if os.path.exists(f"{mgr.dir}/hugetlb.2MB.rsvd.max"):
        assert read(f"{mgr.dir}/hugetlb.2MB.rsvd.max") == str(8 * MiB)


@pytest.mark.v2only
def test_block_io_maps_onto_io_max_and_weights(cgroups):
    devices = sorted(os.listdir("/sys/block"))
    assert devices, "no block device in the guest (tests/vm/run-v2 attaches a scratch disk)"
    major, minor = (int(x) for x in read(f"/sys/block/{devices[0]}/dev").split(":"))
    mgr = cgroups.open()
    assert "io" in mgr.controllers()
    mgr.apply(
        {
            "blockIO": {
                "weight": 500,
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}],
            }
        }
    )
    line = next(ln for ln in read(f"{mgr.dir}/io.max").splitlines() if ln.startswith(f"{major}:{minor} "))
    assert line == f"{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100"
    if os.path.exists(f"{mgr.dir}/io.bfq.weight"):
        assert read(f"{mgr.dir}/io.bfq.weight").split()[-1] == "500"  # BFQ takes the v1 range
    else:
        assert read(f"{mgr.dir}/io.weight") == "default 4950"  # 1 + (500-10)*9999/990
    # v1's "0 = no limit" is v2's max; the device's other limits stay.
    mgr.update({"blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 0}]}})
    assert f"{major}:{minor} rbps=max wbps=max riops=max wiops=100" in read(f"{mgr.dir}/io.max").splitlines()


@pytest.mark.v2only
def test_rdma_limits_reach_the_kernel(cgroups):
    mgr = cgroups.open()
    assert "rdma" in mgr.controllers()
    # No RDMA hardware in the guest: the kernel refuses the device by name, and we say where.
    with pytest.raises(
        CgroupError, match=r"rdma\.mlx5_0: cannot write 'mlx5_0 hca_handle=2 hca_object=100' to "
    ):
        mgr.apply({"pids": {"limit": 5}, "rdma": {"mlx5_0": {"hcaHandles": 2, "hcaObjects": 100}}})
    assert read(f"{mgr.dir}/pids.max") == "max"
