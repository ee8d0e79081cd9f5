"""Fixtures for the cgroup library tests (issue 4).

Everything here is real: cgroups are made in the host's cgroupfs (v1 on this
machine, v2 in the QEMU guest of tests/vm/run-v2), busybox processes are moved
into them and the kernel's enforcement is observed from outside. Each test's
cgroups live below a unique top-level `pyrunc-test-<pid>-<hex>` directory; the
autouse leak check fails a test that leaves any such directory behind, and no
test leaves a process behind (we are a child subreaper and reap).
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if REPO not in sys.path:  # test the checkout when pyrunc is not installed
    sys.path.insert(0, REPO)

from pyrunc.cgroups import open_manager  # noqa: E402
from pyrunc.cgroups.v2 import V2Manager  # noqa: E402

from .helpers import (  # noqa: E402
    CGROUP_ROOT,
    Workload,
    is_unified,
    leftover_test_cgroups,
    reap_children,
    unique_top,
)

HYBRID_UNIFIED = os.path.join(CGROUP_ROOT, "unified")


def pytest_collection_modifyitems(config, items):
    """v2-only tests run in the guest (tests/vm/run-v2); on a v1 host they are
    skipped with that reason, and v1-only tests likewise the other way round."""
    unified = is_unified()
    for item in items:
        if item.get_closest_marker("v2only") and not unified:
            item.add_marker(pytest.mark.skip(reason="cgroup v2 only: runs in the guest (tests/vm/run-v2)"))
        if item.get_closest_marker("v1only") and unified:
            item.add_marker(pytest.mark.skip(reason="cgroup v1 only: runs on the v1 host"))


def pytest_configure(config):
    config.addinivalue_line("markers", "v2only: needs a cgroup v2-only host")
    config.addinivalue_line("markers", "v1only: needs a cgroup v1 host")


@pytest.fixture(autouse=True)
def _root(request):
    """test_pure.py needs no root (tools/quick runs it as anyone); the others make cgroups."""
    if os.geteuid() != 0 and request.path.name != "test_pure.py":
        pytest.skip("cgroup tests need root")


@pytest.fixture(scope="session", autouse=True)
def _subreaper():
    import prctl

    prctl.set_child_subreaper(1)
    yield
    reap_children()


@pytest.fixture(autouse=True)
def _no_leaked_cgroups():
    before = set(leftover_test_cgroups())
    yield
    reap_children()
    leaked = sorted(set(leftover_test_cgroups()) - before)
    if leaked:
        pytest.fail(f"test left cgroups behind: {leaked}")


class Managers:
    """Creates managers under one unique top-level cgroup and removes them all
    (killing what is left inside) at teardown."""

    def __init__(self) -> None:
        self.top = unique_top()
        self.made: list = []

    def path(self, *parts: str) -> str:
        return "/" + "/".join((self.top, *parts))

    def open(self, *parts: str, create: bool = True):
        mgr = open_manager(self.path(*parts or ("c",)), "test")
        self.track(mgr)
        if create:
            mgr.create()
        return mgr

    def track(self, mgr):
        self.made.append(mgr)
        return mgr

    def cleanup(self) -> None:
        errors = []
        for mgr in reversed(self.made):
            try:
                if mgr.exists():
                    if mgr.is_frozen():
                        mgr.thaw()
                    mgr.kill_all(signal.SIGKILL)
                    _wait_empty(mgr)
                mgr.destroy()
            except Exception as e:  # report every failure, clean up the rest
                errors.append(repr(e))
        _remove_top(self.top)
        if errors:
            pytest.fail(f"cgroup cleanup failed: {errors}")


def _wait_empty(mgr) -> None:
    from .helpers import eventually

    eventually(lambda: not mgr.pids(), timeout=20)
    reap_children()


def _remove_top(top: str) -> None:
    """The top-level test directory in every hierarchy (made by create() as a
    parent, or by a test directly), in case a test failed half-way."""
    from pyrunc.cgroups._fs import remove_tree

    from .helpers import hierarchy_roots

    for root in hierarchy_roots():
        remove_tree(os.path.join(root, top))


@pytest.fixture
def cgroups():
    managers = Managers()
    try:
        yield managers
    finally:
        managers.cleanup()


@pytest.fixture
def workloads():
    """Start busybox workloads; all are killed and reaped at teardown."""
    started: list[Workload] = []

    def start(script: str, mgr=None, *, cwd: str | None = None) -> Workload:
        work = Workload(script, cwd=cwd)
        started.append(work)
        if mgr is not None:
            mgr.add(work.pid)
        return work.start()

    yield start
    for work in started:
        work.stop()


@pytest.fixture
def v2_mount() -> str:
    """Where a V2Manager can run here: the real root on a v2 host, the cgroup2
    hierarchy of a hybrid host (no controllers there, but freezer, kill and the
    BPF device controller work)."""
    if is_unified():
        return CGROUP_ROOT
    if os.path.exists(os.path.join(HYBRID_UNIFIED, "cgroup.controllers")):
        return HYBRID_UNIFIED
    pytest.skip("no cgroup2 hierarchy on this host")


@pytest.fixture
def v2_cgroup(cgroups, v2_mount):
    """A created V2Manager under a unique top-level directory."""
    mgr = V2Manager.for_path(cgroups.path("c"), mount=v2_mount)
    cgroups.track(mgr)
    mgr.create()
    return mgr
