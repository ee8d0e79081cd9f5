"""Processes and cgroup places for the cgroup tests: real busybox processes, moved
into a cgroup *before* they run their workload."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time

from tests.mountinfo import mounts

CGROUP_ROOT = "/sys/fs/cgroup"
BUSYBOX = shutil.which("busybox", path="/bin:/usr/bin:/usr/sbin:/sbin") or "/bin/busybox"
TEST_PREFIX = "pyrunc-test-"


def unique_top() -> str:
    """A fresh top-level cgroup name owned by this test run."""
    return f"{TEST_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"


def is_unified() -> bool:
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def hierarchy_roots() -> list[str]:
    """Every mounted cgroup hierarchy's root directory."""
    if is_unified():
        return [CGROUP_ROOT]
    roots = []
    for m in mounts():
        if m.fstype in ("cgroup", "cgroup2") and m.point.startswith(CGROUP_ROOT + "/"):
            roots.append(m.point)
    return sorted(set(roots))


def leftover_test_cgroups() -> list[str]:
    found = []
    for root in hierarchy_roots():
        try:
            names = os.listdir(root)
        except OSError:
            continue
        found += [os.path.join(root, n) for n in names if n.startswith(f"{TEST_PREFIX}{os.getpid()}-")]
    return found


class Workload:
    """A busybox shell that waits on stdin before exec'ing its workload, so the
    caller can place it in a cgroup first (the way a runtime places init)."""

    def __init__(self, script: str, *, cwd: str | None = None) -> None:
        self.proc = subprocess.Popen(
            [BUSYBOX, "sh", "-c", 'read _gate; exec "$@"', "sh", BUSYBOX, "sh", "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,  # one process group: stop() kills its children too
        )
        self.pid = self.proc.pid

    def start(self) -> Workload:
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.close()
        self.proc.stdin = None  # so communicate() does not touch it again
        return self

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self, timeout: float = 60.0) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
            self.proc.stdin = None
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.communicate(timeout=30)


def run_in(mgr, script: str, *, timeout: float = 60.0, cwd: str | None = None) -> tuple[int, str, str]:
    """Run a busybox sh script inside the manager's cgroup; (status, stdout, stderr)."""
    work = Workload(script, cwd=cwd)
    try:
        mgr.add(work.pid)
        work.start()
        return work.output(timeout=timeout)
    finally:
        work.stop()


def eventually(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def reap_children() -> list[int]:
    """Reap every exited child (we are a child subreaper: orphans land here)."""
    reaped = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append(pid)
