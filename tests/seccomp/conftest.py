"""Fixtures for the seccomp tests: a busybox rootfs, child-subreaper status and a reaper that
fails any test leaving a child process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)  # sandbox.py, bpf_interp.py
if REPO not in sys.path:  # test the checkout (built in place) when pyrunc is not installed
    sys.path.insert(0, REPO)

import sandbox  # noqa: E402


def _children() -> list[int]:
    pids = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                pids += [int(pid) for pid in f.read().split()]
        except FileNotFoundError:
            pass
    return pids


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@pytest.fixture(scope="session", autouse=True)
def subreaper():
    """Orphans of our children (busybox `&` jobs) come back to us, not to a PID 1 that does
    not reap on this machine."""
    sandbox.become_subreaper()
    yield
    _reap()


@pytest.fixture(autouse=True)
def no_leaked_children():
    before = set(_children())
    yield
    _reap()
    leaked = [pid for pid in _children() if pid not in before]
    for pid in leaked:
        os.kill(pid, signal.SIGKILL)
    _reap()
    assert not leaked, f"test left child processes behind: {leaked}"


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory) -> str:
    """A busybox-static rootfs from oci-bundles/build (shared; tests use unique file names)."""
    path = str(tmp_path_factory.mktemp("seccomp-rootfs") / "rootfs")
    subprocess.run([os.path.join(REPO, "oci-bundles", "build"), path], check=True)
    return path


@pytest.fixture(scope="session")
def docker_profile() -> dict:
    """Docker's default profile as committed in the seccomp bundle (runc's default caps)."""
    with open(os.path.join(sandbox.BUNDLE, "config.json")) as f:
        return json.load(f)["linux"]["seccomp"]


@pytest.fixture
def debug_log(tmp_path):
    """pyrunc.log at debug level into a file; yields a reader of its lines."""
    from pyrunc import log

    path = tmp_path / "pyrunc.log"
    log.configure(str(path), "json", debug=True)
    try:
        yield lambda: [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    finally:
        log.configure()
