"""The shim's Stats on a cgroup v2 host: containerd's io.containerd.cgroups.v2.Metrics, read by ctr
(`ctr task metrics`), in tests/vm/run-v2's guest (this machine is cgroup v1 hybrid).

Values that can be checked: the memory limit ctr sets (--memory-limit), pids.current, CPU used by
an exec that loops, and an OOM kill counted in memory_events.
"""

from __future__ import annotations

import json

import pytest

from tests.daemons.test_containerd import Ctr

from . import guest

containerd = guest.containerd  # /dev/shm where /tmp is an overlay

pytestmark = [pytest.mark.daemons, pytest.mark.vm]

LIMIT = 48 << 20
WAIT = 300.0  # seconds, for a task to reach a status (software emulation: each ctr call takes ~1 s)


@pytest.fixture(autouse=True)
def unified_only() -> None:
    with open("/proc/self/mountinfo") as f:
        v1 = [line for line in f if " - cgroup " in line]
    if v1:
        pytest.skip("cgroup v1 hierarchies are mounted: the v2 Metrics need a cgroup v2-only host")


def _metrics(ctr: Ctr, cid: str) -> dict:
    return json.loads(ctr("task", "metrics", "--format", "json", cid).stdout)


def test_metrics_are_containerds_cgroup_v2_metrics(ctr: Ctr) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "100000", extra=("--memory-limit", str(LIMIT)))
    ctr.wait_status(cid, "RUNNING", timeout=WAIT)

    table = ctr("task", "metrics", cid).stdout
    assert "cpu.usage_usec" in table and "memory.usage_limit" in table, table  # ctr's v2 table
    before = _metrics(ctr, cid)
    assert before["pids"]["current"] == 1, before
    assert before["memory"]["usage_limit"] == LIMIT, before
    assert before["memory"]["usage"] > 0, before
    # memory.stat's counters (ctr's JSON leaves out a zero: a `sleep` may have no page cache)
    assert before["memory"].get("anon", 0) + before["memory"].get("file", 0) > 0, before

    loop = ctr(
        "task",
        "exec",
        "--exec-id",
        "busy",
        cid,
        "sh",
        "-c",
        "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done",
    )
    assert loop.returncode == 0, loop
    after = _metrics(ctr, cid)
    assert after["cpu"]["usage_usec"] > before["cpu"].get("usage_usec", 0), (before, after)
    assert after["cpu"]["usage_usec"] >= after["cpu"].get("user_usec", 0), after

    # An exec that outgrows the limit is OOM-killed: memory.events' counters come through.
    hog = ctr(
        "task",
        "exec",
        "--exec-id",
        "hog",
        cid,
        "sh",
        "-c",
        "a=xxxxxxxx; while true; do a=$a$a; done",
        check=False,
    )
    assert hog.returncode != 0, hog
    events = _metrics(ctr, cid).get("memory_events") or {}
    assert events.get("oom_kill", 0) >= 1 and events.get("max", 0) >= 1, events

    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED", timeout=WAIT)
    assert ctr.delete_task(cid) == 137
    ctr("container", "delete", cid)
