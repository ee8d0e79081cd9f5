"""containerd-shim-pyrunc-v1 under a real containerd 1.6, driven by ctr."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daemons.conftest import IMAGE_REF
from tests.daemons.test_containerd import Ctr

from .conftest import ShimContainerd

pytestmark = pytest.mark.daemons


@pytest.fixture
def ctr(containerd: ShimContainerd, request: pytest.FixtureRequest) -> Iterator[Ctr]:
    client = Ctr(containerd, request.node.name)
    try:
        yield client
    finally:
        client.cleanup()


def test_run_rm_true(ctr: Ctr) -> None:
    cid = ctr.new_id()
    result = ctr.run("--rm", IMAGE_REF, cid, "true", check=False)
    assert result.returncode == 0, result
    assert ctr.task_status(cid) == "absent"


def test_run_rm_exit_code(ctr: Ctr) -> None:
    cid = ctr.new_id()
    result = ctr.run("--rm", IMAGE_REF, cid, "sh", "-c", "exit 3", check=False)
    assert result.returncode == 3, result
    assert ctr.task_status(cid) == "absent"
