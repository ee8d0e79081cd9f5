"""The shim's Checkpoint and a Create from a checkpoint (restored at Start), driven by ctr as
tests/checkpoint/test_daemons_checkpoint.py drives containerd's runc shim: pyrunc's own checkpoint
and restore run inside the shim. In tests/vm/run-v2's guest (Debian's criu 3.17 runs on its 6.1
kernel only; here it skips with `criu check`'s own error).

Not `slow`: one round trip (a containerd, two CRIU runs, the execs that read the counter) took
90-160 s in the guest, so it is in tests/vm/run-v2's selection.
"""

from __future__ import annotations

import pytest

from tests.checkpoint.conftest import criu_problem
from tests.checkpoint.test_daemons_checkpoint import (
    COUNTER,
    SEED,
    WAIT,
    assert_counts_on_from,
    count,
    task_status,
    wait_status,
)
from tests.daemons.conftest import IMAGE_REF

from . import guest
from .conftest import ShimContainerd

containerd = guest.containerd  # /dev/shm where /tmp is an overlay

pytestmark = [
    pytest.mark.daemons,
    pytest.mark.vm,
    pytest.mark.skipif(criu_problem() is not None, reason=str(criu_problem())),
]


def test_ctr_checkpoint_then_restore_through_the_shim(containerd: ShimContainerd) -> None:
    cid = f"shimckpt-{containerd.token}"
    containerd.task_ids.add(cid)
    ref = f"localhost/shimckpt-{containerd.token}:1"
    try:
        containerd.ctr(
            "run", *containerd.run_flags(), "--detach", IMAGE_REF, cid, "sh", "-c", COUNTER, timeout=WAIT
        )
        wait_status(containerd, cid, ("RUNNING",))
        before = count(containerd, cid, "e0")
        containerd.ctr("task", "exec", "--exec-id", "seed", cid, "sh", "-c", f"echo {SEED} > /tmp/seed")
        containerd.ctr("container", "checkpoint", "--task", "--rw", cid, ref, timeout=600)
        # In the shim's process: no runtime was run.
        assert containerd.runtime_calls() == []
        # ctr's checkpoint leaves the task running (CheckpointOptions.exit false).
        assert task_status(containerd, cid) == "RUNNING"
        containerd.ctr("task", "kill", "--signal", "SIGKILL", cid)
        wait_status(containerd, cid, ("STOPPED",))
        containerd.ctr("task", "delete", cid)
        containerd.ctr("container", "delete", cid)

        containerd.ctr("container", "restore", "--live", "--rw", cid, ref, timeout=600)
        wait_status(containerd, cid, ("RUNNING",))
        assert_counts_on_from(containerd, cid, before)
        assert containerd.runtime_calls() == []
    finally:
        containerd.ctr("task", "kill", "--signal", "SIGKILL", cid, check=False)
        try:
            wait_status(containerd, cid, ("STOPPED", "CREATED", "absent"), timeout=60)
        finally:
            containerd.ctr("task", "delete", "--force", cid, check=False)
            containerd.ctr("container", "delete", cid, check=False)
            containerd.ctr("image", "rm", ref, check=False)
