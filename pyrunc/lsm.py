"""Fields pyrunc does not apply on this host: AppArmor and SELinux labels, Intel RDT. A config
asking for one is refused before anything is created, with the reason (the host lacks the feature,
or pyrunc does not support it), never silently ignored."""

from pyrunc.config import ConfigError
from pyrunc.paths import is_dir, path_exists


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return path_exists("/sys/fs/selinux/enforce")


def _refuse(where: str, lsm: str, enabled: bool) -> None:
    reason = f"{lsm} is not enabled on this host" if not enabled else f"pyrunc does not apply {lsm} labels"
    raise ConfigError(where, f"cannot apply: {reason}")


def check_process(process: dict, where: str = "process") -> None:
    if process.get("apparmorProfile"):
        _refuse(f"{where}.apparmorProfile", "AppArmor", apparmor_enabled())
    if process.get("selinuxLabel"):
        _refuse(f"{where}.selinuxLabel", "SELinux", selinux_enabled())


def check_config(config: dict) -> None:
    linux = config.get("linux") or {}
    check_process(config.get("process") or {})
    if linux.get("mountLabel"):
        _refuse("linux.mountLabel", "SELinux", selinux_enabled())
    if linux.get("intelRdt"):
        _refuse_intel_rdt(linux["intelRdt"])


# The fields of linux.intelRdt, named in the refusal in the spec's order (1.3 added the last two).
INTEL_RDT_FIELDS = (
    "closID",
    "l3CacheSchema",
    "memBwSchema",
    "schemata",
    "enableMonitoring",
    "enableCMT",
    "enableMBM",
)


def _refuse_intel_rdt(rdt: dict) -> None:
    host = is_dir("/sys/fs/resctrl/info")
    reason = (
        "Intel RDT (resctrl) is not enabled on this host" if not host else "pyrunc does not apply Intel RDT"
    )
    field = next((name for name in INTEL_RDT_FIELDS if name in rdt), "")
    raise ConfigError(f"linux.intelRdt.{field}" if field else "linux.intelRdt", f"cannot apply: {reason}")
