"""AppArmor and SELinux fields: pyrunc applies neither, so a config asking for one is refused
before anything is created, with the reason (the host has no such LSM, or pyrunc lacks support)."""

from __future__ import annotations

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
    check_process(config.get("process") or {})
    if (config.get("linux") or {}).get("mountLabel"):
        _refuse("linux.mountLabel", "SELinux", selinux_enabled())
