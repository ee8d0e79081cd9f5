"""containerd's runc shim checkpoints and restores through pyrunc (`ctr container checkpoint
--task` / `ctr container restore --live`), in tests/vm/run-v2's guest: Debian 12's criu 3.17 runs
on its 6.1 kernel only (on this host they skip with `criu check`'s own error).

Marked `slow` as well as `vm`: under the guest's software emulation one round trip (containerd
and its shim, an image import, two CRIU runs, the execs that read the counter) takes minutes,
more than the rest of the guest's selection together. Run them with
`tests/vm/run-v2 -- -m "vm and slow" tests/checkpoint/test_daemons_checkpoint.py`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

import tests.daemons.conftest as daemons_conftest
from tests.daemons.conftest import (  # noqa: F401  (the daemon fixtures, shared with tests/daemons)
    IMAGE_REF,
    containerd,
    image_tar,
    runtime_bin,
    token,
)

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


def test_ctr_checkpoint_then_restore_live(containerd):  # noqa: F811
    cid = f"ckpt-{containerd.token}"
    ref = f"localhost/ckpt-{containerd.token}:1"
    try:
        # Not --null-io: `ctr container restore` always gives the restored task fifos (pipes
        # through the shim), so the task is made with them too. An init dumped with the host's
        # /dev/null as stdio cannot take a pipe in its place (CRIU restores the file position).
        containerd.ctr(
            "run", *containerd.run_flags(), "--detach", IMAGE_REF, cid, "sh", "-c", COUNTER, timeout=WAIT
        )
        wait_status(containerd, cid, ("RUNNING",))
        before = count(containerd, cid, "e0")
        containerd.ctr("task", "exec", "--exec-id", "seed", cid, "sh", "-c", f"echo {SEED} > /tmp/seed")
        containerd.ctr("container", "checkpoint", "--task", "--rw", cid, ref, timeout=600)
        assert any(" checkpoint " in f" {call} " for call in containerd.runtime_calls())
        # ctr's checkpoint leaves the task running: stop it and remove the container.
        containerd.ctr("task", "kill", "--signal", "SIGKILL", cid)
        wait_status(containerd, cid, ("STOPPED",))
        containerd.ctr("task", "delete", cid)
        containerd.ctr("container", "delete", cid)

        containerd.ctr("container", "restore", "--live", "--rw", cid, ref, timeout=600)
        assert any(" restore " in f" {call} " for call in containerd.runtime_calls())
        wait_status(containerd, cid, ("RUNNING",))
        first = count(containerd, cid, "e1")
        assert before <= first < SEED, f"counted {before} before the checkpoint, {first} after the restore"
        deadline = time.monotonic() + WAIT
        attempt = 1
        while (later := count(containerd, cid, f"e{attempt + 1}")) == first:
            assert time.monotonic() < deadline, f"the restored counter stays at {first} for {WAIT}s"
            attempt += 1
            time.sleep(0.5)
        assert first < later < SEED, "the restored counter goes on from its memory"
    finally:
        containerd.ctr("task", "kill", "--signal", "SIGKILL", cid, check=False)
        # A task whose restore failed stays CREATED (nothing to kill): delete --force takes it.
        try:
            wait_status(containerd, cid, ("STOPPED", "CREATED", "absent"), timeout=60)
        finally:
            containerd.ctr("task", "delete", "--force", cid, check=False)
            containerd.ctr("container", "delete", cid, check=False)
            containerd.ctr("image", "rm", ref, check=False)
