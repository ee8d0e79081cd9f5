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
from tests.checkpoint.test_daemons_checkpoint import ctr_checkpoint_then_restore

from . import guest
from .conftest import ShimContainerd

containerd = guest.containerd  # /dev/shm where /tmp is an overlay

pytestmark = [
    pytest.mark.daemons,
    pytest.mark.vm,
    pytest.mark.skipif(criu_problem() is not None, reason=str(criu_problem())),
]


def test_ctr_checkpoint_then_restore_through_the_shim(containerd: ShimContainerd) -> None:
    """Both in the shim's process: no runtime is run."""
    cid = f"shimckpt-{containerd.token}"
    containerd.task_ids.add(cid)

    def no_runtime_call() -> None:
        assert containerd.runtime_calls() == []

    ctr_checkpoint_then_restore(containerd, cid, no_runtime_call, no_runtime_call)
