"""Tests that need a host whose PID 1 is systemd with cgroup v2 unified (issue 12).

They run in the QEMU guest of tests/vm/run-systemd, which fails on any skip; anywhere else (this
kind of machine's PID 1 is not systemd) they are skipped with that reason.
"""

from __future__ import annotations

import pytest

from tests.support import systemd_host_problem


def pytest_collection_modifyitems(config, items):
    problem = systemd_host_problem()
    if problem is None:
        return
    for item in items:
        if item.get_closest_marker("systemd"):
            item.add_marker(pytest.mark.skip(reason=problem))
