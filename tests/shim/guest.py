"""tests/shim's containerd for the QEMU guests' modules (test_v2_stats, test_checkpoint_shim): its
directory goes to /dev/shm where /tmp is an overlay (tests/vm/run-v2's guest), which containerd's
overlay snapshotter cannot stack on."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.checkpoint.test_daemons_checkpoint import filesystem_type
from tests.daemons.conftest import serving

from .conftest import SHIM, ShimContainerd


@pytest.fixture(scope="module")
def containerd(runtime_bin: str, token: str, image_tar: Path) -> Iterator[ShimContainerd]:
    if not SHIM.exists():
        pytest.fail(f"{SHIM} is missing: run tools/install")
    where = "/dev/shm" if filesystem_type("/tmp") == "overlay" else "/tmp"
    daemon = ShimContainerd(Path(tempfile.mkdtemp(prefix="shim-", dir=where)), runtime_bin, token)
    yield from serving(daemon, image_tar)
