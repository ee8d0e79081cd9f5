"""The parent's half of starting a container's init: the plan memfd, the sealed helper, clone, and
the sync protocol (maps, cgroup placement, runtime hooks, READY).

The child side is pyrunc/csrc/child.c and init.c; message types mirror pyrunc/csrc/common.h.
"""

import errno
import posix  # os without its import cost: see pyrunc/paths.py
import struct

from pyrunc import _core
from pyrunc.container.base import exited_within
from pyrunc.errors import PyruncError, errno_text
from pyrunc.paths import absolute, dirname, join

SYNC_ERROR = 1
SYNC_USERMAP_REQ = 2
SYNC_INIT_PID = 3
SYNC_SETUP_REQ = 4
SYNC_HOOKS_REQ = 5
SYNC_READY = 6
SYNC_SECCOMP_FD = 7
SYNC_ACK = 100

HELPER = join(dirname(dirname(absolute(__file__))), "pyrunc-init")


class ChildError(PyruncError):
    """The container's setup failed in the child; `errno` is 0 when not from a syscall."""

    def __init__(self, message: str, errno: int = 0) -> None:
        self.errno = errno
        super().__init__(message)


def high_fd(fd: int, floor: int) -> int:
    """Move a new fd at or above `floor`, so it never lands among the fds passed with
    --preserve-fds (3 .. 3+N-1), which belong to the container."""
    if fd >= floor:
        return fd
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    posix.close(fd)
    return moved


PIDFD_SOCKET_TIMEOUT = 10.0


def connect_pidfd_socket(path: str, floor: int) -> int:
    """--pidfd-socket (runc 1.2): connect before the process starts, so a bad path fails first.
    Bounded: a listener whose backlog is full, or a full socket buffer, fails instead of hanging
    (the fd stays non-blocking with that timeout's effect: a send that would block fails)."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(PIDFD_SOCKET_TIMEOUT)
    try:
        sock.connect(path)
    except TimeoutError:
        sock.close()
        raise PyruncError(
            f"--pidfd-socket {path}: connect timed out after {PIDFD_SOCKET_TIMEOUT:.0f} s "
            "(is anything accepting on it?)"
        ) from None
    except OSError as err:
        sock.close()
        # A full listen backlog answers a non-blocking AF_UNIX connect with EAGAIN at once (as it
        # does runc's, from Go's non-blocking connect): name the likely cause.
        full = err.errno == errno.EAGAIN
        hint = " (its listen backlog is full: is anything accepting on it?)" if full else ""
        raise PyruncError(f"--pidfd-socket {path}: {errno_text(err)}{hint}") from None
    return high_fd(sock.detach(), floor)


def send_pidfd(sock: int, pid: int, kind: str, path: str) -> None:
    """As runc: one message whose payload names the process ("standard": a container's init,
    "setns": an exec'd process) and whose SCM_RIGHTS carries a pidfd of it. It is opened while
    the process waits on our sync socket, so the pid cannot have been reused."""
    try:
        pidfd = _core.pidfd_open(pid)
    except OSError as err:
        raise PyruncError(f"--pidfd-socket {path}: pidfd_open {pid}: {errno_text(err)}") from None
    try:
        _core.send_with_fd(sock, kind.encode(), pidfd)
    except OSError as err:
        raise PyruncError(f"--pidfd-socket {path}: send the pidfd: {errno_text(err)}") from None
    finally:
        posix.close(pidfd)


class Handlers:
    """What the parent does at each step; create/run/exec override what they need."""

    def usermaps(self, pid: int) -> None:
        raise PyruncError("the container asked for user namespace maps, but none are configured")

    def setup(self, pid: int) -> bytes:
        """Place the init (cgroups); return the state JSON for the in-container hooks."""
        return b""

    def runtime_hooks(self, pid: int) -> None:
        pass

    def seccomp_listener(self, pid: int, remote_fd: int) -> None:
        """The init loaded a filter with a NOTIFY rule; `remote_fd` is the listener's number
        in the init (copy it with pidfd_getfd)."""
        raise PyruncError("the init reported a seccomp listener, but no linux.seccomp.listenerPath is set")

    def ready(self, pid: int) -> None:
        pass


class Launch:
    """One child being started. `pid` is the init's host pid once known."""

    def __init__(self, preserve_fds: int = 0) -> None:
        floor = 3 + preserve_fds
        parent, child = _core.sync_socketpair()
        self.sync = high_fd(parent, floor)
        self.child_sync = high_fd(child, floor)
        self.plan_fd = high_fd(posix.memfd_create("pyrunc-plan", posix.MFD_CLOEXEC), floor)
        self.helper_fd = high_fd(_core.sealed_copy(HELPER), floor)
        self.floor = floor
        self.first_pid = 0
        self.pid = 0
        self.done = False

    def start(self, plan: bytes, clone_flags: int, direct: bool, cgroup=None) -> None:
        """Clone the child. With the container's `cgroup` (a Manager, already made), a cgroup v2
        one has the child born in it (clone3 CLONE_INTO_CGROUP, Linux 5.7) and its add() then
        skips the migration; elsewhere, or where the kernel cannot, the init is migrated at its
        SETUP_REQ as before."""
        posix.write(self.plan_fd, plan)
        cgroup_fd = cgroup.open_for_clone() if cgroup is not None else -1
        if cgroup_fd >= 0:
            cgroup_fd = high_fd(cgroup_fd, self.floor)
        try:
            self.first_pid, placed = _core.spawn(
                plan, self.child_sync, self.plan_fd, self.helper_fd, clone_flags, direct, cgroup_fd
            )
        finally:
            if cgroup_fd >= 0:
                posix.close(cgroup_fd)
        if direct:
            self.pid = self.first_pid
        # Only the child keeps these: EOF on the sync socket then means the child is gone.
        # The plan memfd stays open here so that append_plan can still add to it.
        for fd in (self.child_sync, self.helper_fd):
            posix.close(fd)
        self.child_sync = self.helper_fd = -1
        if placed:
            # What stage one forks is born there too. A cgroup frozen since it was made froze the
            # child at birth, before it could ask for anything: refuse it now, as add() would.
            cgroup.born_inside = True
            cgroup.check_not_frozen()

    def append_plan(self, data: bytes) -> None:
        """Add records the helper reads (it maps the memfd whole once it runs): e.g. the hook
        state, which needs the init's pid. Only valid while the child waits for the SETUP ack."""
        posix.lseek(self.plan_fd, 0, 2)  # SEEK_END (os.SEEK_END: posix has none)
        posix.write(self.plan_fd, data)

    def handshake(self, handlers: Handlers) -> None:
        """Drive the child until its READY, or raise ChildError with its message."""
        while True:
            kind, err, payload = _core.recv(self.sync)
            if kind == 0:
                raise ChildError(self._death_reason())
            if kind == SYNC_ERROR:
                message = payload.decode(errors="replace")
                if err:
                    message = f"{message}: {errno_text(err)}"
                raise ChildError(f"unable to start container process: {message}", err)
            if kind == SYNC_INIT_PID:
                self.pid = struct.unpack("<i", payload)[0]
                self._reap_stage_one()
                continue
            if kind == SYNC_USERMAP_REQ:
                handlers.usermaps(self.first_pid if not self.pid else self.pid)
                self.ack()
            elif kind == SYNC_SETUP_REQ:
                if not self.pid:
                    raise ChildError("protocol error: the init asked for setup before its pid was known")
                # The init mounts while we place it (csrc/child.c request_setup): should it fail
                # meanwhile, its own error explains ours (e.g. no such pid to place).
                try:
                    state_json = handlers.setup(self.pid)
                except PyruncError:
                    self._raise_pending_error()
                    raise
                self.ack(state_json)
            elif kind == SYNC_HOOKS_REQ:
                handlers.runtime_hooks(self.pid)
                self.ack()
            elif kind == SYNC_SECCOMP_FD:
                handlers.seccomp_listener(self.pid, struct.unpack("<i", payload)[0])
                self.ack()
            elif kind == SYNC_READY:
                handlers.ready(self.pid)
                self.ack()
                self.done = True
                self.close()
                return
            else:
                raise ChildError(f"unexpected message {kind} from the container's init")

    def ack(self, payload: bytes = b"") -> None:
        if not _core.send_msg(self.sync, SYNC_ACK, payload):
            self._raise_pending_error()
            raise ChildError(self._death_reason())

    def _raise_pending_error(self) -> None:
        """Raise the child's error message if one is waiting on the sync socket."""
        import select

        poller = select.poll()
        poller.register(self.sync, select.POLLIN)
        if not poller.poll(0):
            return
        kind, err, payload = _core.recv(self.sync)
        if kind == SYNC_ERROR:
            message = payload.decode(errors="replace")
            if err:
                message = f"{message}: {errno_text(err)}"
            raise ChildError(f"unable to start container process: {message}", err)

    def _reap_stage_one(self) -> None:
        try:
            posix.waitpid(self.first_pid, 0)
        except ChildProcessError:
            pass

    def _death_reason(self) -> str:
        pid = self.pid or self.first_pid
        status = None
        if pid:
            try:
                waited, status = posix.waitpid(pid, posix.WNOHANG)
                if waited == 0:
                    status = None
            except ChildProcessError:
                status = None
        if status is not None and posix.WIFSIGNALED(status):
            return f"container init was killed by signal {posix.WTERMSIG(status)} during setup"
        if status is not None:
            return f"container init exited with status {posix.waitstatus_to_exitcode(status)} during setup"
        return "container init exited during setup"

    def abort(self) -> None:
        """Kill whatever was started (setup failed or we were interrupted) and wait until it is
        gone: our child is reaped; the init of a double fork (not our child) is watched through a
        pidfd, so that its cgroup can be removed right after."""
        started = [pid for pid in dict.fromkeys((self.pid, self.first_pid)) if pid]
        pidfds = {}
        for pid in started:
            try:
                pidfds[pid] = _core.pidfd_open(pid)
                _core.pidfd_send_signal(pidfds[pid], 9)
            except OSError:
                pass
        for pid in started:
            # Bounded: a process frozen by its cgroup (or a parent's, frozen meanwhile) dies only
            # once thawed, and a plain waitpid would wait for that forever.
            exited = pid not in pidfds or exited_within(pidfds[pid], 10.0)  # no pidfd: gone already
            try:
                posix.waitpid(pid, 0 if exited else posix.WNOHANG)
            except ChildProcessError:
                pass
            if not exited:
                from pyrunc import log

                log.warning(
                    f"process {pid} of the failed create did not exit within 10 s of SIGKILL "
                    "(is its cgroup frozen?): left for its cgroup's clean-up"
                )
        for fd in pidfds.values():
            posix.close(fd)
        self.close()

    def close(self) -> None:
        for name in ("sync", "child_sync", "plan_fd", "helper_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                posix.close(fd)
                setattr(self, name, -1)
