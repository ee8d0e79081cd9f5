"""Container statistics in the shape of runc's `events --stats` data (types.Stats).

Field names and which zero values are left out follow runc's Go JSON tags
(`omitempty` drops a zero number or empty list, never a nested object).
"""

from __future__ import annotations

import os

from pyrunc.cgroups._fs import read_keyed, read_text

MAX_UINT64 = (1 << 64) - 1


def _read(path: str) -> str | None:
    try:
        return read_text(path).strip()
    except OSError:
        return None


def _uint(path: str, default: int = 0) -> int:
    """A single-number cgroup file; "max" is the largest uint64 (runc's parse)."""
    text = _read(path)
    if not text:
        return default
    if text == "max":
        return MAX_UINT64
    try:
        return int(text.split()[0])
    except ValueError:
        return default


def _keyed_ints(path: str) -> dict[str, int]:
    try:
        raw = read_keyed(path)
    except OSError:
        return {}
    out = {}
    for key, value in raw.items():
        try:
            out[key] = int(value.split()[0])
        except (ValueError, IndexError):
            continue
    return out


def _without_zeros(d: dict, *keys: str) -> dict:
    """Drop the listed keys when zero/empty (Go's omitempty)."""
    return {k: v for k, v in d.items() if k not in keys or v}


def _id_list(text: str | None) -> list[int]:
    ids: list[int] = []
    for part in (text or "").split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit():
            ids.extend(range(int(low), int(high or low) + 1))
    return ids


def _memory_entry(limit: int, usage: int, peak: int, failcnt: int) -> dict:
    return _without_zeros({"limit": limit, "usage": usage, "max": peak, "failcnt": failcnt}, "usage", "max")


def _hugepage_sizes() -> list[str]:
    """Page sizes as cgroup files name them: hugepages-2048kB -> 2MB."""
    sizes: list[str] = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return sizes
    for name in sorted(names):
        kb = int(name.split("-")[1].rstrip("kB"))
        for unit, scale in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb % scale == 0:
                sizes.append(f"{kb // scale}{unit}")
                break
    return sizes


def _skeleton() -> dict:
    return {
        "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
        "cpuset": {},
        "memory": {"usage": {"limit": 0, "failcnt": 0}, "swap": {"limit": 0, "failcnt": 0}},
        "pids": {},
        "blkio": {},
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": None,
    }


# ------------------------------------------------------------------ cgroup v1


def stats_v1(mgr) -> dict:
    out = _skeleton()
    paths = mgr.paths
    if paths.get("cpuacct"):
        out["cpu"]["usage"] = _v1_cpuacct(paths["cpuacct"])
    if paths.get("cpu"):
        out["cpu"]["throttling"] = _throttling(_keyed_ints(os.path.join(paths["cpu"], "cpu.stat")), 1)
    if paths.get("cpuset"):
        out["cpuset"] = _v1_cpuset(paths["cpuset"])
    if paths.get("memory"):
        out["memory"] = _v1_memory(paths["memory"])
    if paths.get("pids"):
        out["pids"] = _pids(paths["pids"], "pids.max")
    if paths.get("blkio"):
        out["blkio"] = _v1_blkio(paths["blkio"])
    if paths.get("hugetlb"):
        out["hugetlb"] = _hugetlb(paths["hugetlb"], v2=False)
    return out


def _v1_cpuacct(d: str) -> dict:
    ticks = os.sysconf("SC_CLK_TCK")
    stat = _keyed_ints(os.path.join(d, "cpuacct.stat"))  # user/system in clock ticks
    usage = {
        "total": _uint(os.path.join(d, "cpuacct.usage")),
        "percpu": [int(x) for x in (_read(os.path.join(d, "cpuacct.usage_percpu")) or "").split()],
        "percpu_kernel": [int(x) for x in (_read(os.path.join(d, "cpuacct.usage_percpu_sys")) or "").split()],
        "percpu_user": [int(x) for x in (_read(os.path.join(d, "cpuacct.usage_percpu_user")) or "").split()],
        "kernel": stat.get("system", 0) * 1_000_000_000 // ticks,
        "user": stat.get("user", 0) * 1_000_000_000 // ticks,
    }
    return _without_zeros(usage, "total", "percpu", "percpu_kernel", "percpu_user")


def _throttling(stat: dict, time_scale: int) -> dict:
    return _without_zeros(
        {
            "periods": stat.get("nr_periods", 0),
            "throttledPeriods": stat.get("nr_throttled", 0),
            "throttledTime": stat.get("throttled_time", stat.get("throttled_usec", 0)) * time_scale,
        },
        "periods",
        "throttledPeriods",
        "throttledTime",
    )


def _v1_cpuset(d: str) -> dict:
    def num(name: str) -> int:
        return _uint(os.path.join(d, f"cpuset.{name}"))

    level = _read(os.path.join(d, "cpuset.sched_relax_domain_level")) or "0"
    out = {
        "cpus": _id_list(_read(os.path.join(d, "cpuset.cpus"))),
        "cpu_exclusive": num("cpu_exclusive"),
        "mems": _id_list(_read(os.path.join(d, "cpuset.mems"))),
        "mem_hardwall": num("mem_hardwall"),
        "mem_exclusive": num("mem_exclusive"),
        "memory_migrate": num("memory_migrate"),
        "memory_spread_page": num("memory_spread_page"),
        "memory_spread_slab": num("memory_spread_slab"),
        "memory_pressure": num("memory_pressure"),
        "sched_load_balance": num("sched_load_balance"),
        "sched_relax_domain_level": int(level),
    }
    return _without_zeros(out, "cpus", "mems")


def _v1_memory_entry(d: str, prefix: str) -> dict:
    def f(name: str) -> str:
        return os.path.join(d, f"{prefix}.{name}")

    if not os.path.exists(f("usage_in_bytes")):
        return {"limit": 0, "failcnt": 0}
    return _memory_entry(
        _uint(f("limit_in_bytes")),
        _uint(f("usage_in_bytes")),
        _uint(f("max_usage_in_bytes")),
        _uint(f("failcnt")),
    )


def _v1_memory(d: str) -> dict:
    raw = _keyed_ints(os.path.join(d, "memory.stat"))
    out = {
        "cache": raw.get("cache", 0),
        "usage": _v1_memory_entry(d, "memory"),
        "swap": _v1_memory_entry(d, "memory.memsw"),
        "kernel": _v1_memory_entry(d, "memory.kmem"),
        "kernelTCP": _v1_memory_entry(d, "memory.kmem.tcp"),
        "raw": raw,
    }
    return _without_zeros(out, "cache", "raw")


def _pids(d: str, max_file: str) -> dict:
    limit = _uint(os.path.join(d, max_file))
    # runc reports an unlimited pids.max as 0 (no limit).
    return _without_zeros(
        {"current": _uint(os.path.join(d, "pids.current")), "limit": 0 if limit == MAX_UINT64 else limit},
        "current",
        "limit",
    )


def _v1_blkio_entries(path: str) -> list[dict]:
    entries = []
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue  # the "Total N" line
        major, minor = parts[0].split(":")
        entry = {"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])}
        entries.append(_without_zeros(entry, "major", "minor", "op", "value"))
    return entries


def _v1_blkio(d: str) -> dict:
    # runc prefers CFQ's files, then BFQ's, then the throttling layer's.
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        if os.path.exists(os.path.join(d, f"{prefix}io_service_bytes_recursive")):
            break
    out = {
        "ioServiceBytesRecursive": _v1_blkio_entries(os.path.join(d, f"{prefix}io_service_bytes_recursive")),
        "ioServicedRecursive": _v1_blkio_entries(os.path.join(d, f"{prefix}io_serviced_recursive")),
    }
    return _without_zeros(out, *out)


def _hugetlb(d: str, *, v2: bool) -> dict:
    out = {}
    for size in _hugepage_sizes():
        if v2:
            usage = _uint(os.path.join(d, f"hugetlb.{size}.current"))
            failcnt = _keyed_ints(os.path.join(d, f"hugetlb.{size}.events")).get("max", 0)
            entry = {"usage": usage, "max": 0, "failcnt": failcnt}
        else:
            entry = {
                "usage": _uint(os.path.join(d, f"hugetlb.{size}.usage_in_bytes")),
                "max": _uint(os.path.join(d, f"hugetlb.{size}.max_usage_in_bytes")),
                "failcnt": _uint(os.path.join(d, f"hugetlb.{size}.failcnt")),
            }
        out[size] = _without_zeros(entry, "usage", "max")
    return out


# ------------------------------------------------------------------ cgroup v2


def stats_v2(mgr) -> dict:
    d = mgr.dir
    out = _skeleton()
    cpu = _keyed_ints(os.path.join(d, "cpu.stat"))
    out["cpu"]["usage"] = _without_zeros(
        {
            "total": cpu.get("usage_usec", 0) * 1000,
            "kernel": cpu.get("system_usec", 0) * 1000,
            "user": cpu.get("user_usec", 0) * 1000,
        },
        "total",
    )
    out["cpu"]["throttling"] = _throttling(cpu, 1000)
    if os.path.exists(os.path.join(d, "cpuset.cpus.effective")):
        out["cpuset"] = _without_zeros(
            {
                "cpus": _id_list(_read(os.path.join(d, "cpuset.cpus.effective"))),
                "cpu_exclusive": 0,
                "mems": _id_list(_read(os.path.join(d, "cpuset.mems.effective"))),
            },
            "cpus",
            "mems",
        )
    if os.path.exists(os.path.join(d, "memory.current")):
        out["memory"] = _v2_memory(d)
    if os.path.exists(os.path.join(d, "pids.current")):
        out["pids"] = _pids(d, "pids.max")
    if os.path.exists(os.path.join(d, "io.stat")):
        out["blkio"] = _v2_io(d)
    if os.path.exists(os.path.join(d, "hugetlb.2MB.current")):
        out["hugetlb"] = _hugetlb(d, v2=True)
    return out


def v2_extras(mgr) -> dict:
    """What a cgroup v2 reports beyond runc's Stats, for containerd's v2 Metrics (the shim's Stats):
    memory.events' counters, swap on its own (Stats has memory+swap, as v1), the peaks, and the
    hugetlb limits (the largest uint64 stands for `max`)."""
    d = mgr.dir
    return {
        "memory_events": _keyed_ints(os.path.join(d, "memory.events")),
        "swap": {
            "usage": _uint(os.path.join(d, "memory.swap.current")),
            "limit": _uint(os.path.join(d, "memory.swap.max")),
            "max": _uint(os.path.join(d, "memory.swap.peak")),
        },
        "hugetlb_limits": {
            size: _uint(os.path.join(d, f"hugetlb.{size}.max"))
            for size in _hugepage_sizes()
            if os.path.exists(os.path.join(d, f"hugetlb.{size}.max"))
        },
    }


def _v2_memory(d: str) -> dict:
    raw = _keyed_ints(os.path.join(d, "memory.stat"))
    usage, limit = _uint(os.path.join(d, "memory.current")), _uint(os.path.join(d, "memory.max"))
    failcnt = _keyed_ints(os.path.join(d, "memory.events")).get("max", 0)
    swap_usage = _uint(os.path.join(d, "memory.swap.current"))
    swap_limit = _uint(os.path.join(d, "memory.swap.max"))
    # v1 reports swap as memory+swap; runc keeps that meaning on v2.
    if swap_limit != MAX_UINT64 and limit != MAX_UINT64:
        swap_limit += limit
    else:
        swap_limit = MAX_UINT64
    out = {
        "cache": raw.get("file", 0),
        "usage": _memory_entry(limit, usage, _uint(os.path.join(d, "memory.peak")), failcnt),
        "swap": _memory_entry(swap_limit, swap_usage + usage, 0, 0),
        "kernel": {"limit": 0, "failcnt": 0},
        "kernelTCP": {"limit": 0, "failcnt": 0},
        "raw": raw,
    }
    return _without_zeros(out, "cache", "raw")


def _v2_io(d: str) -> dict:
    service_bytes: list[dict] = []
    serviced: list[dict] = []
    for line in (_read(os.path.join(d, "io.stat")) or "").splitlines():
        device, *fields = line.split()
        major, minor = (int(x) for x in device.split(":"))
        for item in fields:
            key, _, value = item.partition("=")
            table, op = {
                "rbytes": (service_bytes, "Read"),
                "wbytes": (service_bytes, "Write"),
                "rios": (serviced, "Read"),
                "wios": (serviced, "Write"),
            }.get(key, (None, None))
            if table is not None:
                entry = {"major": major, "minor": minor, "op": op, "value": int(value)}
                table.append(_without_zeros(entry, "major", "minor", "value"))
    return _without_zeros(
        {"ioServiceBytesRecursive": service_bytes, "ioServicedRecursive": serviced},
        "ioServiceBytesRecursive",
        "ioServicedRecursive",
    )
