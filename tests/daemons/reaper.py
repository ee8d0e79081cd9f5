"""A private child subreaper that runs commands for the daemon tests.

PID 1 on this machine does not reap orphans, and containerd shims and podman's conmon
daemonize (their parent exits), so whatever spawns them must be a child subreaper.
Each daemon fixture starts one of these:

    python reaper.py SOCKET REPORT

It listens on the unix socket SOCKET. A client sends one request per connection: a
length-prefixed JSON header {"argv", "env", "cwd", "tty"} with exactly three fds
(stdin, stdout, stderr) as SCM_RIGHTS. The reaper forks and execs the command with
those fds and answers "pid N\\n", then "status S\\n" when it exits (S as subprocess
reports it: the exit code, or -signal). If the client hangs up first, the command is
SIGKILLed. Orphans reparented here (shims, conmon, container processes) are reaped.

On SIGTERM the reaper kills whatever descendants are still alive, writes one line per
leftover process to REPORT ("pid cmdline"), and exits 0 if there were none, else 3.
Single-threaded on purpose, so fork is safe without the subprocess machinery.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import sys
import termios
import time

PR_SET_CHILD_SUBREAPER = 36
HEADER_LIMIT = 1 << 20
GRACE_SECONDS = 5


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def receive_request(conn: socket.socket) -> tuple[dict, list[int]]:
    fds = array.array("i")
    data, ancdata, _flags, _addr = conn.recvmsg(HEADER_LIMIT, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    (length,) = struct.unpack("!I", data[:4])
    body = data[4:]
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise EOFError("request truncated")
        body += chunk
    return json.loads(body), list(fds)


def exec_child(request: dict, fds: list[int]) -> None:
    """In the forked child: wire up stdio and exec. Never returns."""
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        if request.get("tty"):
            os.setsid()
            fcntl.ioctl(fds[0], termios.TIOCSCTTY, 0)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, 65536)
        os.chdir(request.get("cwd") or "/")
        argv = request["argv"]
        os.execvpe(argv[0], argv, request["env"])
    except BaseException as exc:  # report anything to the command's stderr, then die
        os.write(2, f"reaper: cannot run {request.get('argv')}: {exc}\n".encode())
    finally:
        os._exit(127)


def status_code(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return -os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def descendants(root: int) -> list[int]:
    """Every live process below root, found through /proc's ppid fields."""
    parent_of: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] != b"Z":  # a zombie is dead already; reap() collects it
            parent_of[int(name)] = int(fields[1])
    found: list[int] = []
    frontier = {root}
    while frontier:
        children = [pid for pid, ppid in parent_of.items() if ppid in frontier]
        found.extend(children)
        frontier = set(children)
    return found


def describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmdline = "?"
    return f"{pid} {cmdline}"


class Reaper:
    def __init__(self, socket_path: str, report_path: str) -> None:
        self.report_path = report_path
        self.selector = selectors.DefaultSelector()
        self.running: dict[int, socket.socket] = {}  # pid -> client connection
        self.stopping = False
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, self.note_signal)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(socket_path)
        self.listener.listen(64)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "signal")

    def note_signal(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGTERM:
            self.stopping = True

    def serve(self) -> int:
        while not self.stopping:
            for key, _events in self.selector.select(timeout=1.0):
                if key.data == "accept":
                    self.accept()
                elif key.data == "signal":
                    os.read(self.wake_r, 4096)
                else:
                    self.client_event(key.fileobj, key.data)
            self.reap()
        return self.shutdown()

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            request, fds = receive_request(conn)
        except (OSError, ValueError, EOFError, struct.error):
            conn.close()
            return
        try:
            pid = os.fork()
            if pid == 0:
                exec_child(request, fds)
        finally:
            for fd in fds:
                os.close(fd)
        self.running[pid] = conn
        conn.sendall(f"pid {pid}\n".encode())
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def client_event(self, conn: socket.socket, pid: int) -> None:
        """A client connection only ever becomes readable when the client hangs up."""
        if conn.recv(64):
            return
        self.selector.unregister(conn)
        conn.close()
        if self.running.pop(pid, None) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def reap(self) -> None:
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.running.pop(pid, None)
            if conn is not None:
                self.selector.unregister(conn)
                with contextlib.suppress(OSError):
                    conn.sendall(f"status {status_code(wait_status)}\n".encode())
                conn.close()

    def shutdown(self) -> int:
        # Daemons stopped just before us may still be tearing down shims: give them a moment.
        deadline = time.monotonic() + GRACE_SECONDS
        while descendants(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)
            self.reap()
        leftovers = [describe(pid) for pid in descendants(os.getpid())]
        with open(self.report_path, "w") as report:
            report.writelines(line + "\n" for line in leftovers)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pids = descendants(os.getpid())
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
            self.reap()
        self.reap()
        return 3 if leftovers else 0


def main() -> int:
    socket_path, report_path = sys.argv[1], sys.argv[2]
    become_subreaper()
    return Reaper(socket_path, report_path).serve()


if __name__ == "__main__":
    sys.exit(main())
