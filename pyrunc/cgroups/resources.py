"""linux.resources -> a validated list of cgroupfs operations -> written with rollback.

Every value is checked and every target file located *before* the first write
(bad input never leaves a half-configured cgroup). If the kernel still rejects
a write, the operations already done are undone in reverse order, as far as
the kernel allows, and the error names the field and the file.

v1 values are mapped to v2 files as runc and crun do (cpu.shares -> cpu.weight,
blkio weight -> io.bfq.weight or io.weight, memory+swap -> memory.swap.max);
fields that only exist on one version are refused clearly on the other
(crun's choice: `unified` on v1; swappiness, kernel memory, disableOOMKiller,
realtime CPU, leafWeight and network on v2).
"""

import errno
import os

from pyrunc.cgroups import devices as dev
from pyrunc.cgroups._fs import (
    CgroupError,
    ignore_unknown_fields,
    oserror_text,
    read_first_line,
    read_keyed,
    read_text,
    write_text,
)

MAX_SHARES = 262144  # kernel MAX_SHARES (1 << 18)
MIN_SHARES = 2

TOP_LEVEL = {"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma", "unified"}
MEMORY_FIELDS = {
    "limit",
    "reservation",
    "swap",
    "kernel",
    "kernelTCP",
    "swappiness",
    "disableOOMKiller",
    "useHierarchy",
    "checkBeforeUpdate",
}
CPU_FIELDS = {
    "shares",
    "quota",
    "burst",
    "period",
    "realtimeRuntime",
    "realtimePeriod",
    "cpus",
    "mems",
    "idle",
}
BLOCKIO_FIELDS = {
    "weight",
    "leafWeight",
    "weightDevice",
    "throttleReadBpsDevice",
    "throttleWriteBpsDevice",
    "throttleReadIOPSDevice",
    "throttleWriteIOPSDevice",
}
THROTTLES = (
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"),
)


# ====================================================================== operations


class Write:
    """Write one value to one cgroup file; undo writes back what was there.

    `key` marks a keyed file (one line per device or interface): the previous
    line for that key is restored, or `reset` when there was none."""

    def __init__(
        self,
        field: str,
        directory: str,
        filename: str,
        value: str,
        *,
        key: str | None = None,
        reset: str | None = None,
        previous_from=None,
        explain=None,
    ) -> None:
        self.field = field
        self.path = os.path.join(directory, filename)
        self.value = value
        self.key = key
        self.reset = reset
        self.previous_from = previous_from
        self.explain = explain
        self.previous: str | None = None
        self.written = False

    def describe(self) -> str:
        return f"{self.value!r} to {self.path}"

    def snapshot(self) -> str | None:
        try:
            text = read_text(self.path)
        except OSError:
            return None
        if self.previous_from:
            return self.previous_from(text)
        if self.key is not None:
            for line in text.splitlines():
                if line.split(" ", 1)[0] == self.key:
                    return line
            return self.reset
        lines = text.strip().splitlines()
        return lines[0] if len(lines) == 1 else None

    def run(self) -> None:
        self.previous = self.snapshot()
        write_text(self.path, self.value)
        self.written = True

    def undo(self) -> None:
        if self.written and self.previous is not None and self.previous != self.value:
            write_text(self.path, self.previous)

    def finish(self) -> None:
        pass


class CfsPeriodQuota:
    """v1 cpu.cfs_period_us + cpu.cfs_quota_us. A new period can be refused
    (EINVAL) while the old quota is still set, when their ratio would exceed
    the parent's: then write the quota first and retry the period (crun)."""

    def __init__(self, field: str, directory: str, period: int | None, quota: int | None) -> None:
        self.field = field
        self.period = (
            Write(f"{field}.period", directory, "cpu.cfs_period_us", str(period)) if period else None
        )
        self.quota = Write(f"{field}.quota", directory, "cpu.cfs_quota_us", str(quota)) if quota else None
        self.path = (self.period or self.quota).path  # type: ignore[union-attr]  # one is given
        self.done: list[Write] = []

    def describe(self) -> str:
        return " and ".join(w.describe() for w in (self.period, self.quota) if w)

    def run(self) -> None:
        deferred = None
        if self.period:
            try:
                self.period.run()
                self.done.append(self.period)
            except OSError as e:
                if e.errno != errno.EINVAL or not self.quota:
                    self._fail(self.period)
                    raise
                deferred = self.period
        if self.quota:
            try:
                self.quota.run()
            except OSError:
                self._fail(self.quota)
                raise
            self.done.append(self.quota)
        if deferred:
            try:
                deferred.run()
            except OSError:
                self._fail(deferred)
                raise
            self.done.append(deferred)

    def _fail(self, write: Write) -> None:
        self.field, self.path = write.field, write.path

    def undo(self) -> None:
        for write in reversed(self.done):
            try:
                write.undo()
            except OSError:
                continue

    def finish(self) -> None:
        pass


class V1Devices:
    """Rewrite a v1 devices cgroup to a target state (see devices.v1_transition)."""

    def __init__(self, field: str, directory: str, target: dev.DeviceState) -> None:
        self.field = field
        self.directory = directory
        self.path = os.path.join(directory, "devices.list")
        self.target = target
        self.original: dev.DeviceState | None = None

    def describe(self) -> str:
        return f"device rules to {self.directory}/devices.allow and devices.deny"

    def _current(self) -> dev.DeviceState:
        return dev.parse_devices_list(read_text(os.path.join(self.directory, "devices.list")))

    def run(self) -> None:
        self.original = self._current()
        for filename, line in dev.v1_transition(self.original, self.target):
            self.path = os.path.join(self.directory, filename)
            write_text(self.path, line)

    def undo(self) -> None:
        if self.original is None:
            return
        for filename, line in dev.v1_transition(self._current(), self.original):
            write_text(os.path.join(self.directory, filename), line)

    def finish(self) -> None:
        pass


class BpfDevices:
    """Attach a device program to a v2 cgroup, replacing the ones attached before."""

    def __init__(self, field: str, directory: str, target: dev.DeviceState) -> None:
        self.field = field
        self.path = directory
        self.target = target
        self.cgroup_fd = -1
        self.new_fd = -1
        self.old_fds: list[int] = []
        self.attached = False
        self.detached_old: list[int] = []

    def describe(self) -> str:
        return f"a BPF device program ({len(self.target.exceptions)} exceptions) to {self.path}"

    def run(self) -> None:
        from pyrunc.cgroups import bpf

        self.cgroup_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attached = bpf.attached_program_ids(self.cgroup_fd)
        except OSError:
            if self.target.is_allow_all():
                return  # no bpf(2) here (seccomp, old kernel): allow-all needs none
            raise
        self.old_fds = [bpf.program_fd_by_id(i) for i in attached]
        if not self.target.is_allow_all():
            # Allow-all needs no program: the old ones are just detached.
            self.new_fd = bpf.load_device_program(dev.bpf_program(self.target))
            bpf.attach(self.cgroup_fd, self.new_fd)
            self.attached = True
        for fd in self.old_fds:
            bpf.detach(self.cgroup_fd, fd)
            self.detached_old.append(fd)

    def undo(self) -> None:
        from pyrunc.cgroups import bpf

        for fd in self.detached_old:
            bpf.attach(self.cgroup_fd, fd)
        if self.attached:
            bpf.detach(self.cgroup_fd, self.new_fd)

    def finish(self) -> None:
        for fd in [self.cgroup_fd, self.new_fd, *self.old_fds]:
            if fd >= 0:
                os.close(fd)
        self.cgroup_fd = self.new_fd = -1
        self.old_fds = []


def commit(ops: list) -> None:
    """Run `ops` in order; on a failure undo the finished ones (newest first)."""
    done: list = []
    try:
        for op in ops:
            try:
                op.run()
            except OSError as e:
                failed_undo = _undo([*done, op])
                detail = op.explain(e) if getattr(op, "explain", None) else oserror_text(e)
                message = f"{op.field}: cannot write {op.describe()}: {detail}"
                if done and not failed_undo:
                    message += f" (the {len(done)} earlier setting(s) were rolled back)"
                elif failed_undo:
                    message += "; could not roll back " + ", ".join(failed_undo)
                raise CgroupError(message) from None
            done.append(op)
    finally:
        for op in ops:
            op.finish()


def _undo(ops: list) -> list[str]:
    failures = []
    for op in reversed(ops):
        try:
            op.undo()
        except OSError as e:
            failures.append(f"{op.path} ({oserror_text(e)})")
    return failures


# ====================================================================== value checks


def _object(value, where: str, allowed: set[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CgroupError(f"{where}: must be an object")
    ignore_unknown_fields(value, where, allowed)
    return value


def _integer(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CgroupError(f"{where}: must be an integer, got {value!r}")
    return value


def _limit(section: dict, name: str, where: str) -> int | None:
    """A byte/count limit: -1 is unlimited, 0 or absent leaves it unchanged (runc)."""
    value = section.get(name)
    if value is None:
        return None
    value = _integer(value, f"{where}.{name}")
    if value < -1:
        raise CgroupError(f"{where}.{name}: must be -1 (unlimited) or a positive number, got {value}")
    return value or None


def _unsigned(section: dict, name: str, where: str, low: int = 0, high: int | None = None) -> int | None:
    value = section.get(name)
    if value is None:
        return None
    value = _integer(value, f"{where}.{name}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise CgroupError(f"{where}.{name}: must be {bound}, got {value}")
    return value


def _boolean(section: dict, name: str, where: str) -> bool | None:
    value = section.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise CgroupError(f"{where}.{name}: must be true or false, got {value!r}")
    return value


def _list(value, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CgroupError(f"{where}: must be an array")
    return value


def parse_id_list(text, where: str) -> set[int]:
    """A kernel CPU/node list ("0-3,6") -> set of ids."""
    if not isinstance(text, str):
        raise CgroupError(f'{where}: must be a string such as "0-2,4", got {text!r}')
    ids: set[int] = set()
    for part in text.strip().split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise CgroupError(f'{where}: {text!r} is not a list such as "0-2,4"')
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise CgroupError(f"{where}: range {part!r} goes backwards")
        ids.update(range(first, last + 1))
    return ids


def _check_ids(text, where: str, available_file: str, fallback: str, what: str) -> str | None:
    if text is None or text == "":
        return None
    wanted = parse_id_list(text, where)
    available_text = _first_readable(available_file, fallback)
    available = parse_id_list(available_text, available_file) if available_text else wanted
    outside = sorted(wanted - available)
    if outside:
        raise CgroupError(f"{where}: {what} {outside[0]} is not available (available: {available_text})")
    return text.strip()


def _first_readable(*paths: str) -> str:
    for path in paths:
        try:
            value = read_first_line(path)
        except OSError:
            continue
        if value:
            return value
    return ""


def _block_device(entry, where: str) -> tuple[int, int]:
    if not isinstance(entry, dict):
        raise CgroupError(f"{where}: must be an object with major and minor")
    major = _unsigned(entry, "major", where)
    minor = _unsigned(entry, "minor", where)
    if major is None or minor is None:
        raise CgroupError(f"{where}: major and minor are required")
    if not os.path.exists(f"/sys/dev/block/{major}:{minor}"):
        raise CgroupError(f"{where}: there is no block device {major}:{minor} on this host")
    return major, minor


def _page_size(entry, where: str) -> tuple[str, int]:
    if not isinstance(entry, dict):
        raise CgroupError(f"{where}: must be an object with pageSize and limit")
    size = entry.get("pageSize")
    if not isinstance(size, str) or not size[:-2].isdigit() or size[-2:] not in ("KB", "MB", "GB"):
        raise CgroupError(f'{where}.pageSize: {size!r} is not a page size such as "2MB" or "1GB"')
    limit = _unsigned(entry, "limit", where)
    if limit is None:
        raise CgroupError(f"{where}.limit: required")
    return size, limit


def _rdma_line(name, limits, where: str) -> str:
    here = f"{where}.{name}"
    if not isinstance(limits, dict):
        raise CgroupError(f"{here}: must be an object with hcaHandles and/or hcaObjects")
    _object(limits, here, {"hcaHandles", "hcaObjects"})
    handles = _unsigned(limits, "hcaHandles", here)
    objects = _unsigned(limits, "hcaObjects", here)
    if handles is None and objects is None:
        raise CgroupError(f"{here}: give hcaHandles and/or hcaObjects")
    parts = [name]
    if handles is not None:
        parts.append(f"hca_handle={handles}")
    if objects is not None:
        parts.append(f"hca_object={objects}")
    return " ".join(parts)


def _memory_busy(directory: str, usage_file: str, peak_file: str, limit: int):
    def explain(e: OSError) -> str:
        if e.errno != errno.EBUSY:
            return oserror_text(e)
        usage = _first_readable(os.path.join(directory, usage_file)) or "?"
        peak = _first_readable(os.path.join(directory, peak_file)) or "?"
        return (
            f"the limit {limit} is below what the container uses (current usage: {usage}, peak usage: {peak})"
        )

    return explain


def _device_state(resources: dict, where: str, default_devices: bool) -> dev.DeviceState | None:
    if "devices" not in resources and not default_devices:
        return None
    rules = dev.parse_rules(resources.get("devices"), f"{where}.devices")
    if default_devices:
        rules += dev.parse_rules(list(dev.DEFAULT_ALLOWED_DEVICES), "default devices")
    return dev.emulate(rules)


def _require(directory: str | None, controller: str, where: str) -> str:
    if not directory:
        raise CgroupError(f"{where}: the {controller} cgroup controller is not available on this host")
    return directory


def _ensure_files_exist(ops: list) -> None:
    for op in ops:
        if isinstance(op, Write) and not os.path.exists(op.path):
            raise CgroupError(f"{op.field}: {op.path} does not exist (not supported by this kernel)")


def _check_top(resources, where: str) -> dict:
    if resources is None:
        return {}
    return _object(resources, where, TOP_LEVEL)


# ====================================================================== cgroup v1


def apply_v1(mgr, resources: dict, *, where: str, default_devices: bool, update: bool) -> None:
    res = _check_top(resources, where)
    if res.get("unified"):
        raise CgroupError(f"{where}.unified: holds cgroup v2 settings, but this host uses cgroup v1")
    paths = mgr.paths
    ops: list = []
    ops += _v1_cpuset(res.get("cpu"), paths.get("cpuset"), f"{where}.cpu")
    if not update:
        state = _device_state(res, where, default_devices)
        if state is not None:
            directory = _require(paths.get("devices"), "devices", f"{where}.devices")
            ops.append(V1Devices(f"{where}.devices", directory, state))
    ops += _v1_memory(res.get("memory"), paths.get("memory"), f"{where}.memory")
    ops += _v1_cpu(res.get("cpu"), paths.get("cpu"), f"{where}.cpu")
    ops += _pids(res.get("pids"), paths.get("pids"), f"{where}.pids")
    ops += _v1_blkio(res.get("blockIO"), paths.get("blkio"), f"{where}.blockIO")
    ops += _hugetlb(res.get("hugepageLimits"), paths.get("hugetlb"), f"{where}.hugepageLimits", v2=False)
    ops += _v1_network(res.get("network"), paths, f"{where}.network")
    ops += _rdma(res.get("rdma"), paths.get("rdma"), f"{where}.rdma")
    _ensure_files_exist(ops)
    commit(ops)


def _v1_memory(section, directory: str | None, where: str) -> list:
    mem = _object(section, where, MEMORY_FIELDS)
    if not mem:
        return []
    limit = _limit(mem, "limit", where)
    swap = _limit(mem, "swap", where)
    reservation = _limit(mem, "reservation", where)
    kernel = _limit(mem, "kernel", where)
    kernel_tcp = _limit(mem, "kernelTCP", where)
    swappiness = mem.get("swappiness")
    if swappiness == -1:  # runc: -1 means "leave it"
        swappiness = None
    swappiness = _unsigned({"swappiness": swappiness}, "swappiness", where, 0, 100)
    disable_oom = _boolean(mem, "disableOOMKiller", where)
    hierarchy = _boolean(mem, "useHierarchy", where)
    check = _boolean(mem, "checkBeforeUpdate", where)
    wanted = [limit, swap, reservation, kernel, kernel_tcp, swappiness, disable_oom, hierarchy]
    if all(v is None for v in wanted):
        return []
    d = _require(directory, "memory", where)
    memsw = os.path.exists(os.path.join(d, "memory.memsw.limit_in_bytes"))
    if limit == -1 and swap is None and memsw:
        swap = -1  # runc: unlimited memory without a swap value means unlimited swap too
    if limit and swap and limit > 0 and swap > 0 and swap < limit:
        raise CgroupError(f"{where}.swap: memory+swap ({swap}) must not be below memory.limit ({limit})")
    if check and limit and limit > 0:
        usage = int(_first_readable(os.path.join(d, "memory.usage_in_bytes")) or 0)
        if usage >= limit:
            raise CgroupError(
                f"{where}.limit: {limit} is not above the current usage {usage} (checkBeforeUpdate)"
            )
    ops: list = []
    limit_op = swap_op = None
    if limit:
        explain = _memory_busy(d, "memory.usage_in_bytes", "memory.max_usage_in_bytes", limit)
        limit_op = Write(f"{where}.limit", d, "memory.limit_in_bytes", str(limit), explain=explain)
    if swap and memsw:
        # Without swap accounting (swapaccount=0) there is nothing to limit: crun ignores it too.
        swap_op = Write(f"{where}.swap", d, "memory.memsw.limit_in_bytes", str(swap))
    if limit_op and swap_op and swap is not None:
        # The kernel keeps memsw >= memory at every step: raise swap first when growing.
        current = int(_first_readable(os.path.join(d, "memory.limit_in_bytes")) or 0)
        ops += [swap_op, limit_op] if swap == -1 or current < swap else [limit_op, swap_op]
    else:
        ops += [op for op in (limit_op, swap_op) if op]
    if reservation:
        ops.append(Write(f"{where}.reservation", d, "memory.soft_limit_in_bytes", str(reservation)))
    if kernel and os.path.exists(os.path.join(d, "memory.kmem.limit_in_bytes")):
        ops.append(Write(f"{where}.kernel", d, "memory.kmem.limit_in_bytes", str(kernel)))
    if kernel_tcp and os.path.exists(os.path.join(d, "memory.kmem.tcp.limit_in_bytes")):
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


def _cpu_common(section, where: str) -> dict:
    cpu = _object(section, where, CPU_FIELDS)
    out = {
        "shares": _unsigned(cpu, "shares", where),
        "quota": _limit(cpu, "quota", where),
        "period": _unsigned(cpu, "period", where),
        "burst": _unsigned(cpu, "burst", where),
        "rt_runtime": _limit(cpu, "realtimeRuntime", where),
        "rt_period": _unsigned(cpu, "realtimePeriod", where),
        "idle": cpu.get("idle"),
    }
    if out["shares"] and not MIN_SHARES <= out["shares"] <= MAX_SHARES:
        raise CgroupError(
            f"{where}.shares: must be between {MIN_SHARES} and {MAX_SHARES}, got {out['shares']}"
        )
    if out["period"] and not 1000 <= out["period"] <= 1000000:
        raise CgroupError(
            f"{where}.period: must be between 1000 and 1000000 microseconds, got {out['period']}"
        )
    if out["quota"] and 0 < out["quota"] < 1000:
        raise CgroupError(f"{where}.quota: must be -1 or at least 1000 microseconds, got {out['quota']}")
    if out["idle"] is not None and _integer(out["idle"], f"{where}.idle") not in (0, 1):
        raise CgroupError(f"{where}.idle: must be 0 or 1, got {out['idle']}")
    return out


def _v1_cpu(section, directory: str | None, where: str) -> list:
    if not section:
        return []
    cpu = _cpu_common(section, where)
    if not _any_cpu_setting(cpu):
        return []
    d = _require(directory, "cpu", where)
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
        current_runtime = int(_first_readable(os.path.join(d, "cpu.rt_runtime_us")) or 0)
        # The runtime may never exceed the period: shrink in the order that keeps it so.
        return [runtime, period] if cpu["rt_period"] < current_runtime else [period, runtime]
    return [op for op in (period, runtime) if op]


def _v1_cpuset(section, directory: str | None, where: str) -> list:
    cpu = _object(section, where, CPU_FIELDS)
    if not cpu.get("cpus") and not cpu.get("mems"):
        return []
    d = _require(directory, "cpuset", where)
    parent = os.path.dirname(d)
    ops = []
    cpus = _check_ids(
        cpu.get("cpus"),
        f"{where}.cpus",
        f"{parent}/cpuset.effective_cpus",
        "/sys/devices/system/cpu/online",
        "CPU",
    )
    mems = _check_ids(
        cpu.get("mems"),
        f"{where}.mems",
        f"{parent}/cpuset.effective_mems",
        "/sys/devices/system/node/online",
        "node",
    )
    if cpus:
        ops.append(Write(f"{where}.cpus", d, "cpuset.cpus", cpus))
    if mems:
        ops.append(Write(f"{where}.mems", d, "cpuset.mems", mems))
    return ops


def _pids(section, directory: str | None, where: str) -> list:
    pids = _object(section, where, {"limit"})
    limit = _limit(pids, "limit", where)
    if limit is None:
        return []
    d = _require(directory, "pids", where)
    return [Write(f"{where}.limit", d, "pids.max", "max" if limit == -1 else str(limit))]


def _v1_blkio(section, directory: str | None, where: str) -> list:
    blkio = _object(section, where, BLOCKIO_FIELDS)
    weight = _unsigned(blkio, "weight", where, 10, 1000) if blkio.get("weight") else None
    leaf = _unsigned(blkio, "leafWeight", where, 10, 1000) if blkio.get("leafWeight") else None
    devices = _list(blkio.get("weightDevice"), f"{where}.weightDevice")
    throttles = [(name, f, _list(blkio.get(name), f"{where}.{name}")) for name, f, _ in THROTTLES]
    if weight is None and leaf is None and not devices and not any(t for _, _, t in throttles):
        return []
    d = _require(directory, "blkio", where)

    def pick(field: str, *names: str) -> str:
        for name in names:
            if os.path.exists(os.path.join(d, name)):
                return name
        raise CgroupError(f"{field}: this kernel has none of {', '.join(names)} (no CFQ/BFQ I/O scheduler)")

    ops: list = []
    if weight is not None:
        ops.append(
            Write(
                f"{where}.weight", d, pick(f"{where}.weight", "blkio.weight", "blkio.bfq.weight"), str(weight)
            )
        )
    if leaf is not None:
        ops.append(
            Write(f"{where}.leafWeight", d, pick(f"{where}.leafWeight", "blkio.leaf_weight"), str(leaf))
        )
    for i, entry in enumerate(devices):
        here = f"{where}.weightDevice[{i}]"
        major, minor = _block_device(entry, here)
        _object(entry, here, {"major", "minor", "weight", "leafWeight"})
        key = f"{major}:{minor}"
        if entry.get("weight") is not None:
            w = _unsigned(entry, "weight", here, 10, 1000)
            name = pick(f"{here}.weight", "blkio.weight_device", "blkio.bfq.weight_device")
            ops.append(Write(f"{here}.weight", d, name, f"{key} {w}", key=key, reset=f"{key} 0"))
        if entry.get("leafWeight") is not None:
            w = _unsigned(entry, "leafWeight", here, 10, 1000)
            name = pick(f"{here}.leafWeight", "blkio.leaf_weight_device")
            ops.append(Write(f"{here}.leafWeight", d, name, f"{key} {w}", key=key, reset=f"{key} 0"))
    for name, filename, entries in throttles:
        for i, entry in enumerate(entries):
            here = f"{where}.{name}[{i}]"
            major, minor = _block_device(entry, here)
            _object(entry, here, {"major", "minor", "rate"})
            rate = _unsigned(entry, "rate", here)
            if rate is None:
                raise CgroupError(f"{here}.rate: required")
            key = f"{major}:{minor}"
            ops.append(Write(here, d, filename, f"{key} {rate}", key=key, reset=f"{key} 0"))
    return ops


def _hugetlb(section, directory: str | None, where: str, *, v2: bool) -> list:
    entries = _list(section, where)
    if not entries:
        return []
    parsed = [_page_size(entry, f"{where}[{i}]") for i, entry in enumerate(entries)]
    d = _require(directory, "hugetlb", where)
    suffix, rsvd_suffix = ("max", "rsvd.max") if v2 else ("limit_in_bytes", "rsvd.limit_in_bytes")
    ops = []
    for i, (size, limit) in enumerate(parsed):
        here = f"{where}[{i}]"
        filename = f"hugetlb.{size}.{suffix}"
        if not os.path.exists(os.path.join(d, filename)):
            raise CgroupError(f"{here}.pageSize: huge page size {size} is not supported here (no {filename})")
        ops.append(Write(f"{here}.limit", d, filename, str(limit)))
        rsvd = f"hugetlb.{size}.{rsvd_suffix}"
        if os.path.exists(os.path.join(d, rsvd)):
            # Reservations are charged separately (Linux 5.7+); runc limits both.
            ops.append(Write(f"{here}.limit", d, rsvd, str(limit)))
    return ops


def _v1_network(section, paths: dict, where: str) -> list:
    net = _object(section, where, {"classID", "priorities"})
    ops: list = []
    class_id = _unsigned(net, "classID", where, 0, 0xFFFFFFFF)
    if class_id is not None:
        d = _require(paths.get("net_cls"), "net_cls", f"{where}.classID")
        ops.append(Write(f"{where}.classID", d, "net_cls.classid", str(class_id)))
    for i, entry in enumerate(_list(net.get("priorities"), f"{where}.priorities")):
        here = f"{where}.priorities[{i}]"
        d = _require(paths.get("net_prio"), "net_prio", here)
        entry = _object(entry, here, {"name", "priority"})
        name = entry.get("name")
        if not isinstance(name, str) or not name or " " in name:
            raise CgroupError(f"{here}.name: must be a network interface name")
        priority = _unsigned(entry, "priority", here, 0, 0xFFFFFFFF)
        if priority is None:
            raise CgroupError(f"{here}.priority: required")
        ops.append(Write(here, d, "net_prio.ifpriomap", f"{name} {priority}", key=name, reset=f"{name} 0"))
    return ops


def _rdma(section, directory: str | None, where: str) -> list:
    if section is None:
        return []
    if not isinstance(section, dict):
        raise CgroupError(f"{where}: must be an object keyed by RDMA device name")
    lines = [(name, _rdma_line(name, limits, where)) for name, limits in section.items()]
    if not lines:
        return []
    d = _require(directory, "rdma", where)
    return [
        Write(f"{where}.{name}", d, "rdma.max", line, key=name, reset=f"{name} hca_handle=max hca_object=max")
        for name, line in lines
    ]


# ====================================================================== cgroup v2


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


def apply_v2(mgr, resources: dict, *, where: str, default_devices: bool, update: bool) -> None:
    res = _check_top(resources, where)
    d = mgr.dir
    if res.get("network"):
        raise CgroupError(f"{where}.network: net_cls/net_prio do not exist on cgroup v2")
    ops: list = []
    ops += _pids(res.get("pids"), d, f"{where}.pids")
    ops += _v2_memory(res.get("memory"), d, f"{where}.memory")
    ops += _v2_io(res.get("blockIO"), d, f"{where}.blockIO")
    ops += _v2_cpu(res.get("cpu"), d, f"{where}.cpu")
    if not update:
        state = _device_state(res, where, default_devices)
        if state is not None:
            ops.append(BpfDevices(f"{where}.devices", d, state))
    ops += _v2_cpuset(res.get("cpu"), d, f"{where}.cpu")
    ops += _hugetlb(res.get("hugepageLimits"), d, f"{where}.hugepageLimits", v2=True)
    ops += _rdma(res.get("rdma"), d, f"{where}.rdma")
    ops += _unified(res.get("unified"), d, f"{where}.unified")
    _check_v2_controllers(mgr, ops)
    _ensure_files_exist(ops)
    commit(ops)


def _check_v2_controllers(mgr, ops: list) -> None:
    available = mgr.controllers()
    for op in ops:
        if not isinstance(op, Write):
            continue
        controller = os.path.basename(op.path).split(".", 1)[0]
        if controller in ("cgroup", "devices") or controller in available:
            continue
        listing = " ".join(sorted(available)) or "none"
        raise CgroupError(
            f"{op.field}: the {controller} controller is not available in {mgr.dir}"
            f" (cgroup.controllers: {listing})"
        )


def _v2_memory(section, d: str, where: str) -> list:
    mem = _object(section, where, MEMORY_FIELDS)
    if not mem:
        return []
    for name in ("kernel", "kernelTCP", "useHierarchy"):
        if mem.get(name) is not None:
            raise CgroupError(f"{where}.{name}: cgroup v1 only; this host uses cgroup v2")
    if mem.get("swappiness") not in (None, -1):
        raise CgroupError(f"{where}.swappiness: cgroup v1 only; this host uses cgroup v2")
    if _boolean(mem, "disableOOMKiller", where):
        raise CgroupError(f"{where}.disableOOMKiller: the OOM killer cannot be disabled on cgroup v2")
    limit = _limit(mem, "limit", where)
    swap = _limit(mem, "swap", where)
    reservation = _limit(mem, "reservation", where)
    check = _boolean(mem, "checkBeforeUpdate", where)
    if limit is None and swap is None and reservation is None:
        return []
    effective_limit = limit
    if swap not in (None, -1) and limit is None:
        # A swap-only update: the memory part comes from the current limit.
        current = _first_readable(os.path.join(d, "memory.max"))
        effective_limit = None if current in ("", "max") else int(current)
    try:
        swap_only = convert_swap(swap, effective_limit)
    except CgroupError as e:
        raise CgroupError(f"{where}.swap: {e}") from None
    if check and limit and limit > 0:
        usage = int(_first_readable(os.path.join(d, "memory.current")) or 0)
        usage += int(_first_readable(os.path.join(d, "memory.swap.current")) or 0)
        budget = limit + (swap_only if swap_only and swap_only > 0 else 0)
        if usage >= budget:
            raise CgroupError(
                f"{where}.limit: {limit} is not above the current usage {usage} (checkBeforeUpdate)"
            )
    ops: list = []
    if swap_only is not None and os.path.exists(os.path.join(d, "memory.swap.max")):
        ops.append(Write(f"{where}.swap", d, "memory.swap.max", _v2_number(swap_only)))
    if limit:
        explain = _memory_busy(d, "memory.current", "memory.peak", limit)
        ops.append(Write(f"{where}.limit", d, "memory.max", _v2_number(limit), explain=explain))
    if reservation:
        ops.append(Write(f"{where}.reservation", d, "memory.low", _v2_number(reservation)))
    return ops


def _v2_cpu(section, d: str, where: str) -> list:
    if not section:
        return []
    cpu = _cpu_common(section, where)
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
        current = (_first_readable(os.path.join(d, "cpu.max")) or "max 100000").split()
        quota = _v2_number(cpu["quota"]) if cpu["quota"] else current[0]
        period = str(cpu["period"]) if cpu["period"] else current[1]
        field = f"{where}.quota" if cpu["quota"] else f"{where}.period"
        ops.append(Write(field, d, "cpu.max", f"{quota} {period}"))
    if cpu["burst"] is not None:
        ops.append(Write(f"{where}.burst", d, "cpu.max.burst", str(cpu["burst"])))
    if cpu["idle"] is not None:
        ops.append(Write(f"{where}.idle", d, "cpu.idle", str(cpu["idle"])))
    return ops


def _v2_cpuset(section, d: str, where: str) -> list:
    cpu = _object(section, where, CPU_FIELDS)
    parent = os.path.dirname(d)
    ops = []
    cpus = _check_ids(
        cpu.get("cpus"),
        f"{where}.cpus",
        f"{parent}/cpuset.cpus.effective",
        "/sys/devices/system/cpu/online",
        "CPU",
    )
    mems = _check_ids(
        cpu.get("mems"),
        f"{where}.mems",
        f"{parent}/cpuset.mems.effective",
        "/sys/devices/system/node/online",
        "node",
    )
    if cpus:
        ops.append(Write(f"{where}.cpus", d, "cpuset.cpus", cpus))
    if mems:
        ops.append(Write(f"{where}.mems", d, "cpuset.mems", mems))
    return ops


def _v2_io(section, d: str, where: str) -> list:
    blkio = _object(section, where, BLOCKIO_FIELDS)
    if blkio.get("leafWeight"):
        raise CgroupError(f"{where}.leafWeight: cgroup v1 only (no leaf weights on cgroup v2)")
    bfq = os.path.exists(os.path.join(d, "io.bfq.weight"))
    ops: list = []
    weight = _unsigned(blkio, "weight", where, 10, 1000) if blkio.get("weight") else None
    if weight is not None:
        if bfq:  # BFQ takes the v1 range as is
            ops.append(Write(f"{where}.weight", d, "io.bfq.weight", str(weight)))
        else:
            ops.append(Write(f"{where}.weight", d, "io.weight", str(convert_blkio_weight(weight))))
    for i, entry in enumerate(_list(blkio.get("weightDevice"), f"{where}.weightDevice")):
        here = f"{where}.weightDevice[{i}]"
        major, minor = _block_device(entry, here)
        _object(entry, here, {"major", "minor", "weight", "leafWeight"})
        if entry.get("leafWeight") is not None:
            raise CgroupError(f"{here}.leafWeight: cgroup v1 only (no leaf weights on cgroup v2)")
        w = _unsigned(entry, "weight", here, 10, 1000)
        if w is None:
            continue
        key = f"{major}:{minor}"
        filename, value = ("io.bfq.weight", w) if bfq else ("io.weight", convert_blkio_weight(w))
        ops.append(Write(f"{here}.weight", d, filename, f"{key} {value}", key=key, reset=f"{key} default"))
    for name, _, io_key in THROTTLES:
        for i, entry in enumerate(_list(blkio.get(name), f"{where}.{name}")):
            here = f"{where}.{name}[{i}]"
            major, minor = _block_device(entry, here)
            _object(entry, here, {"major", "minor", "rate"})
            rate = _unsigned(entry, "rate", here)
            if rate is None:
                raise CgroupError(f"{here}.rate: required")
            key = f"{major}:{minor}"
            # v1 uses 0 for "no limit"; v2 spells it max.
            line = f"{key} {io_key}={rate or 'max'}"
            ops.append(
                Write(here, d, "io.max", line, key=key, reset=f"{key} rbps=max wbps=max riops=max wiops=max")
            )
    return ops


def _unified(section, d: str, where: str) -> list:
    if section is None:
        return []
    if not isinstance(section, dict):
        raise CgroupError(f"{where}: must be an object of cgroup v2 file names to values")
    ops = []
    for key, value in section.items():
        here = f"{where}.{key}"
        if not isinstance(value, str):
            raise CgroupError(f"{here}: value must be a string, got {value!r}")
        if "/" in key or key in (".", "..") or not key:
            raise CgroupError(f"{here}: must be a file name (no slashes)")
        controller, dot, _ = key.partition(".")
        if not dot or not controller:
            raise CgroupError(f"{here}: must be of the form CONTROLLER.PARAMETER")
        if controller == "cgroup" and key in (
            "cgroup.procs",
            "cgroup.threads",
            "cgroup.kill",
            "cgroup.subtree_control",
        ):
            raise CgroupError(f"{here}: not a resource setting")
        if value.strip() == "":
            continue
        ops.append(Write(here, d, key, value))
    return ops


def read_setting(path: str) -> str:
    """A cgroup file's value (tests and `events` use it)."""
    return read_text(path).strip()


__all__ = [
    "apply_v1",
    "apply_v2",
    "commit",
    "convert_blkio_weight",
    "convert_shares_to_weight",
    "convert_swap",
    "parse_id_list",
    "read_keyed",
    "read_setting",
]
