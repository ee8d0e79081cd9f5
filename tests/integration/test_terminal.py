"""process.terminal: the pty master over --console-socket (containerd's and conmon's way), and the
foreground `run` proxying a real terminal."""

from __future__ import annotations

import array
import fcntl
import os
import pty
import select
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest


class ConsoleListener:
    """An AF_UNIX socket that accepts one connection and records the message it gets."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.fds: list[int] = []
        self.payload = b""
        self.messages = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return  # closed by the test without a connection (the runtime refused earlier)
        with conn:
            while True:
                fds = array.array("i")
                data, ancdata, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(16 * fds.itemsize))
                if not data and not ancdata:
                    return
                self.messages += 1
                self.payload += data
                for level, kind, cdata in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(cdata[: len(cdata) - (len(cdata) % fds.itemsize)])
                self.fds.extend(fds)

    def wait(self) -> None:
        self.thread.join(timeout=20)

    def close(self) -> None:
        self.server.close()
        for fd in self.fds:
            os.close(fd)


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


@pytest.fixture
def listener(tmp_path):
    console = ConsoleListener(str(tmp_path / "console.sock"))
    yield console
    console.close()


def terminal_bundle(make_bundle, args, size=None):
    bundle = make_bundle(args=args)
    bundle.config["process"]["terminal"] = True
    if size:
        bundle.config["process"]["consoleSize"] = {"height": size[0], "width": size[1]}
    return bundle.write()


def test_console_socket_gets_one_message_with_one_fd(runtime, make_bundle, cid, listener):
    bundle = terminal_bundle(make_bundle, ["sh"], size=(33, 111))
    runtime("create", "--console-socket", listener.path, "--bundle", bundle.path, cid)
    listener.wait()
    assert listener.messages == 1
    assert len(listener.fds) == 1
    assert listener.payload.decode().startswith("/dev/pts/")
    master = listener.fds[0]
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    assert (rows, cols) == (33, 111)

    runtime("start", cid)
    os.write(master, b"tty; ls -l /dev/console; stty size; echo marker-$((6*7))\n")
    out = read_until(master, b"marker-42")
    assert b"marker-42" in out, out
    assert listener.payload in out  # tty prints the slave's name, the one we were sent
    assert b"33 111" in out
    console_line = next(line for line in out.splitlines() if line.rstrip().endswith(b"/dev/console"))
    assert console_line.lstrip().startswith(b"crw"), console_line  # the pty bound as a char device

    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    session, tty_nr = int(fields[3]), int(fields[4])
    assert session == pid, "the init leads its own session"
    assert tty_nr != 0, "the pty is the init's controlling terminal"
    runtime("delete", "--force", cid)


def test_terminal_without_console_socket_is_refused_for_create(runtime, make_bundle, cid):
    bundle = terminal_bundle(make_bundle, ["sh"])
    result = runtime("create", "--bundle", bundle.path, cid, check=False)
    assert result.returncode == 1
    assert "--console-socket" in result.stderr
    assert os.listdir(runtime.root) == []


def test_console_socket_without_terminal_is_refused(runtime, make_bundle, cid, listener):
    bundle = make_bundle(args=["true"])
    result = runtime("create", "--console-socket", listener.path, "--bundle", bundle.path, cid, check=False)
    assert result.returncode == 1
    assert "process.terminal is false" in result.stderr
    assert os.listdir(runtime.root) == []


def test_foreground_run_proxies_a_real_terminal(runtime, make_bundle, cid):
    bundle = terminal_bundle(make_bundle, ["sh", "-c", "stty size; read line; echo got:$line; exit 5"])
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 42, 132, 0, 0))
    proc = subprocess.Popen(
        runtime.cmd("run", "--bundle", bundle.path, cid),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        out = read_until(controller, b"42 132")
        assert b"42 132" in out, out
        os.write(controller, b"hello\r")
        out += read_until(controller, b"got:hello")
        assert b"got:hello" in out, out
        assert proc.wait(timeout=20) == 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
