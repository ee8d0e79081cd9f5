"""Fixtures for the environment tests (issue 3): a leak check around every test (no process, mount,
cgroup or state directory of the test may outlive it), and host-side scratch directories and mounts
that tests bind into containers."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from tests.integration.conftest import descendants, mount_points_under, our_cgroups


def _root_conftest(config: pytest.Config):
    """tests/conftest.py as pytest loaded it (the module whose fixtures run). Importing
    `tests.conftest` would give a second copy whose USED_IDS the runtime fixture never fills."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conftest.py")
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == path:
            return plugin
    raise RuntimeError("tests/conftest.py is not loaded")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture(autouse=True)
def leak_check(tmp_path, request):
    """Autouse, so set up before the runtime fixture and torn down after its own clean-up."""
    shared = _root_conftest(request.config)
    reap_orphans = shared.reap_orphans
    used = shared.USED_IDS
    used.clear()
    mounts_before = mount_points_under([str(tmp_path)])
    yield
    reap_orphans()
    problems = []
    leaked = [pid for pid in descendants(os.getpid()) if _alive(pid)]
    if leaked:
        problems.append(f"processes left: {leaked}")
        for pid in leaked:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        reap_orphans()
    mounts = mount_points_under([str(tmp_path)]) - mounts_before
    if mounts:
        problems.append(f"mounts left: {sorted(mounts)}")
        for point in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
    cgroups = our_cgroups(set(used))
    if cgroups:
        problems.append(f"cgroups left: {sorted(cgroups)}")
        for path in sorted(cgroups, key=len, reverse=True):
            try:
                os.rmdir(path)
            except OSError:
                pass
    root = tmp_path / "root"
    if root.is_dir() and any(not p.name.startswith("#") for p in root.iterdir()):
        problems.append(f"state directories left: {sorted(p.name for p in root.iterdir())}")
    if problems:
        pytest.fail("leak: " + "; ".join(problems))


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
def used_ids(request) -> set[str]:
    """Add the ids of containers a test creates without the runtime fixture's __call__ (e.g.
    through a wrapper shell), so the leak check looks at their cgroups too."""
    return _root_conftest(request.config).USED_IDS
