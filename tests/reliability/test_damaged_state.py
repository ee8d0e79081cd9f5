"""Damaged state.

state.json truncated, emptied, garbage or of the wrong shape, missing; a lock file left over or
held by a stuck process; exec.fifo missing; the init's pid reused by an unrelated process. In
each case `state` gives a clear status or a clear one-line error, `list` still answers, and
`delete --force` removes everything without touching the unrelated process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.reliability import harness
from tests.reliability import machine as m

DAMAGE = {
    "truncated": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "garbage": lambda raw: b"\x00\xff\xfe not json \x7f",
    "null": lambda raw: b"null",
    "array": lambda raw: b"[1, 2]",
    "missing": None,  # removed
}
WRONG_SHAPE = {
    "pid-string": {"pid": "1"},
    "pid-negative": {"pid": -5},
    "pid-huge": {"pid": 2**70},
    "init-start-string": {"init_start": "x"},
    "cgroup-string": {"cgroup": "nonsense"},
    "cgroup-paths-list": {"cgroup": {"paths": ["a"]}},
    "hooks-number": {"hooks": 7},
    "annotations-list": {"annotations": [1]},
    "bundle-number": {"bundle": 5},
}


def state_path(rig: harness.Rig, cid: str) -> str:
    return os.path.join(rig.state_dir(cid), "state.json")


def damaged_container(rig: harness.Rig, tag: str, damage) -> tuple[str, set[int], set[str]]:
    """A running container whose state.json is then damaged; returns (id, its processes,
    its cgroup directories), read before the damage."""
    cid = harness.unique_id(tag)
    rig.run_detached(cid)
    processes = rig.container_processes(cid)
    cgroups = rig.container_cgroups(cid)
    path = state_path(rig, cid)
    if damage is None:
        os.unlink(path)
        return cid, processes, cgroups
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(damage(raw))
    return cid, processes, cgroups


def answers_clearly(result: harness.Result, what: str) -> list[str]:
    """Exit 0 with a valid status, or one clear error line."""
    if result.rc != 0:
        return harness.clean_failure_problems(result, what)
    try:
        status = json.loads(result.out)["status"]
    except (ValueError, KeyError, TypeError):
        return [f"{what}: exit 0 without a state: {result.out[:200]!r}"]
    return [] if status in harness.STATUSES else [f"{what}: status {status!r}"]


def list_answers(rig: harness.Rig, other: str) -> list[str]:
    """`list` must still answer (a broken entry may be skipped with a warning, as runc does)
    and still show the healthy container `other`."""
    result = rig.run("list", "--format", "json")
    if result.rc != 0:
        return [f"list fails because of one damaged container: {harness.error_message(result)!r}"]
    ids = {entry["id"] for entry in json.loads(result.out)}
    return [] if other in ids else [f"list lost the healthy container {other}"]


def force_delete_cleans(rig: harness.Rig, cid: str, processes: set[int], cgroups: set[str]) -> list[str]:
    result = rig.run("delete", "--force", cid, timeout=60)
    problems = [] if result.rc == 0 else [f"delete --force: {harness.error_message(result)!r}"]
    alive = sorted(p for p in processes if m.is_alive(p))
    if alive:
        problems.append(f"processes left: {alive}")
    left = sorted(c for c in cgroups if os.path.isdir(c))
    if left:
        problems.append(f"cgroups left: {left}")
    if os.path.exists(rig.state_dir(cid)):
        problems.append("state directory left")
    return problems


@pytest.fixture
def healthy(rig):
    """A healthy container beside the damaged one: list must keep showing it."""
    cid = harness.unique_id("healthy")
    rig.run_detached(cid)
    yield cid
    rig.clean(cid)


def scrub_after(rig: harness.Rig, cid: str) -> None:
    harness.scrub_container(cid, [rig.state_dir(cid)])
    harness.reap_orphans()


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_state_reports_a_damaged_state_file_clearly(rig, figures, kind):
    cid, _processes, _cgroups = damaged_container(rig, kind, DAMAGE[kind])
    try:
        problems = answers_clearly(rig.run("state", cid), f"state ({kind})")
        figures("damaged state").add(tries=1)
        figures("damaged state").problems(problems)
        assert problems == []
    finally:
        scrub_after(rig, cid)


@pytest.mark.parametrize("kind", sorted(WRONG_SHAPE))
def test_state_reports_a_wrongly_shaped_state_file_clearly(rig, figures, kind):
    """Valid JSON, wrong types: still an answer or one clear line, never an internal error."""

    def reshape(raw: bytes) -> bytes:
        return json.dumps({**json.loads(raw), **WRONG_SHAPE[kind]}).encode()

    cid, processes, cgroups = damaged_container(rig, kind, reshape)
    try:
        problems = answers_clearly(rig.run("state", cid), f"state ({kind})")
        problems += [p for p in list_answers(rig, cid) if "lost" not in p]
        problems += force_delete_cleans(rig, cid, processes, cgroups)
        figures("damaged state (wrong shape)").add(tries=1)
        figures("damaged state (wrong shape)").problems(problems)
        assert problems == []
    finally:
        scrub_after(rig, cid)


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_list_and_delete_force_survive_a_damaged_state_file(rig, healthy, kind):
    cid, processes, cgroups = damaged_container(rig, kind, DAMAGE[kind])
    try:
        problems = list_answers(rig, healthy)
        problems += force_delete_cleans(rig, cid, processes, cgroups)
        assert problems == []
    finally:
        scrub_after(rig, cid)


def test_missing_state_file_reads_as_stopped(rig, figures):
    """A directory without state.json (a create killed before its first write) is stopped."""
    cid, _processes, _cgroups = damaged_container(rig, "nostate", None)
    try:
        result = rig.run("state", cid)
        problems = answers_clearly(result, "state (no state.json)")
        if result.rc == 0 and json.loads(result.out)["status"] != "stopped":
            problems.append(f"status {json.loads(result.out)['status']!r} without state.json")
        problems += list_answers(rig, cid)
        figures("damaged state").add(tries=1)
        figures("damaged state").problems(problems)
        assert problems == []
    finally:
        scrub_after(rig, cid)


@pytest.mark.parametrize("how", ["removed", "garbage", "directory-mode-000"])
def test_stale_lock_file(rig, figures, how):
    """flock locks die with their holder; a lock file left over (or removed, or full of junk)
    must change nothing."""
    cid = harness.unique_id("stalelock")
    rig.run_detached(cid)
    lock = os.path.join(rig.state_dir(cid), "lock")
    if how == "removed":
        os.unlink(lock)
    elif how == "garbage":
        with open(lock, "wb") as f:
            f.write(b"\xff" * 100)
    else:
        os.chmod(lock, 0)
    status, problems = rig.check_truth(cid)
    problems += rig.clean(cid)
    figures("damaged state").add(tries=1)
    figures("damaged state").problems(problems)
    assert (status, problems) == ("running", [])


@pytest.fixture
def stuck_lock_holder(rig):
    """Hold a container's lock from a stopped process (a pyrunc command frozen mid-way)."""
    holders = []

    def hold(cid: str) -> int:
        lock = os.path.join(rig.state_dir(cid), "lock")
        code = (
            "import fcntl, os, signal, sys\n"
            f"fd = os.open({lock!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.kill(os.getpid(), signal.SIGSTOP)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code])
        holders.append(proc)
        assert m.wait_for(lambda: m.lock_holders(lock) == [proc.pid], 10)
        return proc.pid

    yield hold
    for proc in holders:
        proc.kill()
        proc.wait()


def test_a_held_lock_does_not_block_state_or_list(rig, figures, stuck_lock_holder):
    cid = harness.unique_id("heldlock")
    rig.run_detached(cid)
    stuck_lock_holder(cid)
    state = rig.run("state", cid, timeout=20)
    listed = rig.run("list", timeout=20)
    figures("damaged state").add(tries=1)
    assert not harness.timed_out(state) and json.loads(state.out)["status"] == "running"
    assert not harness.timed_out(listed) and cid in listed.out


def test_delete_force_is_bounded_when_the_lock_is_held(rig, stuck_lock_holder):
    cid = harness.unique_id("heldlock")
    rig.run_detached(cid)
    holder = stuck_lock_holder(cid)
    result = rig.run("delete", "--force", cid, timeout=12)
    assert not harness.timed_out(result), "delete --force still waiting after 12 s"
    assert harness.clean_failure_problems(result, "delete --force (lock held)") == []
    assert f"pid {holder} holds its lock" in result.err
    assert os.path.isdir(rig.state_dir(cid)), "a busy container must be left alone"


def test_missing_exec_fifo(rig, figures):
    """A created container whose exec.fifo vanished: state answers, start fails with one clear
    line (it cannot release the init), delete --force removes it."""
    cid = harness.unique_id("nofifo")
    rig.create(cid)
    pid = rig.state(cid)["pid"]
    os.unlink(os.path.join(rig.state_dir(cid), "exec.fifo"))
    problems = answers_clearly(rig.run("state", cid), "state (no exec.fifo)")
    started = rig.run("start", cid, timeout=20)
    if started.rc == 0:
        problems.append("start succeeded without exec.fifo")
    else:
        problems += harness.clean_failure_problems(started, "start (no exec.fifo)")
    problems += rig.clean(cid)
    figures("damaged state").add(tries=1)
    figures("damaged state").problems(problems)
    assert problems == []
    assert not m.is_alive(pid)


@pytest.fixture
def bystander():
    """An unrelated process that must survive everything."""
    proc = subprocess.Popen(["sleep", "3600"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("setup", ["created", "running"])
def test_pid_reused_by_an_unrelated_process(rig, figures, bystander, setup):
    """The init dies and its pid goes to another process: state.json then names that pid (with
    the old start time). pyrunc must say stopped, refuse to signal it, and delete --force must
    leave it alone."""
    cid = harness.unique_id("reused")
    if setup == "created":
        rig.create(cid)
    else:
        rig.run_detached(cid)
    init = rig.state(cid)["pid"]
    os.kill(init, signal.SIGKILL)
    assert m.wait_for(lambda: not m.is_alive(init), 10)
    path = state_path(rig, cid)
    with open(path) as f:
        state = json.load(f)
    state["pid"] = bystander.pid
    with open(path, "w") as f:
        json.dump(state, f)
    status, problems = rig.check_truth(cid)
    for args in (("kill", cid, "KILL"), ("kill", "--all", cid, "KILL"), ("start", cid)):
        result = rig.run(*args)
        if result.rc == 0 and args[0] == "start":
            problems.append("start succeeded on a reused pid")
        elif result.rc != 0:
            problems += harness.clean_failure_problems(result, " ".join(args[:2]))
        time.sleep(0.05)
        if not m.is_alive(bystander.pid):
            problems.append(f"{' '.join(args)} killed the unrelated process")
            break
    problems += rig.clean(cid)
    if not m.is_alive(bystander.pid):
        problems.append("delete --force killed the unrelated process")
    figures("damaged state").add(tries=1)
    figures("damaged state").problems(problems)
    assert (status, problems) == ("stopped", [])


def test_unrelated_lock_in_root_is_ignored(rig, figures):
    """Files and directories in --root that are not containers (a stray file, '#cache', a
    directory with an invalid id) do not disturb list."""
    cid = harness.unique_id("neighbour")
    rig.run_detached(cid)
    with open(os.path.join(rig.root, "stray-file"), "w") as f:
        f.write("x")
    os.mkdir(os.path.join(rig.root, "not valid id"))
    try:
        listed = rig.run("list", "--format", "json")
        figures("damaged state").add(tries=1)
        assert listed.rc == 0, listed
        assert [e["id"] for e in json.loads(listed.out)] == [cid]
    finally:
        os.unlink(os.path.join(rig.root, "stray-file"))
        os.rmdir(os.path.join(rig.root, "not valid id"))
        assert rig.clean(cid) == []
