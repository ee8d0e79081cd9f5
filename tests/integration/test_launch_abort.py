"""A failed create kills what it started and waits for it, but not forever: a process held by a
frozen cgroup dies only once thawed (issue 18: no command waits forever on the kernel)."""

import os
import subprocess
import sys
import uuid

import pytest

from tests.support import REPO

FREEZER = "/sys/fs/cgroup/freezer"

# The aborting process's own child, as create's setup child is: a plain waitpid would block on it
# for as long as its cgroup stays frozen.
ABORT = """
import os, subprocess, sys
sys.path.insert(0, sys.argv[1])
from pyrunc.container.launch import Launch
cgroup, pid_file = sys.argv[2], sys.argv[3]
child = subprocess.Popen(["sleep", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open(pid_file, "w") as f:
    f.write(str(child.pid))
with open(cgroup + "/cgroup.procs", "w") as f:
    f.write(str(child.pid))
with open(cgroup + "/freezer.state", "w") as f:
    f.write("FROZEN")
launch = Launch()
launch.pid = launch.first_pid = child.pid
launch.abort()
print("abort returned")
"""


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.mark.skipif(not os.path.isdir(FREEZER), reason="no v1 freezer hierarchy (v2 hosts: tests/vm)")
def test_abort_of_a_frozen_child_is_bounded_and_says_why(tmp_path):
    cgroup = f"{FREEZER}/pyrunc-test-abort-{uuid.uuid4().hex[:8]}"
    pid_file = tmp_path / "pid"
    os.mkdir(cgroup)
    try:
        done = subprocess.run(
            [sys.executable, "-c", ABORT, REPO, cgroup, str(pid_file)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        pid = pid_file.read_text()
        assert done.stdout.strip() == "abort returned", done.stderr
        assert f"process {pid} of the failed create did not exit within 10 s of SIGKILL" in done.stderr
        assert "cgroup frozen" in done.stderr
    finally:
        with open(f"{cgroup}/freezer.state", "w") as f:
            f.write("THAWED")  # the SIGKILL sent by abort is delivered now
        procs = f"{cgroup}/cgroup.procs"
        for pid in read(procs).split():
            os.kill(int(pid), 9)
        while read(procs).strip():
            os.sched_yield()
        os.rmdir(cgroup)
