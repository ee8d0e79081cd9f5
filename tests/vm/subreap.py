"""Run a command as a child subreaper, with a time limit, and leave no process behind.

    .venv/bin/python tests/vm/subreap.py SECONDS COMMAND [ARGS...]

vng starts QEMU and may exit before it; PID 1 on these machines does not reap, so
an orphaned QEMU would stay a zombie for good. Here orphans come back to us and
are reaped. On timeout the whole process group gets SIGKILL and we exit 124
(like timeout(1)); otherwise we exit with the command's status.
"""

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    limit, argv = float(sys.argv[1]), sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("subreap: prctl(PR_SET_CHILD_SUBREAPER) failed", file=sys.stderr)
        return 125
    child = subprocess.Popen(argv, start_new_session=True)
    try:
        status = child.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        status = 124
    except KeyboardInterrupt:
        status = 130
    # Whatever is left of the group (QEMU among it) goes now, and is reaped.
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reap_all()
    return status if status >= 0 else 128 - status


def my_children() -> list[int]:
    me, kids = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The fields after the command name: state, ppid, ...
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            kids.append(int(entry))
    return kids


def reap_all() -> None:
    """Kill and reap every child, including orphans that were reparented to us."""
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break
        for pid in my_children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.wait()
        except ChildProcessError:
            return


if __name__ == "__main__":
    sys.exit(main())
