"""Issue 12 with issue 9's harness: `create`, `run -d` and `delete --force` under --systemd-cgroup
SIGKILLed at each kind of step (see test_killed.py), on a systemd host (tests/vm/run-systemd).
Besides what test_killed checks after every kill (state tells the truth, delete --force removes
everything), no scope unit of these containers may be left loaded: runc has leaked exactly these."""

from __future__ import annotations

import pytest

from tests.reliability import harness
from tests.reliability.test_killed import SCENARIOS, sweep
from tests.support import systemd_host_problem
from tests.systemd.units import units_named

_PROBLEM = systemd_host_problem()
# slow: about 9 minutes under the guest's emulation (57 kills); tests/vm/run-systemd -- -m systemd
pytestmark = [
    pytest.mark.systemd,
    pytest.mark.slow,
    pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or ""),
]


@pytest.mark.parametrize(
    "scenario", [s for s in SCENARIOS if s.tag in ("create", "run-d", "delete-f")], ids=lambda s: s.tag
)
def test_killed_at_each_kind_of_step_under_systemd(rig, figures, scenario):
    rig.global_args = ("--systemd-cgroup",)
    try:
        sweep(rig, figures, scenario, every_step=False)
    finally:
        left = units_named(f"runc-{harness.SESSION}-*")
    assert not left, f"units left behind: {left}"
