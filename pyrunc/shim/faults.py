"""A test-only hook: the shim SIGKILLs itself at a named point of an RPC (tests/shim/test_faults.py).

Off unless containerd's environment has PYRUNC_SHIM_FAULTS naming a file; the shim reads that file
once, when it starts serving, and then never looks at it again. Each line is

    TARGET METHOD:POINT [stop]

TARGET is a container id, or `ID/EXEC_ID` for an exec's Start, Kill, Delete...; METHOD a Task RPC
(Create, Start, Exec, Kill, Delete, Pause, Resume, Update, Shutdown, ...); POINT one of
- `entry`: the request is read, nothing done yet (for Create: before the rootfs is mounted);
- `reply`: the work is done, the answer not yet written (for Create: the init is spawned);
- `rootfs-mounted` (Create only): the rootfs is mounted, pyrunc's create not yet called;
- `worker` (Create only): in the fork that runs pyrunc's create (worker.py), before it starts.

Before it kills itself the shim appends the line to FILE.fired (the test's evidence that the fault
happened where it was meant to). With `stop` it SIGSTOPs itself there instead -- stopped before the
thread that hit the point makes one more syscall -- and the line it notes ends with that thread's id
(`... stop TID`): a test can then attach strace to it and kill that thread at a chosen syscall of
the pyrunc operation that follows (the kill points of tests/reliability/faults.py), then SIGCONT
it. When the file is absent or empty the handlers are registered unwrapped: nothing on the hot path.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

ENV = "PYRUNC_SHIM_FAULTS"
POINTS = ("entry", "reply", "rootfs-mounted", "worker")


def parse(text: str) -> dict[tuple[str, str, str], str]:
    """{(target, method, point): "kill" or "stop"} of every non-blank, non-# line; ValueError names
    a bad line."""
    faults = {}
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        method, _, point = words[1].partition(":") if len(words) > 1 else ("", "", "")
        action = words[2] if len(words) > 2 else "kill"
        if len(words) > 3 or not method or point not in POINTS or action not in ("kill", "stop"):
            raise ValueError(
                f"{ENV}: bad line {line.strip()!r} (TARGET METHOD:POINT [stop], POINT one of {POINTS})"
            )
        faults[(words[0], method, point)] = action
    return faults


class Faults:
    def __init__(self, faults: dict[tuple[str, str, str], str], path: str = "") -> None:
        self.faults = faults
        self.path = path

    def __bool__(self) -> bool:
        return bool(self.faults)

    def hit(self, method: str, point: str, target: str) -> None:
        action = self.faults.get((target, method, point))
        if action is not None:
            import threading

            stop = f" stop {threading.get_native_id()}" if action == "stop" else ""
            with open(f"{self.path}.fired", "a") as f:
                f.write(f"{target} {method}:{point}{stop}\n")
            if action == "stop":
                # To this thread, not to the process: a SIGSTOP sent to the process is taken by
                # whichever thread the kernel picks (the main one, asleep in its loop), and this
                # one would run on into the RPC until the group stop reaches it.
                signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
            else:
                os.kill(os.getpid(), signal.SIGKILL)  # every thread has it at once

    def wrap(self, method: str, handler: Callable[[bytes], bytes], request_type) -> Callable[[bytes], bytes]:
        """handler, with the `entry` and `reply` points of `method` around it."""

        def handle(payload: bytes) -> bytes:
            request = request_type.FromString(payload)
            target = request.id + (f"/{request.exec_id}" if getattr(request, "exec_id", "") else "")
            self.hit(method, "entry", target)
            response = handler(payload)
            self.hit(method, "reply", target)
            return response

        return handle


def load() -> Faults:
    """The faults PYRUNC_SHIM_FAULTS's file names now (none without it)."""
    path = os.environ.get(ENV, "")
    if not path:
        return Faults({})
    try:
        with open(path) as f:
            return Faults(parse(f.read()), path)
    except FileNotFoundError:
        return Faults({}, path)
