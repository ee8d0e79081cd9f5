"""Mapping shared by cgroup v1 and v2: pids, hugetlb, rdma, cpuset, the device rules, and the
checks made on a list of operations before the first write (that the target files exist)."""

import errno

from pyrunc.cgroups import devices as dev
from pyrunc.cgroups._fs import CgroupError, oserror_text
from pyrunc.cgroups.resources import values as val
from pyrunc.cgroups.resources.transaction import Write
from pyrunc.paths import dirname, join, path_exists

THROTTLES = (
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"),
)


def memory_busy(directory: str, usage_file: str, peak_file: str, limit: int):
    def explain(e: OSError) -> str:
        if e.errno != errno.EBUSY:
            return oserror_text(e)
        usage = val.first_readable(join(directory, usage_file)) or "?"
        peak = val.first_readable(join(directory, peak_file)) or "?"
        return (
            f"the limit {limit} is below what the container uses (current usage: {usage}, peak usage: {peak})"
        )

    return explain


def device_state(resources: dict, where: str, default_devices: bool) -> dev.DeviceState | None:
    if "devices" not in resources and not default_devices:
        return None
    rules = dev.parse_rules(resources.get("devices"), f"{where}.devices")
    if default_devices:
        rules += dev.parse_rules(list(dev.DEFAULT_ALLOWED_DEVICES), "default devices")
    return dev.emulate(rules)


def require(directory: str | None, controller: str, where: str) -> str:
    if not directory:
        raise CgroupError(f"{where}: the {controller} cgroup controller is not available on this host")
    return directory


def ensure_files_exist(ops: list) -> None:
    for op in ops:
        if isinstance(op, Write) and not path_exists(op.path):
            raise CgroupError(f"{op.field}: {op.path} does not exist (not supported by this kernel)")


def pids(values, directory: str | None, where: str) -> list:
    limit = val.limit(val.section(values, where, {"limit"}), "limit")
    if limit is None:
        return []
    d = require(directory, "pids", where)
    return [Write(f"{where}.limit", d, "pids.max", "max" if limit == -1 else str(limit))]


def hugetlb(entries, directory: str | None, where: str, *, v2: bool) -> list:
    if not entries:
        return []
    d = require(directory, "hugetlb", where)
    suffix, rsvd_suffix = ("max", "rsvd.max") if v2 else ("limit_in_bytes", "rsvd.limit_in_bytes")
    ops = []
    for i, entry in enumerate(entries):
        here = f"{where}[{i}]"
        size, limit = entry["pageSize"], entry["limit"]
        filename = f"hugetlb.{size}.{suffix}"
        if not path_exists(join(d, filename)):
            raise CgroupError(f"{here}.pageSize: huge page size {size} is not supported here (no {filename})")
        ops.append(Write(f"{here}.limit", d, filename, str(limit)))
        rsvd = f"hugetlb.{size}.{rsvd_suffix}"
        if path_exists(join(d, rsvd)):
            # Reservations are charged separately (Linux 5.7+); runc limits both.
            ops.append(Write(f"{here}.limit", d, rsvd, str(limit)))
    return ops


def rdma(devices, directory: str | None, where: str) -> list:
    if not devices:
        return []
    d = require(directory, "rdma", where)
    ops = []
    for name, limits in devices.items():
        val.section(limits, f"{where}.{name}", {"hcaHandles", "hcaObjects"})
        line = val.rdma_line(name, limits)
        reset = f"{name} hca_handle=max hca_object=max"
        ops.append(Write(f"{where}.{name}", d, "rdma.max", line, key=name, reset=reset))
    return ops


# cpu.cpus / cpu.mems: the field, the host's file of what is online, the word for one id.
CPUSET_LISTS = (
    ("cpus", "/sys/devices/system/cpu/online", "CPU"),
    ("mems", "/sys/devices/system/node/online", "node"),
)


def cpuset(values, directory: str | None, where: str, effective: tuple[str, str]) -> list:
    """cpu.cpus and cpu.mems -> cpuset.cpus and cpuset.mems, each within what the parent cgroup
    offers: `effective` names the parent's files of that (v1: cpuset.effective_cpus and
    cpuset.effective_mems; v2: cpuset.cpus.effective and cpuset.mems.effective)."""
    cpu = val.section(values, where, val.CPU_FIELDS)
    if not cpu.get("cpus") and not cpu.get("mems"):
        return []
    d = require(directory, "cpuset", where)
    parent = dirname(d)
    ops = []
    for (field, host_file, what), parent_file in zip(CPUSET_LISTS, effective, strict=True):
        text = val.check_ids(cpu.get(field), f"{where}.{field}", f"{parent}/{parent_file}", host_file, what)
        if text:
            ops.append(Write(f"{where}.{field}", d, f"cpuset.{field}", text))
    return ops
