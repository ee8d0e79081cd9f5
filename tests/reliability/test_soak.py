"""Soak. Lifecycles one after another (create, state, start, state, every tenth an
exec, kill, delete), sampling what could leak: the fds the runtime leaves in the container's init,
the host's mounts, cgroup directories, zombies, state directories, this process's own fds.

Leaks are asserted (nothing of ours may remain, and the samples must not grow); the time per
lifecycle and its drift (last tenth against first tenth) are only reported: the machine is shared,
so times are facts to read, not to assert.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import pytest

from tests.reliability import harness
from tests.reliability import machine as m


class Sampler:
    """Readings every `every` lifecycles; growth is judged on first vs last reading."""

    def __init__(self, rig: harness.Rig) -> None:
        self.rig = rig
        self.readings: list[dict] = []

    def take(self, n: int, init_fds: int) -> dict:
        reading = {
            "lifecycle": n,
            "init_fds": init_fds,
            "own_fds": m.fd_count(os.getpid()),
            "host_mounts": m.host_mount_count(),
            "our_mounts": len(m.mount_points_under([self.rig.root, self.rig.bundle])),
            "all_cgroup_dirs": len(m.cgroup_dirs(lambda d: True)),
            "our_cgroup_dirs": len(m.cgroup_dirs(lambda d: d.startswith(f"{harness.SESSION}-soak"))),
            "our_zombies": len(m.zombie_children(os.getpid())),
            "state_dirs": len([n for n in os.listdir(self.rig.root) if not n.startswith("#")]),
            "live_descendants": len(m.live_descendants(os.getpid())),
        }
        self.readings.append(reading)
        return reading

    def growth(self) -> dict:
        first, last = self.readings[0], self.readings[-1]
        return {k: last[k] - first[k] for k in first if k != "lifecycle"}


def lifecycle(rig: harness.Rig, n: int) -> tuple[float, int, list[str]]:
    """(seconds, fds of the created init, problems)."""
    cid = f"{harness.SESSION}-soak-{n}"
    started = time.monotonic()
    problems: list[str] = []
    rig.must("create", "--bundle", rig.bundle, cid)
    state = json.loads(rig.must("state", cid).out)
    pid = state["pid"]
    init_fds = m.fd_count(pid)
    if state["status"] != "created":
        problems.append(f"{cid}: created container says {state['status']}")
    rig.must("start", cid)
    if json.loads(rig.must("state", cid).out)["status"] != "running":
        problems.append(f"{cid}: started container is not running")
    if n % 10 == 0:
        rig.must("exec", cid, "true")
    rig.must("kill", cid, "KILL")
    if not m.wait_for(lambda: not m.is_alive(pid), 30):
        problems.append(f"{cid}: init survived SIGKILL")
    rig.must("delete", cid)
    seconds = time.monotonic() - started
    problems += rig.leftovers(cid, {pid})
    return seconds, init_fds, problems


def soak(rig: harness.Rig, figures, count: int, every: int) -> None:
    sampler = Sampler(rig)
    times: list[float] = []
    problems: list[str] = []
    init_fds = []
    for n in range(count):
        seconds, fds, found = lifecycle(rig, n)
        times.append(seconds)
        init_fds.append(fds)
        problems += found
        if n % every == 0 or n == count - 1:
            sampler.take(n, fds)
        if len(problems) > 20:
            break
    tenth = max(1, len(times) // 10)
    first, last = statistics.mean(times[:tenth]), statistics.mean(times[-tenth:])
    growth = sampler.growth()
    fig = figures(f"soak: {count} sequential lifecycles")
    fig.add(tries=len(times), problems=len(problems))
    fig.set(
        total_seconds=round(sum(times), 1),
        mean_lifecycle_s=round(statistics.mean(times), 3),
        median_lifecycle_s=round(statistics.median(times), 3),
        first_tenth_s=round(first, 3),
        last_tenth_s=round(last, 3),
        drift_percent=round(100 * (last - first) / first, 1),
        init_fds=f"{min(init_fds)}..{max(init_fds)}",
        **{f"growth_{k}": v for k, v in growth.items()},
    )
    assert problems == [], problems[:10]
    # Nothing of ours may grow; other engineers' mounts and cgroups come and go, so the host-wide
    # counts are reported above, not asserted.
    for key in ("init_fds", "own_fds", "our_mounts", "our_cgroup_dirs", "state_dirs", "live_descendants"):
        assert growth[key] <= 0, f"{key} grew by {growth[key]} over {count} lifecycles: {sampler.readings}"
    assert max(r["our_zombies"] for r in sampler.readings) <= 2  # the reaper is at most a moment late
    assert len(set(init_fds)) == 1, f"the created init's fd count varies: {sorted(set(init_fds))}"


def test_soak_short(rig, figures):
    soak(rig, figures, count=30, every=5)


@pytest.mark.slow
def test_soak_2000(rig, figures):
    soak(rig, figures, count=int(os.environ.get("RELIABILITY_SOAK_COUNT", "2000")), every=100)
