"""runc's `update` flags -> a linux.resources dict (pure: no I/O).

    resources, intel_rdt = update_flags_to_resources({"memory": "256m", "cpu-quota": "50000"})

Keys are the flag names without dashes in front (as the CLI received them);
values are the raw strings (None or absent = not given). Semantics follow runc
1.1's update.go: memory sizes take docker's units ("512m", "1.5g", binary
multiples) or -1; cpu-period/share/rt-period and burst are unsigned, cpu-quota
and cpu-rt-runtime signed; --pids-limit 0 and --blkio-weight 0 mean "leave it";
--memory -1 without --memory-swap also lifts the swap limit; kernel memory
flags are accepted and ignored, as runc does. The Intel RDT flags are not
cgroup settings: they come back separately as linux.intelRdt fields.
"""

from __future__ import annotations

from pyrunc.cgroups._fs import CgroupError

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

# flag -> (section, field, parser)
_UNSIGNED = "unsigned"
_SIGNED = "signed"
_BYTES = "bytes"
_STRING = "string"
FLAGS: dict[str, tuple[str, str, str]] = {
    "memory": ("memory", "limit", _BYTES),
    "memory-swap": ("memory", "swap", _BYTES),
    "memory-reservation": ("memory", "reservation", _BYTES),
    "cpu-share": ("cpu", "shares", _UNSIGNED),
    "cpu-shares": ("cpu", "shares", _UNSIGNED),  # the spelling docker uses
    "cpu-period": ("cpu", "period", _UNSIGNED),
    "cpu-quota": ("cpu", "quota", _SIGNED),
    "cpu-burst": ("cpu", "burst", _UNSIGNED),
    "cpu-rt-period": ("cpu", "realtimePeriod", _UNSIGNED),
    "cpu-rt-runtime": ("cpu", "realtimeRuntime", _SIGNED),
    "cpu-idle": ("cpu", "idle", _SIGNED),
    "cpuset-cpus": ("cpu", "cpus", _STRING),
    "cpuset-mems": ("cpu", "mems", _STRING),
    "pids-limit": ("pids", "limit", _SIGNED),
    "blkio-weight": ("blockIO", "weight", _UNSIGNED),
}
IGNORED = ("kernel-memory", "kernel-memory-tcp")  # runc: "ignored and will be removed"
INTEL_RDT = {"l3-cache-schema": "l3CacheSchema", "mem-bw-schema": "memBwSchema"}

# The flags `pyrunc update` takes, in runc's order, with their help: cli.py declares them and
# commands.py hands them on from this one list (--cpu-shares above is only docker's spelling).
CLI_FLAGS: tuple[tuple[str, str], ...] = (
    ("blkio-weight", "Block IO weight (10-1000)."),
    ("cpu-period", "CPU CFS period in microseconds."),
    ("cpu-quota", "CPU CFS quota in microseconds."),
    ("cpu-share", "CPU shares (relative weight)."),
    ("cpu-rt-period", "CPU real-time period in microseconds."),
    ("cpu-rt-runtime", "CPU real-time runtime in microseconds."),
    ("cpu-idle", "SCHED_IDLE for the cgroup (0 or 1)."),
    ("cpu-burst", "CPU burst in microseconds."),
    ("cpuset-cpus", "CPUs to run on (e.g. 0-2,4)."),
    ("cpuset-mems", "Memory nodes to use."),
    ("kernel-memory", "Accepted and ignored, as runc does."),
    ("kernel-memory-tcp", "Accepted and ignored, as runc does."),
    ("memory", "Memory limit (e.g. 256m, -1 for none)."),
    ("memory-reservation", "Memory soft limit."),
    ("memory-swap", "Memory plus swap limit."),
    ("pids-limit", "Maximum number of processes."),
    ("l3-cache-schema", "Intel RDT L3 cache schema (not supported)."),
    ("mem-bw-schema", "Intel RDT memory bandwidth schema (not supported)."),
)


def ram_in_bytes(text: str) -> int:
    """docker/go-units RAMInBytes: "512", "64k", "1.5g", "100MiB" (binary multiples)."""
    s = text.strip().lower()
    if s.endswith("b"):
        s = s[:-1]
    if s.endswith("i"):
        s = s[:-1]
    unit = s[-1:] if s[-1:] in _UNITS and s[-1:] else ""
    number = (s[:-1] if unit else s).strip()
    if not number[:1].isdigit() or not all(c.isdigit() or c == "." for c in number):
        raise ValueError(f"invalid size: {text!r}")
    return int(float(number) * _UNITS[unit])


def _convert(flag: str, kind: str, text: str):
    if kind == _STRING:
        return text
    if kind == _BYTES:
        if text.strip() == "-1":
            return -1
        return ram_in_bytes(text)
    try:
        value = int(text, 10)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None
    if kind == _UNSIGNED and value < 0:
        raise ValueError(f"{text!r} must not be negative")
    return value


def update_flags_to_resources(flags: dict) -> tuple[dict, dict]:
    """(linux.resources, linux.intelRdt) for the given update flags."""
    resources: dict = {}
    intel_rdt: dict = {}
    for flag, raw in flags.items():
        name = flag.lstrip("-")
        if raw is None or raw == "":
            continue
        if name in IGNORED:
            continue
        if name in INTEL_RDT:
            intel_rdt[INTEL_RDT[name]] = str(raw)
            continue
        if name not in FLAGS:
            raise CgroupError(f"--{name}: not an update flag")
        section, field, kind = FLAGS[name]
        try:
            value = _convert(name, kind, str(raw))
        except ValueError as e:
            raise CgroupError(f"--{name}: invalid value: {e}") from None
        if name in ("pids-limit", "blkio-weight") and value == 0:
            continue  # runc: 0 leaves the setting alone
        resources.setdefault(section, {})[field] = value
    memory = resources.get("memory", {})
    if memory.get("limit") == -1 and "swap" not in memory:
        memory["swap"] = -1
    return resources, intel_rdt
