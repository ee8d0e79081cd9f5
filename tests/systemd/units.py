"""What the systemd tests read back from systemd and the cgroup tree (one copy for
test_driver, test_daemons and reliability/test_killed_systemd)."""

from __future__ import annotations

import subprocess

MOUNT = "/sys/fs/cgroup"


def show(unit: str, *names: str) -> dict[str, str]:
    """`systemctl show UNIT --property=...` as a dict."""
    out = subprocess.run(
        ["systemctl", "show", unit, *(f"--property={n}" for n in names)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def unit_gone(unit: str) -> bool:
    return show(unit, "LoadState")["LoadState"] == "not-found"


def units_named(pattern: str) -> list[str]:
    """Every unit systemd has loaded (any state) whose name matches the glob `pattern`."""
    out = subprocess.run(
        ["systemctl", "list-units", "--all", "--no-legend", "--plain", pattern],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def cgroup_of(pid: int) -> str:
    """The v2 cgroup of a process, as systemd's ControlGroup property spells it."""
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().strip().split("::", 1)[1]
