"""`create`, `start`, `run -d`, `exec` and `delete` SIGKILLed mid-way.

Two ways of choosing the moment:
- every step: a dry run under strace lists the command's syscalls; the command is then killed as
  it enters each one that changes something (see faults.py). CI kills at one step of each kind
  (e.g. the first write to devices.allow, not all twelve); the slow run at every step.
- random: SIGKILL after a random delay within the command's usual duration (seeded: the seed is
  in the figures; RELIABILITY_SEED=N repeats a run).

After every kill: `state` must tell the truth (checked against /proc and cgroupfs) or give a
clear error, and `delete --force` (every other time after `list`) must remove everything.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from dataclasses import dataclass

import pytest

from tests.reliability import faults, harness
from tests.reliability import machine as m

ALL_STATUSES = {"absent", "stopped", "created", "running"}


@dataclass(frozen=True)
class Scenario:
    """A command to kill: what must exist before it, its argv, what it may leave."""

    tag: str
    setup: str  # "", "created", "running" or "stopped"
    args: tuple[str, ...]  # "{cid}" and "{bundle}" are filled in
    may_leave: frozenset

    def argv(self, rig: harness.Rig, cid: str) -> list[str]:
        return rig.cmd(*(a.format(cid=cid, bundle=rig.bundle) for a in self.args))


CREATE = ("create", "--bundle", "{bundle}", "{cid}")
RUN_DETACHED = ("run", "--detach", "--bundle", "{bundle}", "{cid}")
SCENARIOS = [
    Scenario("create", "", CREATE, frozenset(ALL_STATUSES - {"running"})),
    Scenario("start", "created", ("start", "{cid}"), frozenset({"created", "running"})),
    Scenario("run-d", "", RUN_DETACHED, frozenset(ALL_STATUSES)),
    Scenario("exec", "running", ("exec", "{cid}", "true"), frozenset({"running"})),
    Scenario("exec-d", "running", ("exec", "--detach", "{cid}", "sleep", "3600"), frozenset({"running"})),
    # Killed between freezing the cgroup and thawing it (kill_all), delete leaves it paused.
    Scenario("delete-f", "running", ("delete", "--force", "{cid}"), frozenset(ALL_STATUSES | {"paused"})),
    Scenario("delete", "stopped", ("delete", "{cid}"), frozenset({"absent", "stopped"})),
]


def prepare(rig: harness.Rig, cid: str, setup: str) -> None:
    if setup == "created":
        rig.create(cid)
    elif setup in ("running", "stopped"):
        rig.run_detached(cid)
    if setup == "stopped":
        pid = rig.state(cid)["pid"]
        rig.must("kill", cid, "KILL")
        assert m.wait_for(lambda: not m.is_alive(pid), 10), f"init {pid} survived SIGKILL"
        harness.reap_orphans()


def judge(rig: harness.Rig, scenario: Scenario, cid: str, result: harness.Result, killed: bool, n: int):
    """Everything that must hold after one try; returns the problems."""
    problems = []
    if harness.timed_out(result):
        problems.append(f"{scenario.tag} hung")
    elif not killed and result.rc != 0:
        problems += harness.clean_failure_problems(result, scenario.tag)
    status, truth = rig.check_truth(cid)
    problems += truth
    if status not in scenario.may_leave:
        problems.append(
            f"{scenario.tag} killed left status {status!r}, expected one of {sorted(scenario.may_leave)}"
        )
    problems += rig.clean(cid, via_list=n % 2 == 1)
    return problems


def dry_run_points(rig: harness.Rig, scenario: Scenario) -> tuple[str, list[faults.Point]]:
    cid = harness.unique_id(scenario.tag)
    prepare(rig, cid, scenario.setup)
    result, entries = faults.trace(scenario.argv(rig, cid))
    assert result.rc == 0, f"dry run of {scenario.tag} failed: {result}"
    points = faults.kill_points(entries, marker=rig.root)
    assert rig.clean(cid) == []
    assert points, f"no kill points found for {scenario.tag}"
    return cid, points


def sweep(rig, figures, scenario: Scenario, every_step: bool) -> None:
    dry_cid, points = dry_run_points(rig, scenario)
    if not every_step:
        points = faults.sample(points, dry_cid)
    fig = figures(f"kill {scenario.tag} at {'every step' if every_step else 'each kind of step'}")
    failures = []
    for n, point in enumerate(points):
        cid = harness.unique_id(scenario.tag)
        prepare(rig, cid, scenario.setup)
        result = faults.kill_at(scenario.argv(rig, cid), point).finish(60)
        killed = faults.was_killed(result)
        problems = judge(rig, scenario, cid, result, killed, n)
        fig.add(tries=1, killed=int(killed))
        fig.problems(problems)
        if problems:
            failures.append(f"at {point.label()}: {problems}")
    assert not failures, f"{len(failures)} of {len(points)} kill points:\n" + "\n".join(failures)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.tag for s in SCENARIOS])
def test_killed_at_each_kind_of_step(rig, figures, scenario):
    sweep(rig, figures, scenario, every_step=False)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.tag for s in SCENARIOS])
def test_killed_at_every_step(rig, figures, scenario):
    sweep(rig, figures, scenario, every_step=True)


def usual_duration(rig: harness.Rig, scenario: Scenario) -> float:
    seconds = []
    for _ in range(2):
        cid = harness.unique_id(scenario.tag)
        prepare(rig, cid, scenario.setup)
        result = harness.run(scenario.argv(rig, cid))
        assert result.rc == 0, result
        seconds.append(result.seconds)
        assert rig.clean(cid) == []
    return statistics.median(seconds)


def seed() -> int:
    return int(os.environ.get("RELIABILITY_SEED") or random.randrange(1 << 32))


@pytest.mark.parametrize(
    "tries", [pytest.param(5, id="ci"), pytest.param(300, id="long", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.tag for s in SCENARIOS])
def test_killed_at_random_moments(rig, figures, scenario, tries):
    rng = random.Random(chosen := seed())
    duration = usual_duration(rig, scenario)
    fig = figures(f"kill {scenario.tag} at random moments")
    fig.set(seed=chosen, usual_seconds=round(duration, 3))
    failures = []
    for n in range(tries):
        cid = harness.unique_id(scenario.tag)
        prepare(rig, cid, scenario.setup)
        delay = rng.uniform(0, duration * 1.1)
        spawned = harness.Spawned(scenario.argv(rig, cid))
        time.sleep(delay)
        spawned.kill()
        result = spawned.finish(60)
        killed = result.rc == -9
        problems = judge(rig, scenario, cid, result, killed, n)
        fig.add(tries=1, killed=int(killed))
        fig.problems(problems)
        if problems:
            failures.append(f"after {delay:.3f}s: {problems}")
    assert not failures, f"seed {chosen}: {len(failures)} of {tries} tries:\n" + "\n".join(failures)


# -- Deterministic reproductions of the bugs this suite found (all fixed; see README.md) ---------


def dry_run_point(rig: harness.Rig, scenario: Scenario, wanted) -> faults.Point:
    """The last point of a dry run of `scenario` that satisfies `wanted`."""
    _cid, points = dry_run_points(rig, scenario)
    matching = [p for p in points if wanted(p)]
    assert matching, f"no such step in {scenario.tag}"
    return matching[-1]


def kill_and_check_killed(rig: harness.Rig, scenario: Scenario, cid: str, point: faults.Point) -> None:
    prepare(rig, cid, scenario.setup)
    result = faults.kill_at(scenario.argv(rig, cid), point).finish(60)
    assert faults.was_killed(result), f"{scenario.tag} was not killed at {point.label()}: {result}"


def scenario(tag: str) -> Scenario:
    return next(s for s in SCENARIOS if s.tag == tag)


def test_create_killed_between_cgroup_directories_leaves_none(rig):
    """Killed at the last cgroup mkdir: every other controller's directory exists, and none is in
    state.json yet unless state.json records the cgroup before the first mkdir."""
    create = scenario("create")
    point = dry_run_point(rig, create, lambda p: p.name == "mkdir" and "/sys/fs/cgroup/" in p.text)
    cid = harness.unique_id("cgwin")
    try:
        kill_and_check_killed(rig, create, cid, point)
        assert rig.run("delete", "--force", cid).rc == 0
        assert not m.cgroup_dirs_named(cid), "delete --force left the container's cgroup directories"
    finally:
        harness.scrub_container(cid, [rig.state_dir(cid)])


def test_start_killed_after_releasing_the_init(rig):
    """Killed at unlink(exec.fifo): the init already runs the user's process. State must say
    running (the init is no longer the helper), and a second start must fail, not block on a
    fifo that has no reader."""
    start = scenario("start")
    point = dry_run_point(rig, start, lambda p: p.name == "unlink" and "exec.fifo" in p.text)
    cid = harness.unique_id("stwin")
    try:
        kill_and_check_killed(rig, start, cid, point)
        pid = json.loads(rig.must("state", cid).out)["pid"]
        assert m.wait_for(lambda: m.comm(pid) == "sleep", 5), "the init was not released"
        assert rig.state(cid)["status"] == "running"
        again = rig.run("start", cid, timeout=10)
        assert not harness.timed_out(again), "a second start hangs"
        assert again.rc == 1
    finally:
        harness.scrub_container(cid, [rig.state_dir(cid)])


@pytest.mark.parametrize("tag", ["create", "exec"])
def test_setup_child_exits_when_its_runtime_is_killed(rig, tag):
    """Killed at the first cgroup.procs write, the runtime leaves its clone waiting for an ACK.
    The clone holds a copy of every fd of the parent, including the parent's end of the sync
    socketpair, unless it closes every inherited fd it does not need (and create's lock fd with
    them); PR_SET_PDEATHSIG covers the rest."""
    command = scenario(tag)
    point = next(p for p in dry_run_points(rig, command)[1] if p.name == "write" and "cgroup.procs" in p.text)
    cid = harness.unique_id("stuck")
    try:
        kill_and_check_killed(rig, command, cid, point)
        gone = m.wait_for(lambda: not harness.stuck_setup_children(), 3)
        assert gone, f"setup children still waiting: {harness.stuck_setup_children()}"
        assert not harness.timed_out(rig.run("delete", "--force", cid, timeout=10))
    finally:
        harness.end_stuck_setup_children(0)
        harness.scrub_container(cid, [rig.state_dir(cid)])
