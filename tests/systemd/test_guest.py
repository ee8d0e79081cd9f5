"""The systemd guest itself: what the driver's tests take for granted (issue 12)."""

from __future__ import annotations

import subprocess

import pytest

from tests.mountinfo import mounts

pytestmark = pytest.mark.systemd


def test_pid1_is_systemd_on_a_unified_cgroup_v2_hierarchy():
    with open("/proc/1/comm") as f:
        assert f.read().strip() == "systemd"
    types = {m.fstype for m in mounts() if m.fstype.startswith("cgroup")}
    assert types == {"cgroup2"}, f"cgroup file systems mounted: {types}"


def test_a_transient_scope_starts_over_the_system_bus_and_goes_away():
    # systemd-run --scope is StartTransientUnit over D-Bus: what the driver does.
    unit = "pyrunc-guest-probe.scope"
    out = subprocess.run(
        ["systemd-run", "--scope", "--unit", unit, "--property", "Delegate=yes", "cat", "/proc/self/cgroup"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(f"/system.slice/{unit}"), out.stdout
    show = subprocess.run(
        ["systemctl", "show", "--property", "LoadState", "--value", unit], capture_output=True, text=True
    )
    assert show.stdout.strip() == "not-found", "the scope is gone once its process exits"
