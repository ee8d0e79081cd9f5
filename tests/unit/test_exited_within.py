"""container/base.py exited_within: the one bounded wait for a process's exit (delete's wait for a
killed init, a failed create's abort, the shim's create worker past its caller's deadline)."""

import os
import signal
import subprocess
import time

from pyrunc.container.base import exited_within


def test_a_running_process_is_waited_for_no_longer_than_the_bound():
    child = subprocess.Popen(["sleep", "30"])
    pidfd = os.pidfd_open(child.pid)
    try:
        started = time.monotonic()
        assert exited_within(pidfd, 0.2) is False
        assert time.monotonic() - started >= 0.2  # it waited, for the bound rounded up
        assert exited_within(pidfd, 0) is False  # a bound of 0: a look, no wait
    finally:
        child.kill()
        child.wait()
        os.close(pidfd)


def test_an_exit_ends_the_wait_and_a_zombie_counts_as_exited():
    child = subprocess.Popen(["sleep", "30"])
    pidfd = os.pidfd_open(child.pid)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        started = time.monotonic()
        assert exited_within(pidfd, 30) is True
        assert time.monotonic() - started < 29
        with open(f"/proc/{child.pid}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "Z"  # not reaped yet
    finally:
        child.wait()
        os.close(pidfd)
