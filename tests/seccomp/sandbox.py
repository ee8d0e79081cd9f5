"""Run a command under a compiled seccomp program, for real, in a forked child.

The child leaves the host alone before it loads anything: new mount, UTS, IPC and network
namespaces (mounts private), its own proc and /dev/shm, chroot into a busybox rootfs built by
oci-bundles/build, no core dumps: a filter that fails to deny cannot touch the host either.
Then it loads the program with pyrunc._seccomp.load (what the container's init does with
seccomp(2)), optionally runs `after_load(listener_fd)` and execs /bin/busybox.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import resource
import select
import selectors
import signal
import struct
import threading
import time
import traceback

from pyrunc import _seccomp

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLE = os.path.join(REPO, "oci-bundles", "seccomp")
CONVERTER = os.path.join(REPO, "oci-bundles", "docker-seccomp-to-oci")
DOCKER_PROFILE = "/usr/share/containers/seccomp.json"


class Result:
    __slots__ = ("pid", "status", "stderr", "stdout")

    def __init__(self, pid: int, status: int, stdout: str, stderr: str) -> None:
        self.pid = pid
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    @property
    def exit_code(self) -> int | None:
        return os.waitstatus_to_exitcode(self.status) if os.WIFEXITED(self.status) else None

    @property
    def signal(self) -> int | None:
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None

    def __repr__(self) -> str:
        return f"Result(status={self.status:#x}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def raw_syscall(nr: int, *args: int) -> int:
    """syscall(2) through libc: the result, or -errno."""
    rc = _libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return -ctypes.get_errno() if rc == -1 else rc


def become_subreaper() -> None:
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def _isolate(rootfs: str) -> None:
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    root = rootfs.encode()
    _check(_libc.mount(b"proc", root + b"/proc", b"proc", 0, None), "mount proc")
    _check(_libc.mount(b"/dev", root + b"/dev", None, MS_BIND | MS_REC, None), "bind /dev")
    _check(_libc.mount(b"shm", root + b"/dev/shm", b"tmpfs", 0, None), "mount /dev/shm")  # not the host's
    os.chroot(rootfs)
    os.chdir("/")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child(program, argv, rootfs, after_load, out_w, err_w) -> None:
    try:
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        _isolate(rootfs)
        fd = _seccomp.load(program.bpf, program.flags)
        if after_load is not None:
            after_load(fd)
        if argv is not None:
            os.execve("/bin/busybox", argv, dict(item.split("=", 1) for item in ENV))
        os._exit(0)
    except BaseException:
        try:
            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(127)


class Child:
    """A forked, filtered child; wait() collects its output and status."""

    def __init__(self, pid: int, out_r: int, err_r: int) -> None:
        self.pid = pid
        self._out_r = out_r
        self._err_r = err_r

    def wait(self, timeout: float = 60) -> Result:
        try:
            stdout, stderr = _collect(self._out_r, self._err_r, self.pid, timeout)
        finally:
            os.close(self._out_r)
            os.close(self._err_r)
            _, status = os.waitpid(self.pid, 0)
        return Result(self.pid, status, stdout, stderr)


def spawn(program, argv: list[str] | None, rootfs: str, after_load=None) -> Child:
    """Fork, isolate, load `program`, call after_load(listener_fd), exec busybox `argv`
    (argv[0] names the applet); with argv None the child exits 0 after after_load."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _child(program, argv, rootfs, after_load, out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    return Child(pid, out_r, err_r)


def run(program, argv: list[str] | None, rootfs: str, after_load=None, timeout: float = 60) -> Result:
    return spawn(program, argv, rootfs, after_load).wait(timeout)


def _collect(out_r: int, err_r: int, pid: int, timeout: float) -> tuple[str, str]:
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                raise TimeoutError(f"child {pid} still running after {timeout}s")
            for key, _ in sel.select(remaining):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
    return b"".join(chunks[out_r]).decode(errors="replace"), b"".join(chunks[err_r]).decode(errors="replace")


# --- a seccomp agent (SCMP_ACT_NOTIFY) ---------------------------------------------------------


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


NOTIF = struct.Struct("=QIIiIQ6Q")  # struct seccomp_notif: id, pid, flags, seccomp_data
NOTIF_RESP = struct.Struct("=QqiI")  # struct seccomp_notif_resp: id, val, error, flags
SECCOMP_IOCTL_NOTIF_RECV = _iowr(0, NOTIF.size)
SECCOMP_IOCTL_NOTIF_SEND = _iowr(1, NOTIF_RESP.size)


class Agent(threading.Thread):
    """Answers every notification on `listener` with -EXDEV and records what it saw."""

    def __init__(self, listener: int) -> None:
        super().__init__(daemon=True)
        self.listener = listener
        self.seen: list[tuple[int, int]] = []  # (pid, syscall number)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            poller = select.poll()
            poller.register(self.listener, select.POLLIN)
            while True:
                events = poller.poll(30_000)
                if not events:
                    raise TimeoutError("no notification within 30 s")
                if not events[0][1] & select.POLLIN:
                    return  # POLLHUP: every task under the filter is gone
                buf = bytearray(NOTIF.size)
                fcntl.ioctl(self.listener, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
                notif_id, pid, _flags, nr, _arch, _ip, *_args = NOTIF.unpack(buf)
                self.seen.append((pid, nr))
                fcntl.ioctl(
                    self.listener, SECCOMP_IOCTL_NOTIF_SEND, NOTIF_RESP.pack(notif_id, 0, -errno.EXDEV, 0)
                )
        except BaseException as err:  # reported by the test
            self.error = err
