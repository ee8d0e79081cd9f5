"""The foreground `run` of a container with a terminal and no --console-socket: we receive the pty
master ourselves and proxy the caller's terminal to it (raw mode, window size changes), until the
container's init exits."""

from __future__ import annotations

import os


def copy_window_size(src: int, dst: int) -> None:
    """Give the pty `dst` the window size of the terminal `src` (when `src` is one)."""
    import fcntl
    import termios

    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        if size != b"\0" * 8:
            fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


class TerminalProxy:
    """Copies stdin -> pty master and pty master -> stdout; resizes the pty with the caller's tty."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.stdin_tty = os.isatty(0)
        self.saved: list | None = None

    def __enter__(self) -> TerminalProxy:
        if self.stdin_tty:
            import termios
            import tty

            self.saved = termios.tcgetattr(0)
            tty.setraw(0)
            self.copy_window_size()
            import _signal

            _signal.signal(28, lambda signum, frame: self.copy_window_size())  # SIGWINCH
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)

    def copy_window_size(self) -> None:
        copy_window_size(0, self.master)

    def pump(self, pidfd: int) -> None:
        """Copy until the init exits (pidfd readable), then drain what the pty still holds."""
        import select

        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        stdin_open = True
        poller.register(0, select.POLLIN)
        while True:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            for fd, _mask in events:
                if fd == pidfd:
                    self.drain()
                    return
                if fd == self.master:
                    if not self.copy(self.master, 1):
                        poller.unregister(self.master)
                elif fd == 0 and stdin_open and not self.copy(0, self.master):
                    poller.unregister(0)
                    stdin_open = False
                    if not self.stdin_tty:
                        os.write(self.master, b"\x04")  # end of input for the program on the tty

    def copy(self, src: int, dst: int) -> bool:
        try:
            data = os.read(src, 65536)
        except OSError:
            return False
        if not data:
            return False
        view = memoryview(data)
        while view:
            try:
                written = os.write(dst, view)
            except OSError:
                return False
            view = view[written:]
        return True

    def drain(self) -> None:
        import select

        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        while poller.poll(50) and self.copy(self.master, 1):
            pass
