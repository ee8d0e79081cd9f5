"""Races.

- 200 lifecycles (create, start, state, kill, delete) on distinct ids, 8 at a time, while a
  watcher keeps running `list` and reading every state.json.
- 50 commands at once on one id: first only creates, starts, states and lists (exactly one create
  may win), then a mix of create, start, kill, delete and state, round after round.
Every command must finish (bounded time: no deadlock), succeed or fail with one clear line; no
state.json may ever be read half-written; `list` must always answer; afterwards `state` tells the
truth and delete --force leaves nothing.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability import faults, harness
from tests.reliability import machine as m

COMMAND_TIMEOUT = 120  # far above any normal run: reaching it means a deadlock


class Watcher(threading.Thread):
    """Runs `list --format json` and reads every state.json, over and over, until stopped."""

    def __init__(self, rig: harness.Rig) -> None:
        super().__init__(name="race-watcher", daemon=True)
        self.rig = rig
        self.stopping = threading.Event()
        self.problems: list[str] = []
        self.lists = 0
        self.reads = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            self.check_list()
            self.check_state_files()

    def check_list(self) -> None:
        result = self.rig.run("list", "--format", "json", timeout=COMMAND_TIMEOUT)
        self.lists += 1
        if result.rc != 0:
            self.problems.append(f"list failed: {result}")
            return
        try:
            entries = json.loads(result.out)
        except ValueError:
            self.problems.append(f"list printed no JSON: {result.out[:200]!r}")
            return
        for entry in entries:
            if entry.get("status") not in harness.STATUSES:
                self.problems.append(f"list shows status {entry.get('status')!r} for {entry.get('id')}")

    def check_state_files(self) -> None:
        for name in os.listdir(self.rig.root):
            path = os.path.join(self.rig.root, name, "state.json")
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except (FileNotFoundError, NotADirectoryError):
                continue
            self.reads += 1
            try:
                json.loads(data)
            except ValueError:
                self.problems.append(f"half-written state.json of {name}: {data[:120]!r}")


def lifecycle(rig: harness.Rig, cid: str) -> list[str]:
    """One container's life; the problems met (empty when all went well)."""
    steps = [
        ("create", "--bundle", rig.bundle, cid),
        ("start", cid),
        ("state", cid),
        ("kill", cid, "KILL"),
    ]
    for args in steps:
        result = rig.run(*args, timeout=COMMAND_TIMEOUT)
        if result.rc != 0:
            return failed(args[0], result)
        if args[0] == "state" and json.loads(result.out)["status"] != "running":
            return [f"state after start says {result.out!r}"]
    pid = rig.raw_state(cid)["pid"]
    if not m.wait_for(lambda: not m.is_alive(pid), 30):
        return [f"init {pid} survived SIGKILL"]
    result = rig.run("delete", cid, timeout=COMMAND_TIMEOUT)
    if result.rc != 0:
        return failed("delete", result)
    return rig.leftovers(cid, {pid})


def failed(what: str, result: harness.Result) -> list[str]:
    """A step that should have worked."""
    return [f"{what} failed: {result}"]


@pytest.mark.parametrize(
    "count", [pytest.param(200, id="ci"), pytest.param(1000, id="long", marks=pytest.mark.slow)]
)
def test_parallel_lifecycles_on_distinct_ids(rig, figures, count):
    watcher = Watcher(rig)
    watcher.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(lambda cid: (cid, lifecycle(rig, cid)), harness_ids("life", count)))
    finally:
        watcher.stopping.set()
        watcher.join(COMMAND_TIMEOUT)
    seconds = time.monotonic() - started
    fig = figures("race: parallel lifecycles (8 at a time)")
    for cid, problems in outcomes:
        if problems:
            rig.clean(cid)
            fig.problems(problems)
    failures = [(cid, problems) for cid, problems in outcomes if problems]
    fig.add(tries=count, lists=watcher.lists, state_reads=watcher.reads)
    fig.problems(watcher.problems)
    fig.set(seconds=round(seconds, 1), lifecycles_per_second=round(count / seconds, 2))
    assert not failures, f"{len(failures)} of {count} lifecycles failed: {failures[:5]}"
    assert not watcher.problems, watcher.problems[:5]
    assert watcher.lists > 0 and watcher.reads > 0
    assert json.loads(rig.must("list", "--format", "json").out) == []


def harness_ids(tag: str, count: int) -> list[str]:
    return [harness.unique_id(tag) for _ in range(count)]


def race(rig: harness.Rig, commands: list[tuple[str, ...]]) -> list[harness.Result]:
    """Start every command at (nearly) the same moment; wait for all."""
    barrier = threading.Barrier(len(commands))

    def one(args: tuple[str, ...]) -> harness.Result:
        barrier.wait()
        return rig.run(*args, timeout=COMMAND_TIMEOUT)

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(one, commands))


def unclean(results: list[harness.Result]) -> list[str]:
    """Problems of the failed ones: each must be one clear line, exit 1, within the time bound."""
    problems = []
    for result in results:
        if result.rc != 0:
            problems += harness.clean_failure_problems(result, "racing command")
    return problems


def test_fifty_commands_on_one_id_exactly_one_create(rig, figures):
    cid = harness.unique_id("one")
    commands = [("create", "--bundle", rig.bundle, cid)] * 20
    commands += [("state", cid)] * 10 + [("list", "--format", "json")] * 10 + [("start", cid)] * 10
    random.shuffle(commands)
    results = race(rig, commands)
    creates = [r for r, c in zip(results, commands, strict=True) if c[0] == "create"]
    starts = [r for r, c in zip(results, commands, strict=True) if c[0] == "start"]
    problems = unclean(results)
    winners = [r for r in creates if r.rc == 0]
    if len(winners) != 1:
        problems.append(f"{len(winners)} creates succeeded")
    for loser in creates:
        if loser.rc != 0 and "already exists" not in harness.error_message(loser):
            problems.append(f"a losing create says {harness.error_message(loser)!r}")
    if sum(r.rc == 0 for r in starts) > 1:
        problems.append("more than one start succeeded")
    status, truth = rig.check_truth(cid)
    problems += truth + rig.clean(cid)
    fig = figures("race: 50 commands on one id (creates)")
    fig.add(tries=1, commands=len(commands))
    fig.problems(problems)
    assert problems == [], problems
    assert status in ("created", "running")


def mixed_round(rig: harness.Rig, cid: str, rng: random.Random) -> list[str]:
    kinds = [
        ("create", "--bundle", rig.bundle, cid),
        ("start", cid),
        ("kill", cid, "KILL"),
        ("delete", cid),
        ("delete", "--force", cid),
        ("state", cid),
    ]
    commands = [rng.choice(kinds) for _ in range(50)]
    results = race(rig, commands)
    problems = unclean(results)
    _status, truth = rig.check_truth(cid)
    problems += truth + rig.clean(cid, via_list=True)
    return problems


@pytest.mark.parametrize(
    "rounds", [pytest.param(3, id="ci"), pytest.param(60, id="long", marks=pytest.mark.slow)]
)
def test_fifty_mixed_commands_on_one_id(rig, figures, rounds):
    rng = random.Random(seed := int(os.environ.get("RELIABILITY_SEED") or random.randrange(1 << 32)))
    fig = figures("race: 50 mixed commands on one id")
    fig.set(seed=seed)
    watcher = Watcher(rig)
    watcher.start()
    failures = []
    try:
        for n in range(rounds):
            problems = mixed_round(rig, harness.unique_id("mixed"), rng)
            fig.add(tries=1, commands=50)
            fig.problems(problems)
            if problems:
                failures.append(f"round {n}: {problems}")
    finally:
        watcher.stopping.set()
        watcher.join(COMMAND_TIMEOUT)
    assert not failures, f"seed {seed}:\n" + "\n".join(failures)
    assert not watcher.problems, watcher.problems[:5]


SYS_FLOCK, SYS_RMDIR = 73, 84  # x86_64


def test_delete_does_not_remove_a_container_being_created(rig):
    """create is held (strace delay) as it enters flock of its new lock file; a delete runs
    meanwhile. The id must not be visible before its lock is held: the delete finds no such
    container, and the create completes. (Before the fix, create made the id's directory and
    then locked it: delete found an unlocked directory without state.json, called it stopped and
    removed it, and create failed with an internal FileNotFoundError.)"""
    cid = harness.unique_id("claim")
    argv = rig.cmd("create", "--bundle", rig.bundle, cid)
    held = faults.hold_at(argv, "flock", 1, 1.5)
    try:
        assert m.wait_for(lambda: held_in(held, SYS_FLOCK), 15), "create never reached its flock"
        deleted = rig.run("delete", cid)
        created = held.finish(60)
    finally:
        held.kill()
    problems = harness.clean_failure_problems(created, "create") if created.rc else []
    if deleted.rc == 0:
        problems.append("delete removed a container whose create had not finished")
    elif "does not exist" not in deleted.err:
        problems.append(f"delete during create: {deleted}")
    if created.rc == 0 and rig.state(cid)["status"] != "created":
        problems.append(f"after the race: {rig.state(cid)}")
    problems += rig.clean(cid)
    assert problems == []


def held_in(strace: harness.Spawned, number: int, fd_target: str = "") -> int | None:
    """The traced runtime (strace's child) once it sits at the entry of syscall `number` (and,
    if given, on an fd whose path contains `fd_target`)."""
    for pid in m.descendants(strace.pid):
        try:
            with open(f"/proc/{pid}/syscall") as f:
                fields = f.read().split()
        except OSError:
            continue
        if not fields or fields[0] != str(number):
            continue
        if not fd_target:
            return pid
        try:
            if fd_target in os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}"):
                return pid
        except (OSError, ValueError, IndexError):
            continue
    return None


def occurrence(rig: harness.Rig, args: tuple[str, ...], name: str, mentioning: str, setup) -> int:
    """The index of the (last) `name` syscall mentioning `mentioning` in a dry run of args."""
    cid = harness.unique_id("dry")
    setup(cid)
    result, entries = faults.trace(rig.cmd(*(a.format(cid=cid) for a in args)))
    rig.clean(cid)
    assert result.rc == 0, result
    points = faults.kill_points(entries, marker="", names={name})
    return [p for p in points if mentioning in p.text][-1].occurrence


def test_state_while_delete_removes_the_cgroup(rig):
    """`state` held (strace delay) as it enters the read of freezer.state, the file already
    open; `delete --force` removes the cgroup meanwhile."""
    index = occurrence(rig, ("state", "{cid}"), "read", "freezer.state", rig.run_detached)
    cid = harness.unique_id("frz")
    rig.run_detached(cid)
    held = faults.hold_at(rig.cmd("state", cid), "read", index, 1.5)
    try:
        assert m.wait_for(lambda: held_in(held, 0, "freezer.state"), 15), "state never reached the read"
        deleted = rig.run("delete", "--force", cid)
        result = held.finish(60)
    finally:
        held.kill()
    assert deleted.rc == 0, deleted
    problems = [] if result.rc == 0 else harness.clean_failure_problems(result, "state")
    assert problems == []


def delete_held_at_its_last_rmdir(rig: harness.Rig, cid: str, make, seconds: float) -> harness.Spawned:
    """`delete --force` of a container `make(cid)` makes, held `seconds` as it enters its last
    rmdir, that of the state directory (renamed out of the id's place and emptied by then)."""
    index = occurrence(rig, ("delete", "--force", "{cid}"), "rmdir", rig.root, make)
    make(cid)
    held = faults.hold_at(rig.cmd("delete", "--force", cid), "rmdir", index, seconds)
    if not m.wait_for(lambda: held_in(held, SYS_RMDIR), 15):
        held.kill()
        raise AssertionError("delete never reached the rmdir")
    return held


def test_state_while_delete_removes_the_directory(rig):
    """`delete --force` held as it enters the rmdir of the state directory; `state` runs
    meanwhile."""
    cid = harness.unique_id("relock")
    held = delete_held_at_its_last_rmdir(rig, cid, rig.run_detached, 1.5)
    try:
        stated = rig.run("state", cid)
        deleted = held.finish(60)
    finally:
        held.kill()
    leftover = os.path.exists(rig.state_dir(cid))
    problems = harness.clean_failure_problems(stated, "state") if stated.rc else []
    problems += rig.clean(cid)
    assert deleted.rc == 0, deleted
    assert not leftover, "the state directory stayed"
    assert problems == []


SYS_RENAME, SYS_RENAMEAT2 = 82, 316  # x86_64


def test_create_does_not_take_over_a_directory_delete_has_emptied(rig):
    """Three commands on one id. create #1 passes its "already exists" check while the id is free
    and is held as it enters the rename that claims the id; meanwhile create #2 claims the id
    and `delete --force` of it is held at its last rmdir. A plain rename(2) replaces an empty
    directory: create #1 once took over the directory the delete was emptying in place, and the
    delete then removed it, leaving the new container's init and cgroup to nobody (found by the
    50-command race as ENODEV in a later create). The delete now gives up the id (a rename)
    before it empties the directory: create #1 either fails cleanly ("already exists") or takes
    the free id, and then its container is whole once the delete has ended."""
    index = occurrence(rig, ("delete", "--force", "{cid}"), "rmdir", rig.root, rig.create)
    cid = harness.unique_id("retake")
    first = faults.hold_at(rig.cmd("create", "--bundle", rig.bundle, cid), "rename,renameat2", 1, 3.0)
    deleting = None
    try:
        held = lambda: held_in(first, SYS_RENAME) or held_in(first, SYS_RENAMEAT2)  # noqa: E731
        assert m.wait_for(held, 15), "create #1 never reached its rename"
        rig.create(cid)
        deleting = faults.hold_at(rig.cmd("delete", "--force", cid), "rmdir", index, 4.0)
        assert m.wait_for(lambda: held_in(deleting, SYS_RMDIR), 15), "delete never reached the rmdir"
        created = first.finish(60)
        deleted = deleting.finish(60)
    finally:
        first.kill()
        if deleting is not None:
            deleting.kill()
    problems = []
    if created.rc == 0:
        problems += whole(rig, cid, "create #1")
    else:
        problems += harness.clean_failure_problems(created, "create #1")
        if "already exists" not in created.err:
            problems.append(f"create #1: {created}")
    problems += rig.clean(cid)
    assert deleted.rc == 0, deleted
    assert problems == []


def whole(rig: harness.Rig, cid: str, what: str) -> list[str]:
    """Problems of a container that should be there, created, with its init waiting."""
    state = rig.run("state", cid)
    if state.rc != 0:
        return [f"{what}'s container is gone: {state}"]
    status = json.loads(state.out)
    if status["status"] != "created" or not m.is_alive(status["pid"]):
        return [f"{what}'s container is not whole: {status}"]
    if not os.path.exists(os.path.join(rig.state_dir(cid), "lock")):
        return [f"{what}'s container lost its lock file"]
    return []


def test_a_delete_at_its_last_step_has_already_given_up_the_id(rig):
    """`delete --force` held as it enters its last rmdir, that of the state directory. Meanwhile
    `state` finds no container, a second `delete --force` finds nothing to remove, and a create
    of the id succeeds; its container is whole once the first delete has ended. (The directory
    used to be emptied in place, so for a moment it had no lock file. A racing `delete --force`
    took it for what a killed delete leaves and removed it, with the cgroup of the create that
    had claimed the id meanwhile: the init the 50-command race found left, seed 2025386467.)"""
    cid = harness.unique_id("gone")
    held = delete_held_at_its_last_rmdir(rig, cid, rig.create, 3.0)
    try:
        stated = rig.run("state", cid)
        second = rig.run("delete", "--force", cid)
        created = rig.run("create", "--bundle", rig.bundle, cid)
        deleted = held.finish(60)
    finally:
        held.kill()
    problems = []
    if stated.rc == 0 or "does not exist" not in stated.err:
        problems.append(f"state during the delete: {stated}")
    if second.rc != 0 or second.err:
        problems.append(f"a second delete --force during the first: {second}")
    if created.rc != 0:
        problems.append(f"create of the id during the delete: {created}")
    else:
        problems += whole(rig, cid, "the create during the delete")
    problems += rig.clean(cid)
    assert deleted.rc == 0, deleted
    assert problems == []
