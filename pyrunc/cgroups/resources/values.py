"""Reading linux.resources for the mapping: the known fields of each section (unknown ones are
ignored, with a note), limits with their "0 leaves it" rule, and what only the host can answer:
the CPUs and nodes the parent cgroup offers, the block devices there are. The values themselves
were checked before (config/: the schema and semantic.check_resources, for create and update)."""

from pyrunc import cpulist
from pyrunc.cgroups._fs import CgroupError, ignore_unknown_fields
from pyrunc.paths import path_exists, read_first_line

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


def section(value, where: str, known: set[str]) -> dict:
    """A section of linux.resources ({} when absent), its unknown fields noted and ignored."""
    if not value:
        return {}
    ignore_unknown_fields(value, where, known)
    return value


def limit(values: dict, name: str) -> int | None:
    """A byte/count/time limit: -1 is unlimited, 0 or absent leaves it unchanged (runc)."""
    return values.get(name) or None


def parse_id_list(text, where: str) -> set[int]:
    """A kernel CPU/node list ("0-3,6") -> set of ids; spaces around the items are forgiven
    (the kernel's own files, cpuset.cpus.effective and the like, are read with it too)."""
    if not isinstance(text, str):
        raise CgroupError(f'{where}: must be a string such as "0-2,4", got {text!r}')
    try:
        return cpulist.ids(",".join(part.strip() for part in text.strip().split(",")))
    except cpulist.BackwardsRange as e:
        raise CgroupError(f"{where}: {e}") from None
    except ValueError:
        raise CgroupError(f'{where}: {text!r} is not a list such as "0-2,4"') from None


def check_ids(text, where: str, available_file: str, fallback: str, what: str) -> str | None:
    """A CPU or node list, refused when it names one the parent cgroup (or, failing that, the
    host) does not offer."""
    if text is None or text == "":
        return None
    wanted = parse_id_list(text, where)
    available_text = first_readable(available_file, fallback)
    available = parse_id_list(available_text, available_file) if available_text else wanted
    outside = sorted(wanted - available)
    if outside:
        raise CgroupError(f"{where}: {what} {outside[0]} is not available (available: {available_text})")
    return text.strip()


def first_readable(*paths: str) -> str:
    for path in paths:
        try:
            value = read_first_line(path)
        except OSError:
            continue
        if value:
            return value
    return ""


def block_device(entry: dict, where: str) -> str:
    """ "MAJOR:MINOR" of a weightDevice/throttle entry, refused when the host has no such device."""
    major, minor = entry["major"], entry["minor"]
    if not path_exists(f"/sys/dev/block/{major}:{minor}"):
        raise CgroupError(f"{where}: there is no block device {major}:{minor} on this host")
    return f"{major}:{minor}"


def rdma_line(name: str, limits: dict) -> str:
    """An rdma.max line: "mlx5_0 hca_handle=2 hca_object=10" (either may be absent)."""
    parts = [name]
    if limits.get("hcaHandles") is not None:
        parts.append(f"hca_handle={limits['hcaHandles']}")
    if limits.get("hcaObjects") is not None:
        parts.append(f"hca_object={limits['hcaObjects']}")
    return " ".join(parts)


def top_level(resources, where: str) -> dict:
    return section(resources, where, TOP_LEVEL)


def cpu_common(values, where: str) -> dict:
    """The cpu settings both versions (and systemd's properties) map; None for "not set"."""
    cpu = section(values, where, CPU_FIELDS)
    return {
        "shares": cpu.get("shares") or None,
        "quota": limit(cpu, "quota"),
        "period": cpu.get("period") or None,
        "burst": cpu.get("burst"),
        "rt_runtime": limit(cpu, "realtimeRuntime"),
        "rt_period": cpu.get("realtimePeriod") or None,
        "idle": cpu.get("idle"),
    }
