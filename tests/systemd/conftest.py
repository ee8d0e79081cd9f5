"""Tests that need a host whose PID 1 is systemd with cgroup v2 unified (issue 12).

They run in the QEMU guest of tests/vm/run-systemd, which fails on any skip; anywhere else (this
kind of machine's PID 1 is not systemd) they are skipped with that reason.
"""

from __future__ import annotations

import os

import pytest


def systemd_host_problem() -> str | None:
    """Why this host cannot run the systemd tests, or None when it can."""
    try:
        with open("/proc/1/comm") as f:
            init = f.read().strip()
    except OSError as err:
        return f"cannot read /proc/1/comm: {err}"
    if init != "systemd":
        return f"PID 1 is {init!r}, not systemd: these tests run in tests/vm/run-systemd"
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "cgroup v2 is not unified here: these tests run in tests/vm/run-systemd"
    return None


def pytest_collection_modifyitems(config, items):
    problem = systemd_host_problem()
    if problem is None:
        return
    for item in items:
        if item.get_closest_marker("systemd"):
            item.add_marker(pytest.mark.skip(reason=problem))
