"""Fixtures for the attack tests: the attacker program, host files that must stay untouched, and
the leak check of the integration tests (no process, mount, cgroup or state dir may survive a test).

Every test here runs a real attack against real containers made by the runtime under test
(PYRUNC_BIN, default the venv's pyrunc), as root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid

import pytest

from tests import leaks
from tests.security.helpers import host_binaries
from tests.support import USED_IDS

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def leak_check(tmp_path):
    yield from leaks.around_test(tmp_path)


@pytest.fixture(scope="session")
def attacker(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/security/attack.c, built static (musl) so it runs in the busybox rootfs."""
    compiler = shutil.which("musl-gcc")
    if compiler is None:
        pytest.skip("musl-gcc (Debian's musl-tools) is needed to build the attacker")
    out = str(tmp_path_factory.mktemp("attacker") / "attack")
    source = os.path.join(HERE, "attack.c")
    subprocess.run([compiler, "-static", "-O2", "-Wall", "-Werror", "-o", out, source], check=True)
    return out


def _fingerprint(path: str) -> tuple[int, int, str]:
    st = os.stat(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return st.st_ino, st.st_mtime_ns, digest


@pytest.fixture
def host_files_untouched():
    """Fails the test if any host binary changed (content, mtime or inode) while it ran.
    Yields {(st_dev, st_ino): path} of those files, for matching what an attacker reached."""
    files = host_binaries()
    before = {path: _fingerprint(path) for path in files}
    identities = {(os.stat(p).st_dev, os.stat(p).st_ino): p for p in files}
    yield identities
    changed = [path for path in files if _fingerprint(path) != before[path]]
    assert not changed, f"host binaries modified by a container: {changed}"


@pytest.fixture
def new_id(cid):
    """More ids for the same test: new_id("b") -> "<cid>-b" (tracked by the leak check)."""

    def make(suffix: str | None = None) -> str:
        container_id = f"{cid}-{suffix or uuid.uuid4().hex[:4]}"
        USED_IDS.add(container_id)
        return container_id

    return make
