"""Running commands for the daemon tests: directly, under a private subreaper, or on a pty."""

from __future__ import annotations

import json
import os
import pty
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

REAPER_SCRIPT = Path(__file__).with_name("reaper.py")
DEFAULT_TIMEOUT = 60.0


class CommandFailed(AssertionError):
    pass


def describe_result(result: subprocess.CompletedProcess) -> str:
    return (
        f"{' '.join(map(str, result.args))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def run(
    argv: list[str],
    *,
    input: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run a client command (ctr, docker) that leaves no process behind; capture text output."""
    result = subprocess.run(
        argv,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise CommandFailed(describe_result(result))
    return result


class ReapedProcess:
    """A command the reaper runs for us; its status comes back over the connection."""

    def __init__(self, conn: socket.socket, argv: list[str]) -> None:
        self.conn = conn
        self.args = argv
        self.returncode: int | None = None
        self._buffer = b""
        self.pid = int(self._read_line(DEFAULT_TIMEOUT).removeprefix("pid "))

    def _read_line(self, timeout: float | None) -> str:
        self.conn.settimeout(timeout)
        while b"\n" not in self._buffer:
            chunk = self.conn.recv(4096)
            if not chunk:
                raise ConnectionError(f"reaper hung up while running {self.args}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                line = self._read_line(timeout)
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
            self.returncode = int(line.removeprefix("status "))
            self.conn.close()
        return self.returncode

    def poll(self) -> int | None:
        try:
            return self.wait(timeout=0.001)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """Hang up: the reaper SIGKILLs the command."""
        if self.returncode is None:
            self.conn.close()
            self.returncode = -signal.SIGKILL


class ReaperClient:
    """Starts a private child subreaper (reaper.py) and runs commands under it."""

    def __init__(self, workdir: Path) -> None:
        self.socket_path = workdir / "reaper.sock"
        self.report_path = workdir / "reaper-leftovers.txt"
        self.log = open(workdir / "reaper.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, str(REAPER_SCRIPT), str(self.socket_path), str(self.report_path)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not self.socket_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"reaper did not start: see {workdir / 'reaper.log'}")
            time.sleep(0.02)

    def spawn(
        self,
        argv: list[str],
        *,
        stdin: int,
        stdout: int,
        stderr: int,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        tty: bool = False,
    ) -> ReapedProcess:
        """Start argv under the reaper with the given fds as its stdio (the caller keeps them)."""
        header = json.dumps(
            {"argv": argv, "env": dict(os.environ if env is None else env), "cwd": cwd, "tty": tty}
        ).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(self.socket_path))
        fds = struct.pack("3i", stdin, stdout, stderr)
        conn.sendmsg([struct.pack("!I", len(header)) + header], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        return ReapedProcess(conn, argv)

    def run(
        self,
        argv: list[str],
        *,
        input: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Like subprocess.run with captured text output, but the command runs under the reaper."""
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = self.spawn(argv, stdin=in_r, stdout=out_w, stderr=err_w, env=env)
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        try:
            if input:
                os.write(in_w, input.encode())
            os.close(in_w)
            in_w = -1
            stdout, stderr = collect_output(proc, out_r, err_r, timeout)
        finally:
            if in_w >= 0:
                os.close(in_w)
            os.close(out_r)
            os.close(err_r)
            proc.kill()
        result = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise CommandFailed(describe_result(result))
        return result

    def stop(self) -> list[str]:
        """Stop the reaper; return the processes it had to kill (should be none)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                    return ["reaper did not stop within 30s"]
            if not self.report_path.exists():
                return [f"reaper exited {self.process.returncode} without a report"]
            return [line for line in self.report_path.read_text().splitlines() if line]
        finally:
            self.log.close()


def collect_output(proc: ReapedProcess, out_r: int, err_r: int, timeout: float) -> tuple[str, str]:
    """Read both pipes until the command exits and the pipes go quiet (or EOF)."""
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    selector = selectors.DefaultSelector()
    for fd in chunks:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    try:
        while selector.get_map():
            now = time.monotonic()
            if now > deadline:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            # A daemonized grandchild may hold the pipes open: stop soon after the exit.
            if exited_at is not None and now - exited_at > 2.0:
                break
            for key, _ in selector.select(timeout=0.05):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        selector.close()
    return b"".join(chunks[out_r]).decode(errors="replace"), b"".join(chunks[err_r]).decode(errors="replace")


class PtySession:
    """Drive an interactive client (ctr -t, docker -it, podman -it) from a real pseudo-terminal."""

    def __init__(
        self, argv: list[str], *, reaper: ReaperClient | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.argv = argv
        self.master, slave = pty.openpty()
        termios.tcsetwinsize(slave, (24, 80))
        self._output = bytearray()
        self._lock = threading.Lock()
        try:
            if reaper is not None:
                self.proc: subprocess.Popen | ReapedProcess = reaper.spawn(
                    argv, stdin=slave, stdout=slave, stderr=slave, tty=True, env=env
                )
            else:
                # setsid -c makes the pty the client's controlling terminal, as in a real shell.
                self.proc = subprocess.Popen(
                    ["setsid", "-c", *argv], stdin=slave, stdout=slave, stderr=slave, env=env
                )
        finally:
            os.close(slave)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO once every slave fd is closed
                return
            if not data:
                return
            with self._lock:
                self._output += data

    @property
    def output(self) -> str:
        with self._lock:
            return self._output.decode(errors="replace")

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.output)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.argv}: no {pattern!r} on the terminal within {timeout}s; got {self.output!r}"
                )
            time.sleep(0.05)

    def type(self, text: str) -> None:
        """Type text as a user would; \\r is Enter."""
        os.write(self.master, text.encode())

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        os.close(self.master)
