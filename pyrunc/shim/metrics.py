"""A container's cgroup statistics (pyrunc.cgroups.stats, runc's `events --stats` shape) as containerd's
cgroup v1 or v2 Metrics message, the answer to the Task service's Stats."""

from __future__ import annotations

from pyrunc.shim.messages import cgroups_v1 as pb
from pyrunc.shim.messages import cgroups_v2 as pb2

TYPE_URL_V1 = "io.containerd.cgroups.v1.Metrics"
TYPE_URL_V2 = "io.containerd.cgroups.v2.Metrics"

# memory.stat keys (the kernel's names) -> MemoryStat fields, where they differ by more than `_`.
_MEMORY_RENAMES = {
    "pgpgin": "pg_pg_in",
    "pgpgout": "pg_pg_out",
    "pgfault": "pg_fault",
    "pgmajfault": "pg_maj_fault",
    "hierarchical_memsw_limit": "hierarchical_swap_limit",
}
# Its counters only: memory.stat's `swap` is a number, MemoryStat's `swap` a MemoryEntry.
_MEMORY_FIELDS = {f.name for f in pb.MemoryStat.DESCRIPTOR.fields if f.message_type is None}


def _entry(target, source: dict) -> None:
    target.limit = source.get("limit", 0)
    target.usage = source.get("usage", 0)
    target.max = source.get("max", 0)
    target.failcnt = source.get("failcnt", 0)


def v1_metrics(stats: dict, oom_control: dict[str, int] | None = None):
    metrics = pb.Metrics()
    pids = stats.get("pids") or {}
    metrics.pids.current = pids.get("current", 0)
    metrics.pids.limit = pids.get("limit", 0)
    cpu = stats.get("cpu") or {}
    usage = cpu.get("usage") or {}
    metrics.cpu.usage.total = usage.get("total", 0)
    metrics.cpu.usage.kernel = usage.get("kernel", 0)
    metrics.cpu.usage.user = usage.get("user", 0)
    metrics.cpu.usage.per_cpu.extend(usage.get("percpu") or [])
    throttling = cpu.get("throttling") or {}
    metrics.cpu.throttling.periods = throttling.get("periods", 0)
    metrics.cpu.throttling.throttled_periods = throttling.get("throttledPeriods", 0)
    metrics.cpu.throttling.throttled_time = throttling.get("throttledTime", 0)
    memory = stats.get("memory") or {}
    for key, value in (memory.get("raw") or {}).items():
        total = key.startswith("total_")
        base = key.removeprefix("total_")
        name = ("total_" if total else "") + _MEMORY_RENAMES.get(base, base)
        if name in _MEMORY_FIELDS and isinstance(value, int) and value >= 0:
            setattr(metrics.memory, name, value)
    metrics.memory.cache = memory.get("cache", metrics.memory.cache)
    for field, key in (
        ("usage", "usage"),
        ("swap", "swap"),
        ("kernel", "kernel"),
        ("kernel_tcp", "kernelTCP"),
    ):
        _entry(getattr(metrics.memory, field), memory.get(key) or {})
    if oom_control:
        metrics.memory_oom_control.oom_kill_disable = oom_control.get("oom_kill_disable", 0)
        metrics.memory_oom_control.under_oom = oom_control.get("under_oom", 0)
        metrics.memory_oom_control.oom_kill = oom_control.get("oom_kill", 0)
    for size, entry in sorted((stats.get("hugetlb") or {}).items()):
        metrics.hugetlb.add(
            pagesize=size,
            usage=entry.get("usage", 0),
            max=entry.get("max", 0),
            failcnt=entry.get("failcnt", 0),
        )
    blkio = stats.get("blkio") or {}
    for field, key in (
        ("io_service_bytes_recursive", "ioServiceBytesRecursive"),
        ("io_serviced_recursive", "ioServicedRecursive"),
    ):
        for entry in blkio.get(key) or []:
            getattr(metrics.blkio, field).add(
                op=entry.get("op", ""), major=entry.get("major", 0), minor=entry.get("minor", 0),
                value=entry.get("value", 0),
            )  # fmt: skip
    return metrics


# v2 MemoryStat's fields that are not memory.stat keys (they come from memory.current, .max, .peak...).
_V2_MEMORY_OWN = {"usage", "usage_limit", "swap_usage", "swap_limit", "max_usage", "swap_max_usage"}
_V2_MEMORY_STAT = {f.name for f in pb2.MemoryStat.DESCRIPTOR.fields} - _V2_MEMORY_OWN
# Counters the kernel splits into _anon and _file (5.9 on): containerd's field is their sum.
_V2_MEMORY_SPLIT = ("workingset_refault", "workingset_activate")


def _usec(ns: int) -> int:
    return ns // 1000


def v2_metrics(stats: dict, extras: dict):
    """`stats`: pyrunc.cgroups.stats.stats_v2 (nanoseconds, memory+swap as v1); `extras`:
    pyrunc.cgroups.stats.v2_extras (memory.events, swap alone, peaks, hugetlb limits)."""
    metrics = pb2.Metrics()
    pids = stats.get("pids") or {}
    metrics.pids.current = pids.get("current", 0)
    metrics.pids.limit = pids.get("limit", 0)
    cpu = stats.get("cpu") or {}
    usage = cpu.get("usage") or {}
    metrics.cpu.usage_usec = _usec(usage.get("total", 0))
    metrics.cpu.user_usec = _usec(usage.get("user", 0))
    metrics.cpu.system_usec = _usec(usage.get("kernel", 0))
    throttling = cpu.get("throttling") or {}
    metrics.cpu.nr_periods = throttling.get("periods", 0)
    metrics.cpu.nr_throttled = throttling.get("throttledPeriods", 0)
    metrics.cpu.throttled_usec = _usec(throttling.get("throttledTime", 0))

    memory = stats.get("memory") or {}
    raw = dict(memory.get("raw") or {})
    for name in _V2_MEMORY_SPLIT:
        if name not in raw and f"{name}_anon" in raw:
            raw[name] = raw[f"{name}_anon"] + raw.get(f"{name}_file", 0)
    for key, value in raw.items():
        if key in _V2_MEMORY_STAT and isinstance(value, int) and value >= 0:
            setattr(metrics.memory, key, value)
    memory_usage = memory.get("usage") or {}
    metrics.memory.usage = memory_usage.get("usage", 0)
    metrics.memory.usage_limit = memory_usage.get("limit", 0)
    metrics.memory.max_usage = memory_usage.get("max", 0)
    swap = extras.get("swap") or {}
    metrics.memory.swap_usage = swap.get("usage", 0)
    metrics.memory.swap_limit = swap.get("limit", 0)
    metrics.memory.swap_max_usage = swap.get("max", 0)
    events = extras.get("memory_events") or {}
    for field in ("low", "high", "max", "oom", "oom_kill"):
        setattr(metrics.memory_events, field, events.get(field, 0))

    devices: dict[tuple[int, int], dict[str, int]] = {}
    blkio = stats.get("blkio") or {}
    for key, kind in (("ioServiceBytesRecursive", "bytes"), ("ioServicedRecursive", "ios")):
        for entry in blkio.get(key) or []:
            op = {"Read": "r", "Write": "w"}.get(entry.get("op", ""))
            if op is None:
                continue
            device = devices.setdefault((entry.get("major", 0), entry.get("minor", 0)), {})
            device[op + kind] = device.get(op + kind, 0) + entry.get("value", 0)
    for (major, minor), counts in sorted(devices.items()):
        metrics.io.usage.add(major=major, minor=minor, **counts)

    limits = extras.get("hugetlb_limits") or {}
    for size, entry in sorted((stats.get("hugetlb") or {}).items()):
        metrics.hugetlb.add(pagesize=size, current=entry.get("usage", 0), max=limits.get(size, 0))
    return metrics
