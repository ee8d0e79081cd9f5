"""Fixtures for the environment tests (issue 3): a leak check around every test (no process, mount,
cgroup or state directory of the test may outlive it), and host-side scratch directories and mounts
that tests bind into containers."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from tests import leaks
from tests.support import USED_IDS


@pytest.fixture(autouse=True)
def leak_check(tmp_path):
    """Autouse, so set up before the runtime fixture and torn down after its own clean-up."""
    yield from leaks.around_test(tmp_path)


@pytest.fixture
def host_dir():
    """make(name) -> a fresh directory on the host that any uid may traverse (a container root
    mapped to an unprivileged host uid must reach bind sources; pytest's tmp_path is 0700)."""
    base = tempfile.mkdtemp(prefix="pyrunc-env-", dir="/tmp")
    os.chmod(base, 0o755)

    def make(name: str) -> str:
        path = os.path.join(base, name)
        os.makedirs(path)
        os.chmod(path, 0o755)
        return path

    yield make
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def host_mounts():
    """mount(args...) on the host; every mount made through it is lazily unmounted after the test."""
    made: list[str] = []

    def mount(*args: str) -> None:
        subprocess.run(["mount", *args], check=True, capture_output=True)
        made.append(args[-1])

    yield mount
    for point in reversed(made):
        subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture
def used_ids() -> set[str]:
    """Add the ids of containers a test creates without the runtime fixture's __call__ (e.g.
    through a wrapper shell), so the leak check looks at their cgroups too."""
    return USED_IDS
