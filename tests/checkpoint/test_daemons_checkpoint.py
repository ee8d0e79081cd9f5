"""containerd's runc shim and podman checkpoint and restore through pyrunc (`ctr container
checkpoint --task` / `ctr container restore --live`; `podman container checkpoint` / `restore`
with `--runtime pyrunc`), in tests/vm/run-v2's guest: Debian 12's criu 3.17 runs
on its 6.1 kernel only (on this host they skip with `criu check`'s own error).

Marked `slow` as well as `vm`: under the guest's software emulation one round trip (containerd
and its shim, an image import, two CRIU runs, the execs that read the counter) takes minutes,
more than the rest of the guest's selection together. Run them with
`tests/vm/run-v2 -- -m "vm and slow" tests/checkpoint/test_daemons_checkpoint.py`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.daemons.conftest as daemons_conftest
from tests.daemons.conftest import (  # noqa: F401  (the daemon fixtures, shared with tests/daemons)
    IMAGE_REF,
    containerd,
    image_tar,
    private_dir,
    runtime_bin,
    stopped_cleanly,
    token,
)
from tests.daemons.daemons import Podman

from .conftest import criu_problem

# Decided at collection: the daemon fixture is module-scoped, so set up before any function
# fixture could skip.
pytestmark = [
    pytest.mark.daemons,
    pytest.mark.vm,
    pytest.mark.slow,
    pytest.mark.skipif(criu_problem() is not None, reason=str(criu_problem())),
]

# Counts in a shell variable that starts from the number in /tmp/seed (read once, at start) and
# writes each value to /tmp/count. The test raises the seed before the checkpoint: a restored
# process goes on from its memory, one started afresh would start from the new seed.
COUNTER = (
    "i=$(cat /tmp/seed 2>/dev/null || echo 0); "
    "while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done"
)
SEED = 500000
WAIT = 300.0  # seconds, for a task to reach a status (software emulation: each ctr call takes ~1 s)


@pytest.fixture(autouse=True)
def leak_check():
    """The containerd fixture checks what it leaves behind when it stops (tests/daemons)."""
    yield


def filesystem_type(path: str) -> str:
    best, kind = "", ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, kind = point, fields[fields.index("-") + 1]
    return kind


@pytest.fixture(scope="module", autouse=True)
def daemon_dirs_on_tmpfs():
    """In the guest, /tmp is an overlay (the host's, made writable): containerd's overlay
    snapshotter cannot stack on it. The daemon's private directory goes to /dev/shm there."""
    if filesystem_type("/tmp") != "overlay":
        yield
        return
    original = daemons_conftest.private_dir
    daemons_conftest.private_dir = lambda prefix: Path(tempfile.mkdtemp(prefix=prefix, dir="/dev/shm"))
    yield
    daemons_conftest.private_dir = original


def task_status(daemon, cid: str) -> str:
    for line in daemon.ctr("task", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return fields[-1]
    return "absent"


def wait_status(daemon, cid: str, wanted: tuple[str, ...], timeout: float = WAIT) -> str:
    """Wait (bounded) for the task to reach one of `wanted`; the status it reached."""
    deadline = time.monotonic() + timeout
    while (status := task_status(daemon, cid)) not in wanted:
        assert time.monotonic() < deadline, (
            f"task {cid} is {status}, not {' or '.join(wanted)}, after {timeout}s"
        )
        time.sleep(0.5)
    return status


def count(daemon, cid: str, exec_id: str) -> int:
    return int(
        daemon.ctr("task", "exec", "--exec-id", exec_id, cid, "cat", "/tmp/count", timeout=WAIT).stdout
    )


def assert_counts_on_from(daemon, cid: str, before: int) -> None:
    """The restored task's counter goes on from what it had counted (`before`, read before the
    checkpoint), not from the seed a fresh start would read."""
    first = count(daemon, cid, "e1")
    assert before <= first < SEED, f"counted {before} before the checkpoint, {first} after the restore"
    deadline = time.monotonic() + WAIT
    attempt = 1
    while (later := count(daemon, cid, f"e{attempt + 1}")) == first:
        assert time.monotonic() < deadline, f"the restored counter stays at {first} for {WAIT}s"
        attempt += 1
        time.sleep(0.5)
    assert first < later < SEED, "the restored counter goes on from its memory"


def ctr_checkpoint_then_restore(daemon, cid: str, after_checkpoint, after_restore) -> None:
    """A counter run by `ctr run`, checkpointed (`ctr container checkpoint --task --rw`: it goes on
    running), killed and removed, then restored (`ctr container restore --live --rw`): it counts on
    from its memory. after_checkpoint() and after_restore() check how the runtime did it. The task,
    container and image are removed whatever happens."""
    ref = f"localhost/{cid}:1"
    try:
        # Not --null-io: `ctr container restore` always gives the restored task fifos (pipes
        # through the shim), so the task is made with them too. An init dumped with the host's
        # /dev/null as stdio cannot take a pipe in its place (CRIU restores the file position).
        daemon.ctr("run", *daemon.run_flags(), "--detach", IMAGE_REF, cid, "sh", "-c", COUNTER, timeout=WAIT)
        wait_status(daemon, cid, ("RUNNING",))
        before = count(daemon, cid, "e0")
        daemon.ctr("task", "exec", "--exec-id", "seed", cid, "sh", "-c", f"echo {SEED} > /tmp/seed")
        daemon.ctr("container", "checkpoint", "--task", "--rw", cid, ref, timeout=600)
        after_checkpoint()
        # ctr's checkpoint leaves the task running (CheckpointOptions.exit false).
        assert task_status(daemon, cid) == "RUNNING"
        daemon.ctr("task", "kill", "--signal", "SIGKILL", cid)
        wait_status(daemon, cid, ("STOPPED",))
        daemon.ctr("task", "delete", cid)
        daemon.ctr("container", "delete", cid)

        daemon.ctr("container", "restore", "--live", "--rw", cid, ref, timeout=600)
        wait_status(daemon, cid, ("RUNNING",))
        assert_counts_on_from(daemon, cid, before)
        after_restore()
    finally:
        daemon.ctr("task", "kill", "--signal", "SIGKILL", cid, check=False)
        # A task whose restore failed stays CREATED (nothing to kill): delete --force takes it.
        try:
            wait_status(daemon, cid, ("STOPPED", "CREATED", "absent"), timeout=60)
        finally:
            daemon.ctr("task", "delete", "--force", cid, check=False)
            daemon.ctr("container", "delete", cid, check=False)
            daemon.ctr("image", "rm", ref, check=False)


def test_ctr_checkpoint_then_restore_live(containerd):  # noqa: F811
    """Through containerd's runc shim, which runs the runtime's checkpoint and restore."""

    def ran(command: str):
        def check() -> None:
            calls = containerd.runtime_calls()
            assert any(f" {command} " in f" {call} " for call in calls), calls

        return check

    ctr_checkpoint_then_restore(containerd, f"ckpt-{containerd.token}", ran("checkpoint"), ran("restore"))


class GuestPodman(Podman):
    """tests/daemons' podman (cgroupfs manager, private storage on overlay, the runtime behind a
    call-logging wrapper) given the guest's time for its first command: under emulation `podman
    info` on a fresh storage took 100-200 s (most of it podman's own start and its probes of
    conmon, the runtime and the network helpers: the same with the vfs driver)."""

    first_call_timeout = 600.0


@pytest.fixture(scope="module")
def podman_engine(daemon_dirs_on_tmpfs, runtime_bin: str, token: str, image_tar: Path) -> Iterator[Podman]:  # noqa: F811
    engine = GuestPodman(daemons_conftest.private_dir("pdm-"), runtime_bin, token)
    try:
        engine.start()
        engine.podman("load", "-i", str(image_tar), timeout=WAIT)
        yield engine
    finally:
        stopped_cleanly(engine)


def podman_count(engine: Podman, name: str) -> int:
    return int(engine.podman("exec", name, "cat", "/tmp/count", runtime="pyrunc", timeout=WAIT).stdout)


def test_podman_checkpoint_then_restore(podman_engine):
    engine, name = podman_engine, f"ckpt-{podman_engine.token}"
    try:
        # Where the kernel has AppArmor on, podman asks for its profile, which pyrunc refuses
        # (it applies no AppArmor labels). tests/vm/run-v2's guest boots with apparmor=0 anyway.
        engine.podman(
            "run", "-d", "--name", name, *engine.run_flags(), "--security-opt", "apparmor=unconfined",
            IMAGE_REF, "sh", "-c", COUNTER, runtime="pyrunc", timeout=WAIT,
        )  # fmt: skip
        before = podman_count(engine, name)
        engine.podman("exec", name, "sh", "-c", f"echo {SEED} > /tmp/seed", runtime="pyrunc", timeout=WAIT)
        engine.podman("container", "checkpoint", name, runtime="pyrunc", timeout=600)
        assert any(" checkpoint " in f" {call} " for call in engine.runtime_calls())
        status = engine.podman(
            "inspect", "--format", "{{.State.Status}}", name, runtime="pyrunc"
        ).stdout.strip()
        assert status == "exited", f"checkpointed container is {status}"

        engine.podman("container", "restore", name, runtime="pyrunc", timeout=600)
        assert any(" restore " in f" {call} " for call in engine.runtime_calls())
        first = podman_count(engine, name)
        assert before <= first < SEED, f"counted {before} before the checkpoint, {first} after the restore"
        deadline = time.monotonic() + WAIT
        while (later := podman_count(engine, name)) == first:
            assert time.monotonic() < deadline, f"the restored counter stays at {first} for {WAIT}s"
            time.sleep(0.5)
        assert first < later < SEED, "the restored counter goes on from its memory"
    finally:
        engine.podman("rm", "-f", "-t", "0", name, runtime="pyrunc", check=False, timeout=WAIT)
