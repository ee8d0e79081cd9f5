"""A container process's stdio, from the fifos containerd names in Create and Exec.

Without a terminal the process gets the stdout/stderr fifos themselves (opened read-write, so the
process never sees EPIPE while no client reads, as with the runc shim's spare reader), and a pipe for
stdin that a thread fills from the stdin fifo until the client closes it. With a terminal, threads
copy between the pty master and the fifos, and the stdout fifo is closed when the copy ends (the
client's copy ends at that EOF). Paths left empty mean /dev/null.

An output fifo is opened only once the client's reader is there. containerd opens its end
asynchronously (a goroutine's blocking open(2)) and, for ExecSync, reads to EOF with no bound; a
fifo's reader waits in open() for a writer, so were every writer gone before that open -- a short
exec that exited, the shim's copies closed -- it would wait for ever and the output would be lost.
The runc shim's blocking O_WRONLY open waits for the reader the same way.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable

COPY_SIZE = 32768
READER_WAIT = 10.0  # how long an output fifo's open waits for the client's reader


def _open_output(path: str, log: Callable[[str], object]) -> int:
    """A fifo, a file:// URI (ctr --log-uri: appended to), or nothing (/dev/null)."""
    if not path:
        return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    if "://" in path:
        scheme, _, rest = path.partition("://")
        if scheme != "file":
            from pyrunc.errors import PyruncError

            raise PyruncError(f"stdio {path}: only fifos and file:// URIs are supported by this shim")
        return os.open(rest, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    # A writer held while the read-write fd is opened: the client's reader, once open, never sees
    # the fifo without a writer (its read would end at once) before the process has it.
    writer = _writer_once_read(path, log)
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    finally:
        os.close(writer)


def _writer_once_read(path: str, log: Callable[[str], object]) -> int:
    """A write-only fd of the fifo at `path`, opened once it has a reader (at once if it has one),
    waiting READER_WAIT seconds at most; after that, our own reader ends the wait (the output then
    waits in the fifo for a client that may never come, as before)."""
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno != errno.ENXIO:  # ENXIO: no reader yet
            raise
    opened: list[int] = []
    failed: list[OSError] = []

    def open_blocking() -> None:
        try:
            opened.append(os.open(path, os.O_WRONLY | os.O_CLOEXEC))
        except OSError as err:
            failed.append(err)

    opener = threading.Thread(target=open_blocking, name="shim-fifo-open", daemon=True)
    opener.start()
    opener.join(READER_WAIT)
    if opener.is_alive():
        log(f"no reader opened {path} within {READER_WAIT:.0f} s: the process starts without one")
        own = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            opener.join()  # a reader has come (ours): the open returns
        finally:
            os.close(own)
    if failed:
        raise failed[0]
    return opened[0]


class ProcessIO:
    def __init__(
        self,
        stdin: str,
        stdout: str,
        stderr: str,
        terminal: bool,
        log: Callable[[str], object] = lambda msg: None,
    ) -> None:
        """Opens the output fifos, which may wait for the client's readers (READER_WAIT): call it
        without holding the service's lock."""
        self.stdin_path = stdin
        self.stdout_path = stdout
        self.stderr_path = stderr
        self.terminal = terminal
        self.child: list[int] = []  # what the process gets as 0, 1, 2 (closed here once it has them)
        self.stdin_write = -1  # our end of the stdin pipe (no terminal)
        self.stdout_fd = -1  # the stdout fifo (terminal)
        self.master = -1
        self.threads: list[threading.Thread] = []
        self.output_done = threading.Event()
        self.stdin_closed = False
        self.fd_lock = threading.Lock()  # our fds are closed by the copy threads and by close()
        if terminal:
            self.stdout_fd = _open_output(stdout, log)
            return
        if stdin:
            read_end, self.stdin_write = os.pipe2(os.O_CLOEXEC)
            self.child.append(read_end)
            self._thread(self._copy_stdin, self.stdin_write)
        else:
            self.child.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        try:
            self.child.append(_open_output(stdout, log))
            self.child.append(_open_output(stderr, log))
        except BaseException:
            self.close()
            raise
        self.output_done.set()  # the process writes into the fifos itself

    def _thread(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="shim-io")
        thread.start()
        self.threads.append(thread)

    def child_fds(self) -> tuple[int, int, int]:
        """0, 1, 2 for a process without a terminal (the terminal's are its pty)."""
        if self.terminal:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            self.child = [null]
            return null, null, null
        return self.child[0], self.child[1], self.child[2]

    def started(self) -> None:
        """The process holds its ends: ours go."""
        for fd in self.child:
            os.close(fd)
        self.child = []

    def attach_console(self, master: int) -> None:
        self.master = master
        if self.stdin_path:
            self._thread(self._copy_stdin, master)
        self._thread(self._copy_output)

    def _copy_stdin(self, target: int) -> None:
        """The client's stdin into the process: blocks in open until the client's end is open
        (close_stdin unblocks it), ends at the client's EOF."""
        try:
            fifo = os.open(self.stdin_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._close_stdin_target(target)
            return
        try:
            while True:
                data = os.read(fifo, COPY_SIZE)
                if not data or (self.stdin_closed and target == self.stdin_write):
                    break
                os.write(target, data)
        except OSError:
            pass
        finally:
            os.close(fifo)
            self._close_stdin_target(target)

    def _take(self, name: str, expected: int | None = None) -> int:
        """Our fd `name`, now ours to close (-1 if gone, or no longer `expected`): one closer."""
        with self.fd_lock:
            fd = getattr(self, name)
            if fd < 0 or (expected is not None and fd != expected):
                return -1
            setattr(self, name, -1)
            return fd

    def _close_stdin_target(self, target: int) -> None:
        if target == self.stdin_write:
            fd = self._take("stdin_write", target)
            if fd >= 0:
                os.close(fd)
        elif target == self.master and self.master >= 0:
            # EOF to a terminal's reader: ^D at the start of a line, as a user would type it.
            try:
                os.write(target, b"\x04")
            except OSError:
                pass

    def _copy_output(self) -> None:
        try:
            while True:
                try:
                    data = os.read(self.master, COPY_SIZE)
                except OSError:  # EIO: every slave end is closed, the process and its children gone
                    break
                if not data:
                    break
                view = memoryview(data)
                while view:
                    view = view[os.write(self.stdout_fd, view) :]
        except OSError:
            pass
        finally:
            # The client's copy ends at this EOF (CRI's exec attach waits for it, unbounded).
            fd = self._take("stdout_fd")
            if fd >= 0:
                os.close(fd)
            self.output_done.set()

    def close_stdin(self) -> None:
        """CloseIO: the client closed its stdin. A copy still waiting in open() gets a writer that
        closes at once (EOF); one reading sees EOF from the client's close."""
        self.stdin_closed = True
        if not self.stdin_path:
            return
        try:
            fd = os.open(self.stdin_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.close(fd)
        except OSError:
            pass

    def wait_output(self, timeout: float) -> None:
        self.output_done.wait(timeout)

    def close(self) -> None:
        self.close_stdin()
        for fd in self.child:
            os.close(fd)
        self.child = []
        for name in ("stdin_write", "stdout_fd", "master"):
            fd = self._take(name)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
