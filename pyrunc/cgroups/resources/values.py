"""Value checks of linux.resources: each field's type and range, CPU/node lists against what the
host offers, block devices, page sizes. Errors are one line naming the field."""

import os

from pyrunc import cpulist
from pyrunc.cgroups._fs import CgroupError, ignore_unknown_fields, read_first_line

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


def checked_object(value, where: str, allowed: set[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CgroupError(f"{where}: must be an object")
    ignore_unknown_fields(value, where, allowed)
    return value


def integer(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CgroupError(f"{where}: must be an integer, got {value!r}")
    return value


def limit(section: dict, name: str, where: str) -> int | None:
    """A byte/count limit: -1 is unlimited, 0 or absent leaves it unchanged (runc)."""
    value = section.get(name)
    if value is None:
        return None
    value = integer(value, f"{where}.{name}")
    if value < -1:
        raise CgroupError(f"{where}.{name}: must be -1 (unlimited) or a positive number, got {value}")
    return value or None


def unsigned(section: dict, name: str, where: str, low: int = 0, high: int | None = None) -> int | None:
    value = section.get(name)
    if value is None:
        return None
    value = integer(value, f"{where}.{name}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise CgroupError(f"{where}.{name}: must be {bound}, got {value}")
    return value


def boolean(section: dict, name: str, where: str) -> bool | None:
    value = section.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise CgroupError(f"{where}.{name}: must be true or false, got {value!r}")
    return value


def array(value, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CgroupError(f"{where}: must be an array")
    return value


def parse_id_list(text, where: str) -> set[int]:
    """A kernel CPU/node list ("0-3,6") -> set of ids; spaces around the items are forgiven."""
    if not isinstance(text, str):
        raise CgroupError(f'{where}: must be a string such as "0-2,4", got {text!r}')
    try:
        return cpulist.ids(",".join(part.strip() for part in text.strip().split(",")))
    except cpulist.BackwardsRange as e:
        raise CgroupError(f"{where}: {e}") from None
    except ValueError:
        raise CgroupError(f'{where}: {text!r} is not a list such as "0-2,4"') from None


def check_ids(text, where: str, available_file: str, fallback: str, what: str) -> str | None:
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


def block_device(entry, where: str) -> tuple[int, int]:
    if not isinstance(entry, dict):
        raise CgroupError(f"{where}: must be an object with major and minor")
    major = unsigned(entry, "major", where)
    minor = unsigned(entry, "minor", where)
    if major is None or minor is None:
        raise CgroupError(f"{where}: major and minor are required")
    if not os.path.exists(f"/sys/dev/block/{major}:{minor}"):
        raise CgroupError(f"{where}: there is no block device {major}:{minor} on this host")
    return major, minor


def page_size(entry, where: str) -> tuple[str, int]:
    if not isinstance(entry, dict):
        raise CgroupError(f"{where}: must be an object with pageSize and limit")
    size = entry.get("pageSize")
    if not isinstance(size, str) or not size[:-2].isdigit() or size[-2:] not in ("KB", "MB", "GB"):
        raise CgroupError(f'{where}.pageSize: {size!r} is not a page size such as "2MB" or "1GB"')
    limit = unsigned(entry, "limit", where)
    if limit is None:
        raise CgroupError(f"{where}.limit: required")
    return size, limit


def rdma_line(name, limits, where: str) -> str:
    here = f"{where}.{name}"
    if not isinstance(limits, dict):
        raise CgroupError(f"{here}: must be an object with hcaHandles and/or hcaObjects")
    checked_object(limits, here, {"hcaHandles", "hcaObjects"})
    handles = unsigned(limits, "hcaHandles", here)
    objects = unsigned(limits, "hcaObjects", here)
    if handles is None and objects is None:
        raise CgroupError(f"{here}: give hcaHandles and/or hcaObjects")
    parts = [name]
    if handles is not None:
        parts.append(f"hca_handle={handles}")
    if objects is not None:
        parts.append(f"hca_object={objects}")
    return " ".join(parts)


def top_level(resources, where: str) -> dict:
    if resources is None:
        return {}
    return checked_object(resources, where, TOP_LEVEL)


def cpu_common(section, where: str) -> dict:
    cpu = checked_object(section, where, CPU_FIELDS)
    out = {
        "shares": unsigned(cpu, "shares", where),
        "quota": limit(cpu, "quota", where),
        "period": unsigned(cpu, "period", where),
        "burst": unsigned(cpu, "burst", where),
        "rt_runtime": limit(cpu, "realtimeRuntime", where),
        "rt_period": unsigned(cpu, "realtimePeriod", where),
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
    if out["idle"] is not None and integer(out["idle"], f"{where}.idle") not in (0, 1):
        raise CgroupError(f"{where}.idle: must be 0 or 1, got {out['idle']}")
    return out
