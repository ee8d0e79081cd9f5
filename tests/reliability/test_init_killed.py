"""The container's init SIGKILLed at every stage.

- during create, while the clone sets up mounts and pivot_root (strace -f -b execve: every
  syscall only the clone makes is a kill point) and in the init helper before READY;
- created (blocked on exec.fifo), while `start` releases it (strace attached to the init kills it
  at its execve), running, paused;
- while `exec` joins its namespaces (the exec's clone held at setns, the init killed meanwhile);
- at random moments during create.
Afterwards: the failing command fails cleanly, `state` tells the truth, and delete cleans up.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.reliability import faults, harness
from tests.reliability import machine as m
from tests.reliability.test_killed import CREATE, scenario, seed, usual_duration


def create_argv(rig: harness.Rig, cid: str) -> list[str]:
    return rig.cmd(*(a.format(cid=cid, bundle=rig.bundle) for a in CREATE))


def clone_points(rig: harness.Rig) -> list[faults.Point]:
    """Every syscall of create's clone (before it execs the init helper) that create itself
    never makes: the injection counters are per process, so these pick out the clone."""
    cid = harness.unique_id("dry")
    result, entries = faults.trace(create_argv(rig, cid), follow=True, detach_on_exec=True)
    assert result.rc == 0, result
    assert rig.clean(cid) == []
    runtime = entries[0].pid
    runtime_names = {e.name for e in entries if e.pid == runtime}
    clone = next(e.pid for e in entries if e.pid != runtime)
    names = {e.name for e in entries if e.pid == clone} - runtime_names
    return faults.kill_points(entries, marker="", pid=clone, names=names)


def sample_by_name(points: list[faults.Point]) -> list[faults.Point]:
    first, last = {}, {}
    for point in points:
        first.setdefault(point.name, point)
        last[point.name] = point
    chosen = set(first.values()) | set(last.values())
    return [p for p in points if p in chosen]


def expect_failed_create(
    rig: harness.Rig, cid: str, result: harness.Result, what: str, killed: bool = True
) -> list[str]:
    """A create whose init was killed fails with one clear line and undoes everything."""
    problems = []
    if result.rc == 0:
        status, truth = rig.check_truth(cid)  # finished before the kill landed: must say stopped
        problems += truth
        if status != ("stopped" if killed else "created"):
            problems.append(f"{what}: create succeeded, init killed: {killed}, status {status!r}")
    else:
        problems += harness.clean_failure_problems(result, what)
        status, truth = rig.check_truth(cid)
        problems += truth
        if status != "absent":
            problems.append(f"{what}: a failed create left a container ({status})")
    return problems + rig.clean(cid)


def sweep_clone(rig, figures, every_step: bool) -> None:
    points = clone_points(rig)
    if not every_step:
        points = sample_by_name(points)
    fig = figures(f"kill the init during create's setup ({'every step' if every_step else 'sampled'})")
    failures = []
    for point in points:
        cid = harness.unique_id("initsetup")
        result = faults.kill_at(create_argv(rig, cid), point, follow=True, detach_on_exec=True).finish(60)
        problems = expect_failed_create(rig, cid, result, point.label())
        fig.add(tries=1, killed=int(result.rc != 0))
        fig.problems(problems)
        if problems:
            failures.append(f"at {point.label()}: {problems}")
    assert not failures, f"{len(failures)} of {len(points)}:\n" + "\n".join(failures)


def test_init_killed_during_setup_sampled(rig, figures):
    sweep_clone(rig, figures, every_step=False)


@pytest.mark.slow
def test_init_killed_during_setup_every_step(rig, figures):
    sweep_clone(rig, figures, every_step=True)


@pytest.mark.parametrize("name", ["setresgid", "setresuid", "capset"])
def test_init_killed_in_the_helper_before_ready(rig, figures, name):
    """The init helper (after the clone's execveat) applies credentials and capabilities, then
    reports READY: killed at each of those syscalls, which the runtime never makes itself."""
    cid = harness.unique_id("inithelper")
    point = faults.Point(name, 1, 0, name)
    result = faults.kill_at(create_argv(rig, cid), point, follow=True).finish(30)
    problems = expect_failed_create(rig, cid, result, f"init killed at {name}")
    figures("kill the init in the helper before READY").add(tries=1)
    figures("kill the init in the helper before READY").problems(problems)
    assert problems == []
    assert result.rc == 1, "the helper should have been killed before READY"


def kill_init(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_init_killed_while_created(rig, figures):
    cid = harness.unique_id("created")
    rig.create(cid)
    pid = rig.state(cid)["pid"]
    kill_init(pid)
    assert m.wait_for(lambda: not m.is_alive(pid), 10)
    status, problems = rig.check_truth(cid)
    assert (status, problems) == ("stopped", [])
    started = rig.run("start", cid)
    assert harness.clean_failure_problems(started, "start") == []
    assert "stopped" in harness.error_message(started)
    rig.must("delete", cid)
    assert rig.leftovers(cid, {pid}) == []
    figures("kill the init at a stage").add(tries=1)


def test_init_killed_while_start_releases_it(rig, figures):
    """strace attached to the created init kills it as it enters execve, i.e. after `start`
    opened the fifo and the startContainer hooks ran. The fifo's write end closes at death as
    it would at execve, so start cannot tell this from a process that exits at once: like runc
    (whose init writes a byte, then execs), it may report success. Either way, one clear line if
    it fails, and `state` must then say stopped."""
    cid = harness.unique_id("starting")
    rig.create(cid)
    pid = rig.state(cid)["pid"]
    tracer = harness.Spawned(
        [faults.STRACE, "-qq", "-o", "/dev/null", "-e", "inject=execve:signal=KILL", "-p", str(pid)]
    )
    try:
        assert m.wait_for(lambda: _tracer_of(pid) == tracer.pid, 10), "strace did not attach"
        started = rig.run("start", cid)
        problems = [] if started.rc == 0 else harness.clean_failure_problems(started, "start")
        status, truth = rig.check_truth(cid)
        assert (status, problems + truth) == ("stopped", [])
        assert rig.clean(cid) == []
    finally:
        tracer.kill()
        tracer.finish(10)
    figures("kill the init at a stage").add(tries=1)
    figures("kill the init at a stage").add(start_said_ok_for_a_dead_init=int(started.rc == 0))


def _tracer_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def test_init_killed_while_running(rig, figures):
    cid = harness.unique_id("running")
    rig.run_detached(cid)
    pid = rig.state(cid)["pid"]
    kill_init(pid)
    assert m.wait_for(lambda: not m.is_alive(pid), 10)
    assert rig.check_truth(cid) == ("stopped", [])
    signalled = rig.run("kill", cid, "TERM")
    assert harness.clean_failure_problems(signalled, "kill") == []
    assert "not running" in harness.error_message(signalled)
    rig.must("delete", cid)
    assert rig.leftovers(cid, {pid}) == []
    figures("kill the init at a stage").add(tries=1)


@pytest.mark.parametrize("then", ["delete-force", "resume"])
def test_init_killed_while_paused(rig, figures, then):
    """A frozen task keeps a pending SIGKILL until thawed: it is still paused, truthfully, and
    either delete --force or resume (after which it is stopped) ends it."""
    cid = harness.unique_id("paused")
    rig.run_detached(cid)
    rig.must("pause", cid)
    pid = rig.state(cid)["pid"]
    kill_init(pid)
    time.sleep(0.1)
    assert rig.check_truth(cid) == ("paused", [])
    if then == "resume":
        rig.must("resume", cid)
        assert m.wait_for(lambda: not m.is_alive(pid), 10)
        assert rig.check_truth(cid) == ("stopped", [])
    assert rig.clean(cid) == []
    figures("kill the init at a stage").add(tries=1)


def test_init_killed_while_exec_joins(rig, figures):
    """exec's clone held at its first setns for a second; the init killed meanwhile: exec must
    fail with one clear line (or, if it got in first, succeed), and nothing may be left."""
    cid = harness.unique_id("execjoin")
    rig.run_detached(cid)
    pid = rig.state(cid)["pid"]
    held = faults.hold_at(rig.cmd("exec", cid, "true"), "setns", 1, 1.0, follow=True)
    try:
        joining = m.wait_for(lambda: _in_syscall_below(held.pid, m.SYSCALL_NR["setns"]), 10)
        assert joining, "exec's clone never reached setns"
        kill_init(pid)
        result = held.finish(60)
    finally:
        held.kill()
    problems = [] if result.rc == 0 else harness.clean_failure_problems(result, "exec")
    status, truth = rig.check_truth(cid)
    problems += truth + rig.clean(cid)
    figures("kill the init at a stage").add(tries=1)
    figures("kill the init at a stage").problems(problems)
    assert status == "stopped"
    assert problems == []


def _in_syscall_below(ancestor: int, number: int) -> int | None:
    for pid in m.descendants(ancestor):
        if m.current_syscall(pid) == number:
            return pid
    return None


@pytest.mark.parametrize(
    "tries", [pytest.param(6, id="ci"), pytest.param(200, id="long", marks=pytest.mark.slow)]
)
def test_init_killed_at_random_moments_during_create(rig, figures, tries):
    """Wait for create's clone to appear, then kill it after a random delay (up to a usual
    create's duration)."""
    rng = random.Random(chosen := seed())
    window = usual_duration(rig, scenario("create"))
    fig = figures("kill the init at random moments during create")
    fig.set(seed=chosen, usual_create_s=round(window, 3))
    failures = []
    for _ in range(tries):
        cid = harness.unique_id("initrandom")
        creating = harness.Spawned(create_argv(rig, cid))
        child = m.wait_for(lambda c=creating: next(iter(m.descendants(c.pid)), None), 10, interval=0.001)
        if child:  # else create was done before we looked: nothing to kill
            time.sleep(rng.uniform(0, window))
            kill_init(child)
        result = creating.finish(60)
        problems = expect_failed_create(rig, cid, result, "create with its init killed", bool(child))
        fig.add(tries=1, killed=int(result.rc != 0))
        fig.problems(problems)
        if problems:
            failures.append(problems)
    assert not failures, f"seed {chosen}: {failures}"


def test_init_killed_with_an_ack_unread(rig):
    """The clone is held (strace delay) as it enters its first read, the wait for the SETUP ack;
    once create has sent the ack and waits for the next message, the clone is killed with the
    ack unread: the runtime's next read gets ECONNRESET, which must read as the init's death
    ('container init was killed by signal 9 during setup'), not an internal error."""
    cid = harness.unique_id("unread")
    held = faults.hold_at(create_argv(rig, cid), "read", 1, 1.0, follow=True)
    try:
        clone = m.wait_for(lambda: _clone_held_in_read(held.pid), 15)
        assert clone, "create's clone never reached its first read"
        runtime = m.proc_stat(clone)[1]
        assert m.wait_for(lambda: _reading_a_socket(runtime), 15), "create never waited after the ack"
        kill_init(clone)
        result = held.finish(60)
    finally:
        held.kill()
    problems = harness.clean_failure_problems(result, "create")
    problems += rig.clean(cid)
    assert problems == []


def _clone_held_in_read(strace_pid: int) -> int | None:
    below = m.descendants(strace_pid)
    runtime = below[0] if below else None
    for pid in below:
        stat = m.proc_stat(pid)
        if stat and stat[1] == runtime and m.current_syscall(pid) == 0:
            return pid
    return None


def _reading_a_socket(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
        return fields[0] == "0" and os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}").startswith("socket:")
    except (OSError, IndexError, ValueError):
        return False
