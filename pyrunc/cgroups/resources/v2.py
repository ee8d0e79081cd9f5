"""linux.resources -> cgroup v2 files (one unified directory), with v1 values converted."""

from pyrunc.cgroups._fs import CgroupError
from pyrunc.cgroups.resources import common
from pyrunc.cgroups.resources import values as val
from pyrunc.cgroups.resources.common import THROTTLES
from pyrunc.cgroups.resources.transaction import BpfDevices, Write, commit
from pyrunc.cgroups.resources.values import BLOCKIO_FIELDS, MEMORY_FIELDS
from pyrunc.config.semantic import SWAPPINESS_UNSET
from pyrunc.paths import basename, join, path_exists


def convert_shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000], linearly (runc 1.1, crun 1.8)."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def convert_blkio_weight(weight: int) -> int:
    """blkio weight [10, 1000] -> io.weight [1, 10000] (runc, crun)."""
    return 1 + (weight - 10) * 9999 // 990


def convert_swap(swap: int | None, limit: int | None) -> int | None:
    """OCI memory.swap is memory+swap; v2's memory.swap.max is swap alone
    (runc's ConvertMemorySwapToCgroupV2Value)."""
    if limit == -1 and swap is None:
        return -1
    if swap is None or swap == -1:
        return swap
    if limit is None:
        raise CgroupError("unable to set a swap limit without a memory limit")
    if limit == -1:
        return swap
    if swap < limit:
        raise CgroupError(f"memory+swap ({swap}) must not be below the memory limit ({limit})")
    return swap - limit


def _v2_number(value: int) -> str:
    return "max" if value == -1 else str(value)


V2_EFFECTIVE = ("cpuset.cpus.effective", "cpuset.mems.effective")  # the parent's, for cpuset


def apply_v2(mgr, resources: dict, *, where: str, default_devices: bool, update: bool) -> None:
    res = val.top_level(resources, where)
    d = mgr.dir
    if res.get("network"):
        raise CgroupError(f"{where}.network: net_cls/net_prio do not exist on cgroup v2")
    ops: list = []
    ops += common.pids(res.get("pids"), d, f"{where}.pids")
    ops += _v2_memory(res.get("memory"), d, f"{where}.memory")
    ops += _v2_io(res.get("blockIO"), d, f"{where}.blockIO")
    ops += _v2_cpu(res.get("cpu"), d, f"{where}.cpu")
    if not update:
        state = common.device_state(res, where, default_devices)
        if state is not None:
            ops.append(BpfDevices(f"{where}.devices", d, state))
    ops += common.cpuset(res.get("cpu"), d, f"{where}.cpu", V2_EFFECTIVE)
    ops += common.hugetlb(res.get("hugepageLimits"), d, f"{where}.hugepageLimits", v2=True)
    ops += common.rdma(res.get("rdma"), d, f"{where}.rdma")
    ops += _unified(res.get("unified"), d, f"{where}.unified")
    _check_v2_controllers(mgr, ops)
    common.ensure_files_exist(ops)
    commit(ops)


def _check_v2_controllers(mgr, ops: list) -> None:
    available = mgr.controllers()
    for op in ops:
        if not isinstance(op, Write):
            continue
        controller = basename(op.path).split(".", 1)[0]
        if controller in ("cgroup", "devices") or controller in available:
            continue
        listing = " ".join(sorted(available)) or "none"
        raise CgroupError(
            f"{op.field}: the {controller} controller is not available in {mgr.dir}"
            f" (cgroup.controllers: {listing})"
        )


def _v2_memory(values, d: str, where: str) -> list:
    mem = val.section(values, where, MEMORY_FIELDS)
    if not mem:
        return []
    for name in ("kernel", "kernelTCP", "useHierarchy"):
        if mem.get(name) is not None:
            raise CgroupError(f"{where}.{name}: cgroup v1 only; this host uses cgroup v2")
    if mem.get("swappiness") not in (None, -1, SWAPPINESS_UNSET):
        raise CgroupError(f"{where}.swappiness: cgroup v1 only; this host uses cgroup v2")
    if mem.get("disableOOMKiller"):
        raise CgroupError(f"{where}.disableOOMKiller: the OOM killer cannot be disabled on cgroup v2")
    limit = val.limit(mem, "limit")
    swap = val.limit(mem, "swap")
    reservation = val.limit(mem, "reservation")
    check = mem.get("checkBeforeUpdate")
    if limit is None and swap is None and reservation is None:
        return []
    effective_limit = limit
    if swap not in (None, -1) and limit is None:
        # A swap-only update: the memory part comes from the current limit.
        current = val.first_readable(join(d, "memory.max"))
        effective_limit = None if current in ("", "max") else int(current)
    try:
        swap_only = convert_swap(swap, effective_limit)
    except CgroupError as e:
        raise CgroupError(f"{where}.swap: {e}") from None
    if check and limit and limit > 0:
        usage = int(val.first_readable(join(d, "memory.current")) or 0)
        usage += int(val.first_readable(join(d, "memory.swap.current")) or 0)
        budget = limit + (swap_only if swap_only and swap_only > 0 else 0)
        if usage >= budget:
            raise CgroupError(
                f"{where}.limit: {limit} is not above the current usage {usage} (checkBeforeUpdate)"
            )
    ops: list = []
    if swap_only is not None and path_exists(join(d, "memory.swap.max")):
        ops.append(Write(f"{where}.swap", d, "memory.swap.max", _v2_number(swap_only)))
    if limit:
        explain = common.memory_busy(d, "memory.current", "memory.peak", limit)
        ops.append(Write(f"{where}.limit", d, "memory.max", _v2_number(limit), explain=explain))
    if reservation:
        ops.append(Write(f"{where}.reservation", d, "memory.low", _v2_number(reservation)))
    return ops


def _v2_cpu(section, d: str, where: str) -> list:
    if not section:
        return []
    cpu = val.cpu_common(section, where)
    if cpu["rt_runtime"] or cpu["rt_period"]:
        name = "realtimeRuntime" if cpu["rt_runtime"] else "realtimePeriod"
        raise CgroupError(
            f"{where}.{name}: realtime CPU scheduling is cgroup v1 only; this host uses cgroup v2"
        )
    ops: list = []
    if cpu["shares"]:
        weight = convert_shares_to_weight(cpu["shares"])
        ops.append(Write(f"{where}.shares", d, "cpu.weight", str(weight)))
    if cpu["quota"] or cpu["period"]:
        # cpu.max holds both: fill the one not given from the current setting.
        current = (val.first_readable(join(d, "cpu.max")) or "max 100000").split()
        quota = _v2_number(cpu["quota"]) if cpu["quota"] else current[0]
        period = str(cpu["period"]) if cpu["period"] else current[1]
        field = f"{where}.quota" if cpu["quota"] else f"{where}.period"
        ops.append(Write(field, d, "cpu.max", f"{quota} {period}"))
    if cpu["burst"] is not None:
        ops.append(Write(f"{where}.burst", d, "cpu.max.burst", str(cpu["burst"])))
    if cpu["idle"] is not None:
        ops.append(Write(f"{where}.idle", d, "cpu.idle", str(cpu["idle"])))
    return ops


def _v2_io(values, d: str, where: str) -> list:
    blkio = val.section(values, where, BLOCKIO_FIELDS)
    if blkio.get("leafWeight"):
        raise CgroupError(f"{where}.leafWeight: cgroup v1 only (no leaf weights on cgroup v2)")
    bfq = path_exists(join(d, "io.bfq.weight"))
    ops: list = []
    weight = blkio.get("weight") or None  # 0 is "not set" (dockerd sends it)
    if weight is not None:
        if bfq:  # BFQ takes the v1 range as is
            ops.append(Write(f"{where}.weight", d, "io.bfq.weight", str(weight)))
        else:
            ops.append(Write(f"{where}.weight", d, "io.weight", str(convert_blkio_weight(weight))))
    for i, entry in enumerate(blkio.get("weightDevice") or []):
        here = f"{where}.weightDevice[{i}]"
        key = val.block_device(entry, here)
        val.section(entry, here, {"major", "minor", "weight", "leafWeight"})
        if entry.get("leafWeight") is not None:
            raise CgroupError(f"{here}.leafWeight: cgroup v1 only (no leaf weights on cgroup v2)")
        w = entry.get("weight")
        if w is None:
            continue
        filename, value = ("io.bfq.weight", w) if bfq else ("io.weight", convert_blkio_weight(w))
        ops.append(Write(f"{here}.weight", d, filename, f"{key} {value}", key=key, reset=f"{key} default"))
    for name, _, io_key in THROTTLES:
        for i, entry in enumerate(blkio.get(name) or []):
            here = f"{where}.{name}[{i}]"
            key = val.block_device(entry, here)
            val.section(entry, here, {"major", "minor", "rate"})
            # v1 uses 0 for "no limit"; v2 spells it max.
            line = f"{key} {io_key}={entry['rate'] or 'max'}"
            reset = f"{key} rbps=max wbps=max riops=max wiops=max"
            ops.append(Write(here, d, "io.max", line, key=key, reset=reset))
    return ops


def _unified(files, d: str, where: str) -> list:
    """unified: file name -> value, written as given (the names were checked: config/semantic.py)."""
    return [Write(f"{where}.{key}", d, key, value) for key, value in (files or {}).items() if value.strip()]
