"""Fixtures for the attack tests: the attacker program, host files that must stay untouched, and
the leak check of the integration tests (no process, mount, cgroup or state dir may survive a test).

Every test here runs a real attack against real containers made by the runtime under test
(PYRUNC_BIN, default the venv's pyrunc), as root.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import PYRUNC, REPO, USED_IDS
from tests.integration.conftest import leak_check  # noqa: F401  (autouse: every test here)

HERE = os.path.dirname(os.path.abspath(__file__))


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


def plant(rootfs: str, source: str, name: str = "attack") -> str:
    """Copy an executable into the container's rootfs; returns its path inside the container."""
    dest = os.path.join(rootfs, name)
    shutil.copy(source, dest)
    os.chmod(dest, 0o755)
    return "/" + name


def plant_script(rootfs: str, name: str, text: str) -> str:
    dest = os.path.join(rootfs, name)
    with open(dest, "w") as f:
        f.write(text)
    os.chmod(dest, 0o755)
    return "/" + name


def host_binaries() -> list[str]:
    """The host files a container must never reach: the interpreter the runtime runs on, the
    runtime's entry script, the init helper on disk and the compiled core."""
    pkg = os.path.join(REPO, "pyrunc")
    files = [os.path.realpath(sys.executable), os.path.realpath(PYRUNC), os.path.join(pkg, "pyrunc-init")]
    files += glob.glob(os.path.join(pkg, "_core*.so"))
    return sorted({f for f in files if os.path.isfile(f)})


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
