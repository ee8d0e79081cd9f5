"""linux.resources -> cgroup v1 files (one directory per controller)."""

from pyrunc.cgroups._fs import CgroupError
from pyrunc.cgroups.resources import common
from pyrunc.cgroups.resources import values as val
from pyrunc.cgroups.resources.common import THROTTLES
from pyrunc.cgroups.resources.transaction import CfsPeriodQuota, V1Devices, Write, commit
from pyrunc.cgroups.resources.values import BLOCKIO_FIELDS, MEMORY_FIELDS
from pyrunc.config.semantic import SWAPPINESS_UNSET
from pyrunc.paths import join, path_exists

V1_EFFECTIVE = ("cpuset.effective_cpus", "cpuset.effective_mems")  # the parent's, for cpuset


def apply_v1(mgr, resources: dict, *, where: str, default_devices: bool, update: bool) -> None:
    res = val.top_level(resources, where)
    if res.get("unified"):
        raise CgroupError(f"{where}.unified: holds cgroup v2 settings, but this host uses cgroup v1")
    paths = mgr.paths
    ops: list = []
    ops += common.cpuset(res.get("cpu"), paths.get("cpuset"), f"{where}.cpu", V1_EFFECTIVE)
    if not update:
        state = common.device_state(res, where, default_devices)
        if state is not None:
            directory = common.require(paths.get("devices"), "devices", f"{where}.devices")
            ops.append(V1Devices(f"{where}.devices", directory, state))
    ops += _v1_memory(res.get("memory"), paths.get("memory"), f"{where}.memory")
    ops += _v1_cpu(res.get("cpu"), paths.get("cpu"), f"{where}.cpu")
    ops += common.pids(res.get("pids"), paths.get("pids"), f"{where}.pids")
    ops += _v1_blkio(res.get("blockIO"), paths.get("blkio"), f"{where}.blockIO")
    ops += common.hugetlb(
        res.get("hugepageLimits"), paths.get("hugetlb"), f"{where}.hugepageLimits", v2=False
    )
    ops += _v1_network(res.get("network"), paths, f"{where}.network")
    ops += common.rdma(res.get("rdma"), paths.get("rdma"), f"{where}.rdma")
    common.ensure_files_exist(ops)
    commit(ops)


def _v1_memory(values, directory: str | None, where: str) -> list:
    mem = val.section(values, where, MEMORY_FIELDS)
    if not mem:
        return []
    limit = val.limit(mem, "limit")
    swap = val.limit(mem, "swap")
    reservation = val.limit(mem, "reservation")
    kernel = val.limit(mem, "kernel")
    kernel_tcp = val.limit(mem, "kernelTCP")
    swappiness = mem.get("swappiness")
    if swappiness == -1 or swappiness == SWAPPINESS_UNSET:  # runc: "leave it"
        swappiness = None
    disable_oom = mem.get("disableOOMKiller")
    hierarchy = mem.get("useHierarchy")
    check = mem.get("checkBeforeUpdate")
    wanted = [limit, swap, reservation, kernel, kernel_tcp, swappiness, disable_oom, hierarchy]
    if all(v is None for v in wanted):
        return []
    d = common.require(directory, "memory", where)
    memsw = path_exists(join(d, "memory.memsw.limit_in_bytes"))
    if limit == -1 and swap is None and memsw:
        swap = -1  # runc: unlimited memory without a swap value means unlimited swap too
    if check and limit and limit > 0:
        usage = int(val.first_readable(join(d, "memory.usage_in_bytes")) or 0)
        if usage >= limit:
            raise CgroupError(
                f"{where}.limit: {limit} is not above the current usage {usage} (checkBeforeUpdate)"
            )
    ops: list = []
    limit_op = swap_op = None
    if limit:
        explain = common.memory_busy(d, "memory.usage_in_bytes", "memory.max_usage_in_bytes", limit)
        limit_op = Write(f"{where}.limit", d, "memory.limit_in_bytes", str(limit), explain=explain)
    if swap and memsw:
        # Without swap accounting (swapaccount=0) there is nothing to limit: crun ignores it too.
        swap_op = Write(f"{where}.swap", d, "memory.memsw.limit_in_bytes", str(swap))
    if limit_op and swap_op and swap is not None:
        # The kernel keeps memsw >= memory at every step: raise swap first when growing.
        current = int(val.first_readable(join(d, "memory.limit_in_bytes")) or 0)
        ops += [swap_op, limit_op] if swap == -1 or current < swap else [limit_op, swap_op]
    else:
        ops += [op for op in (limit_op, swap_op) if op]
    if reservation:
        ops.append(Write(f"{where}.reservation", d, "memory.soft_limit_in_bytes", str(reservation)))
    if kernel and path_exists(join(d, "memory.kmem.limit_in_bytes")):
        ops.append(Write(f"{where}.kernel", d, "memory.kmem.limit_in_bytes", str(kernel)))
    if kernel_tcp and path_exists(join(d, "memory.kmem.tcp.limit_in_bytes")):
        ops.append(Write(f"{where}.kernelTCP", d, "memory.kmem.tcp.limit_in_bytes", str(kernel_tcp)))
    if disable_oom:
        ops.append(
            Write(f"{where}.disableOOMKiller", d, "memory.oom_control", "1", previous_from=_oom_kill_disable)
        )
    if hierarchy is not None:
        ops.append(Write(f"{where}.useHierarchy", d, "memory.use_hierarchy", "1" if hierarchy else "0"))
    if swappiness is not None:
        ops.append(Write(f"{where}.swappiness", d, "memory.swappiness", str(swappiness)))
    return ops


def _oom_kill_disable(text: str) -> str | None:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill_disable":
            return value.strip()
    return None


def _v1_cpu(section, directory: str | None, where: str) -> list:
    if not section:
        return []
    cpu = val.cpu_common(section, where)
    if not _any_cpu_setting(cpu):
        return []
    d = common.require(directory, "cpu", where)
    ops: list = []
    if cpu["shares"]:
        ops.append(Write(f"{where}.shares", d, "cpu.shares", str(cpu["shares"])))
    if cpu["period"] or cpu["quota"]:
        ops.append(CfsPeriodQuota(where, d, cpu["period"], cpu["quota"]))
    if cpu["burst"] is not None:
        ops.append(Write(f"{where}.burst", d, "cpu.cfs_burst_us", str(cpu["burst"])))
    ops += _v1_realtime(cpu, d, where)
    if cpu["idle"] is not None:
        ops.append(Write(f"{where}.idle", d, "cpu.idle", str(cpu["idle"])))
    return ops


def _any_cpu_setting(cpu: dict) -> bool:
    flags = (cpu["shares"], cpu["quota"], cpu["period"], cpu["rt_runtime"], cpu["rt_period"])
    return any(flags) or cpu["burst"] is not None or cpu["idle"] is not None


def _v1_realtime(cpu: dict, d: str, where: str) -> list:
    period = runtime = None
    if cpu["rt_period"]:
        period = Write(f"{where}.realtimePeriod", d, "cpu.rt_period_us", str(cpu["rt_period"]))
    if cpu["rt_runtime"]:
        runtime = Write(f"{where}.realtimeRuntime", d, "cpu.rt_runtime_us", str(cpu["rt_runtime"]))
    if period and runtime:
        current_runtime = int(val.first_readable(join(d, "cpu.rt_runtime_us")) or 0)
        # The runtime may never exceed the period: shrink in the order that keeps it so.
        return [runtime, period] if cpu["rt_period"] < current_runtime else [period, runtime]
    return [op for op in (period, runtime) if op]


def _v1_blkio(values, directory: str | None, where: str) -> list:
    blkio = val.section(values, where, BLOCKIO_FIELDS)
    weight = blkio.get("weight") or None  # 0 is "not set" (dockerd sends it)
    leaf = blkio.get("leafWeight") or None
    devices = blkio.get("weightDevice") or []
    throttles = [(name, f, blkio.get(name) or []) for name, f, _ in THROTTLES]
    if weight is None and leaf is None and not devices and not any(t for _, _, t in throttles):
        return []
    d = common.require(directory, "blkio", where)

    def pick(field: str, *names: str) -> str:
        for name in names:
            if path_exists(join(d, name)):
                return name
        raise CgroupError(f"{field}: this kernel has none of {', '.join(names)} (no CFQ/BFQ I/O scheduler)")

    ops: list = []
    if weight is not None:
        name = pick(f"{where}.weight", "blkio.weight", "blkio.bfq.weight")
        ops.append(Write(f"{where}.weight", d, name, str(weight)))
    if leaf is not None:
        name = pick(f"{where}.leafWeight", "blkio.leaf_weight")
        ops.append(Write(f"{where}.leafWeight", d, name, str(leaf)))
    for i, entry in enumerate(devices):
        here = f"{where}.weightDevice[{i}]"
        key = val.block_device(entry, here)
        val.section(entry, here, {"major", "minor", "weight", "leafWeight"})
        if entry.get("weight") is not None:
            name = pick(f"{here}.weight", "blkio.weight_device", "blkio.bfq.weight_device")
            line = f"{key} {entry['weight']}"
            ops.append(Write(f"{here}.weight", d, name, line, key=key, reset=f"{key} 0"))
        if entry.get("leafWeight") is not None:
            name = pick(f"{here}.leafWeight", "blkio.leaf_weight_device")
            line = f"{key} {entry['leafWeight']}"
            ops.append(Write(f"{here}.leafWeight", d, name, line, key=key, reset=f"{key} 0"))
    for name, filename, entries in throttles:
        for i, entry in enumerate(entries):
            here = f"{where}.{name}[{i}]"
            key = val.block_device(entry, here)
            val.section(entry, here, {"major", "minor", "rate"})
            ops.append(Write(here, d, filename, f"{key} {entry['rate']}", key=key, reset=f"{key} 0"))
    return ops


def _v1_network(values, paths: dict, where: str) -> list:
    net = val.section(values, where, {"classID", "priorities"})
    ops: list = []
    class_id = net.get("classID")
    if class_id is not None:
        d = common.require(paths.get("net_cls"), "net_cls", f"{where}.classID")
        ops.append(Write(f"{where}.classID", d, "net_cls.classid", str(class_id)))
    for i, entry in enumerate(net.get("priorities") or []):
        here = f"{where}.priorities[{i}]"
        d = common.require(paths.get("net_prio"), "net_prio", here)
        val.section(entry, here, {"name", "priority"})
        name = entry["name"]
        line = f"{name} {entry['priority']}"
        ops.append(Write(here, d, "net_prio.ifpriomap", line, key=name, reset=f"{name} 0"))
    return ops
