"""Fields pyrunc does not apply on this host: AppArmor and SELinux labels, Intel RDT. A config
asking for one is refused before anything is created, with the reason (the host lacks the feature,
or pyrunc does not support it), never silently ignored."""

import os

from pyrunc.errors import ConfigError


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


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
        host = os.path.isdir("/sys/fs/resctrl/info")
        reason = (
            "Intel RDT (resctrl) is not enabled on this host"
            if not host
            else "pyrunc does not apply Intel RDT"
        )
        raise ConfigError("linux.intelRdt", f"cannot apply: {reason}")
