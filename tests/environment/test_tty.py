"""process.terminal (issue 3, item 6), what tests/integration/test_terminal.py does not cover: the
pty belongs to the container's own devpts instance; it is the process's stdio, controlling tty and
/dev/console; an exec with --tty gets one from the same devpts; and a foreground `run` puts the
caller's terminal in raw mode, follows its window-size changes and restores it on exit."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import time

import pytest

from tests.integration.test_terminal import ConsoleListener, read_until

from .helpers import mount_at, proc_stat


@pytest.fixture
def console(tmp_path):
    made = []

    def make(name: str = "console.sock") -> ConsoleListener:
        listener = ConsoleListener(str(tmp_path / name))
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener.close()


def terminal_bundle(make_bundle, args: list[str]):
    bundle = make_bundle(args=args)
    bundle.config["process"]["terminal"] = True
    return bundle.write()


def devpts_dev(pid: int) -> int:
    """st_dev of the devpts instance mounted on the container's /dev/pts."""
    major, minor = mount_at(pid, "/dev/pts").dev.split(":")
    return os.makedev(int(major), int(minor))


def test_the_pty_is_the_containers_own_and_its_stdio_ctty_and_console(runtime, make_bundle, cid, console):
    listener = console()
    bundle = terminal_bundle(make_bundle, ["sleep", "infinity"])
    runtime("create", "--console-socket", listener.path, "--bundle", bundle.path, cid)
    try:
        listener.wait()
        name = listener.payload.decode()
        pid = runtime.state(cid)["pid"]
        slave = os.stat(f"/proc/{pid}/fd/0")
        assert os.major(slave.st_rdev) == 136 and f"/dev/pts/{os.minor(slave.st_rdev)}" == name
        assert slave.st_dev == devpts_dev(pid), "allocated from the container's devpts"
        assert slave.st_dev != os.stat("/dev/pts/ptmx").st_dev, "not from the host's devpts"
        for fd in (0, 1, 2):
            st = os.stat(f"/proc/{pid}/fd/{fd}")
            assert (st.st_dev, st.st_ino) == (slave.st_dev, slave.st_ino), f"fd {fd}"
            assert os.readlink(f"/proc/{pid}/fd/{fd}") == name
        console_dev = os.stat(f"/proc/{pid}/root/dev/console")
        assert console_dev.st_rdev == slave.st_rdev, "/dev/console is the same pty"
        assert mount_at(pid, "/dev/console").fstype == "devpts"
        fields = proc_stat(pid)
        session, tty_nr, foreground = int(fields[3]), int(fields[4]), int(fields[5])
        assert tty_nr == slave.st_rdev, "the pty is the controlling terminal"
        assert session == pid and foreground == pid, "the init leads its session and the foreground"
    finally:
        runtime("delete", "--force", cid, check=False)


def test_a_readonly_dev_still_gets_its_console(runtime, make_bundle, cid, console):
    """/dev/console is bound after the mounts and devices: a read-only /dev is made so after it."""
    listener = console()
    bundle = terminal_bundle(make_bundle, ["sleep", "infinity"])
    for mount in bundle.config["mounts"]:
        if mount["destination"] == "/dev":
            mount["options"] = [*mount.get("options", []), "ro"]
    bundle.write()
    runtime("create", "--console-socket", listener.path, "--bundle", bundle.path, cid)
    try:
        listener.wait()
        pid = runtime.state(cid)["pid"]
        assert "ro" in mount_at(pid, "/dev").options
        assert mount_at(pid, "/dev/console").fstype == "devpts"
    finally:
        runtime("delete", "--force", cid, check=False)


def test_exec_with_tty_gets_a_pty_from_the_containers_devpts(runtime, make_bundle, cid, console):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    exec_pid = 0
    try:
        pid = runtime.state(cid)["pid"]
        listener = console("exec.sock")
        exec_pid_file = os.path.join(bundle.path, "exec.pid")
        runtime(
            "exec", "--tty", "--detach", "--console-socket", listener.path, "--pid-file", exec_pid_file,
            cid, "sh", "-c", "tty; sleep infinity",
        )  # fmt: skip
        listener.wait()
        assert listener.messages == 1 and len(listener.fds) == 1
        with open(exec_pid_file) as f:
            exec_pid = int(f.read())
        slave = os.stat(f"/proc/{exec_pid}/fd/0")
        assert slave.st_dev == devpts_dev(pid)
        assert f"/dev/pts/{os.minor(slave.st_rdev)}" == listener.payload.decode()
        out = read_until(listener.fds[0], listener.payload)
        assert listener.payload in out, out
    finally:
        if exec_pid:
            # The detached exec's process is our child (we are the subreaper its runtime left it
            # to): reap it, or the container's init cannot finish dying while it is a zombie.
            os.kill(exec_pid, 9)
            os.waitpid(exec_pid, 0)
        runtime("delete", "--force", cid, check=False)


def winsize(fd: int) -> tuple[int, int]:
    return struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))[:2]


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def own_terminal() -> None:
    """In the child before exec: a new session whose controlling tty is stdin, as in a shell, so
    the kernel sends it SIGWINCH when the terminal is resized."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_foreground_run_raw_mode_resize_and_restore(runtime, make_bundle, cid):
    bundle = terminal_bundle(
        make_bundle, ["sh", "-c", "stty size; while read line; do stty size; done; exit 3"]
    )
    controller, terminal = pty.openpty()
    set_winsize(terminal, 24, 80)
    before = termios.tcgetattr(terminal)
    proc = subprocess.Popen(
        runtime.cmd("run", "--bundle", bundle.path, cid),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        preexec_fn=own_terminal,
    )
    try:
        out = read_until(controller, b"24 80")
        assert b"24 80" in out, out
        lflag = termios.tcgetattr(terminal)[3]
        assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG), "the caller's tty is in raw mode"
        set_winsize(terminal, 50, 160)
        deadline = time.monotonic() + 15
        while b"50 160" not in out and time.monotonic() < deadline:
            os.write(controller, b"\r")  # each line makes the container print its size again
            out += read_until(controller, b"50 160", timeout=0.5)
        assert b"50 160" in out, f"the resize never reached the container: {out!r}"
        os.write(controller, b"\x04")  # end of input: the loop ends, the shell exits 3
        assert proc.wait(timeout=20) == 3
        assert termios.tcgetattr(terminal) == before, "the caller's terminal settings are restored"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
        os.close(terminal)


def test_the_pty_belongs_to_the_processs_user_for_create_and_exec(runtime, make_bundle, cid, console):
    """As runc: a non-root process owns its terminal (uid; the group stays devpts' gid=5, tty), or it
    could not reopen it nor change its mode. Checked from outside, and by reopening it inside."""
    listener = console()
    bundle = terminal_bundle(make_bundle, ["sleep", "infinity"])
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.write()
    runtime("create", "--console-socket", listener.path, "--bundle", bundle.path, cid)
    exec_pid = 0
    try:
        listener.wait()
        pid = runtime.state(cid)["pid"]
        slave = os.stat(f"/proc/{pid}/fd/0")
        assert (slave.st_uid, slave.st_gid) == (1000, 5)
        runtime("start", cid)
        exec_listener = console("exec.sock")
        exec_pid_file = os.path.join(bundle.path, "exec.pid")
        runtime(
            "exec", "--tty", "--detach", "--console-socket", exec_listener.path, "--pid-file", exec_pid_file,
            "--user", "2000:2000", cid, "sh", "-c", 'echo hi > "$(tty)" && echo REOPENED; sleep infinity',
        )  # fmt: skip
        exec_listener.wait()
        with open(exec_pid_file) as f:
            exec_pid = int(f.read())
        slave = os.stat(f"/proc/{exec_pid}/fd/0")
        assert (slave.st_uid, slave.st_gid) == (2000, 5)
        out = read_until(exec_listener.fds[0], b"REOPENED")
        assert b"REOPENED" in out, out
    finally:
        if exec_pid:
            os.kill(exec_pid, 9)
            os.waitpid(exec_pid, 0)
        runtime("delete", "--force", cid, check=False)
