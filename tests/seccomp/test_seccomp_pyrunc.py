"""End to end: `pyrunc run` compiles linux.seccomp and the container's init loads it."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid

import pytest
from sandbox import BUNDLE, Agent

PYRUNC = os.environ.get("PYRUNC_BIN") or os.path.join(os.path.dirname(sys.executable), "pyrunc")

pytestmark = pytest.mark.skipif(not os.path.exists(PYRUNC), reason=f"{PYRUNC} not installed")


class Container:
    def __init__(self, tmp_path) -> None:
        self.bundle = tmp_path / "bundle"
        self.root = tmp_path / "pyrunc-root"
        self.id = f"pyrunc-seccomp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        with open(os.path.join(BUNDLE, "config.json")) as f:
            self.config = json.load(f)

    def run(self, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess:
        (self.bundle / "config.json").write_text(json.dumps(self.config))
        return self.rt("run", *flags, "--bundle", str(self.bundle), self.id, timeout=timeout)

    def rt(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        # Output through files: a detached container would hold pipes open.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            argv = [PYRUNC, "--root", str(self.root), *args]
            proc = subprocess.run(
                argv, stdout=out, stderr=err, text=True, stdin=subprocess.DEVNULL, timeout=timeout
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())

    def delete(self) -> None:
        subprocess.run([PYRUNC, "--root", str(self.root), "delete", "--force", self.id], capture_output=True)


@pytest.fixture
def container(tmp_path, rootfs):
    c = Container(tmp_path)
    c.bundle.mkdir()
    shutil.copytree(rootfs, c.bundle / "rootfs", symlinks=True)
    try:
        yield c
    finally:
        c.delete()
        shutil.rmtree(c.bundle / "rootfs", ignore_errors=True)


def test_pyrunc_runs_the_docker_profile_bundle(container):
    result = container.run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Docker default seccomp profile: Seccomp: 2 (2 = filter mode)"
    assert "  tmpfs write/read: written-to-tmpfs" in lines
    assert "  hostname -> hostname: sethostname: Operation not permitted" in lines


def test_pyrunc_container_gets_the_errno(container):
    container.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV}],
    }
    container.config["process"]["args"] = ["sh", "-c", "mkdir /dev/shm/x; echo rc=$?; ls /dev/shm"]
    result = container.run()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "rc=1\n"
    assert os.strerror(errno.EXDEV) in result.stderr


def test_pyrunc_container_is_killed_by_a_kill_action(container):
    container.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}],
    }
    container.config["process"]["args"] = ["mkdir", "/dev/shm/x"]
    result = container.run()
    assert result.returncode == 128 + signal.SIGSYS, (result.stdout, result.stderr)


def test_pyrunc_refuses_a_bad_profile_naming_the_field(container):
    container.config["linux"]["seccomp"]["syscalls"][3]["action"] = "SCMP_ACT_PERMIT"
    result = container.run()
    assert result.returncode == 1
    assert "linux.seccomp.syscalls[3].action" in result.stderr
    assert "SCMP_ACT_PERMIT" in result.stderr


class ListenerSocket(threading.Thread):
    """listenerPath: accepts `connections` connections (create's, then each exec's), reads the
    container process state and the fd of each, and answers each fd with its own Agent."""

    def __init__(self, path: str, connections: int = 1) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(connections)
        self.connections = connections
        self.states: list[dict] = []
        self.agents: list[Agent] = []

    @property
    def state(self) -> dict | None:
        return self.states[0] if self.states else None

    @property
    def agent(self) -> Agent | None:
        return self.agents[0] if self.agents else None

    def stop(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)  # wakes a pending accept()
        self.server.close()
        self.join(30)
        for agent in self.agents:
            agent.join(35)  # ends when every task under its filter is gone
            os.close(agent.listener)

    def run(self) -> None:
        for _ in range(self.connections):
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # stopped by the test: nobody (else) connected
            with conn:
                conn.settimeout(30)
                msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
                payload = msg
                while True:
                    more = conn.recv(65536)
                    if not more:
                        break
                    payload += more
                self.states.append(json.loads(payload))
                agent = Agent(fds[0])  # answers with -EXDEV until its processes are gone
                self.agents.append(agent)
                agent.start()


def notify_mkdir_profile(listener_path: str) -> dict:
    """mkdir goes to the agent at listener_path (which answers EXDEV); everything else is allowed."""
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener_path,
        "listenerMetadata": "answer=EXDEV",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }


def test_pyrunc_sends_the_listener_to_listener_path(container, tmp_path):
    path = str(tmp_path / "agent.sock")
    listener = ListenerSocket(path)
    listener.start()
    container.config["linux"]["seccomp"] = notify_mkdir_profile(path)
    container.config["process"]["args"] = ["mkdir", "/dev/shm/x"]
    try:
        result = container.run()
    finally:
        listener.stop()
    assert listener.state is not None, "nobody connected to listenerPath"
    state = listener.state
    assert state["fds"] == ["seccompFd"]
    assert state["metadata"] == "answer=EXDEV"
    assert state["state"]["id"] == container.id
    assert state["pid"] == state["state"]["pid"] > 0
    assert listener.agent.error is None
    assert len(listener.agent.seen) == 1
    assert result.returncode == 1
    assert os.strerror(errno.EXDEV) in result.stderr


def test_pyrunc_exec_sends_its_listener_to_listener_path(container, tmp_path):
    """As runc: the exec'd process loads the container's NOTIFY filter too, and its own listener
    goes to listenerPath with the metadata; `pid` is the exec'd process, the state the container's."""
    path = str(tmp_path / "agent.sock")
    listener = ListenerSocket(path, connections=2)
    listener.start()
    container.config["linux"]["seccomp"] = notify_mkdir_profile(path)
    container.config["process"]["args"] = ["sleep", "infinity"]
    pid_file = str(tmp_path / "exec.pid")
    try:
        started = container.run("--detach")
        assert started.returncode == 0, started.stderr
        init_pid = json.loads(container.rt("state", container.id).stdout)["pid"]
        result = container.rt("exec", "--pid-file", pid_file, container.id, "mkdir", "/dev/shm/x")
    finally:
        container.delete()
        listener.stop()
    assert result.returncode == 1, result.stderr
    assert os.strerror(errno.EXDEV) in result.stderr, (
        f"the agent did not answer the exec's mkdir: {result.stderr}"
    )
    with open(pid_file) as f:
        exec_pid = int(f.read())
    assert len(listener.states) == 2, "create and exec each send their listener"
    state = listener.states[1]
    assert state["fds"] == ["seccompFd"]
    assert state["metadata"] == "answer=EXDEV"
    assert state["state"]["id"] == container.id
    assert state["state"]["pid"] == init_pid
    assert state["pid"] == exec_pid != init_pid
    exec_agent = listener.agents[1]
    assert exec_agent.error is None
    assert [pid for pid, _nr in exec_agent.seen] == [exec_pid]


@pytest.mark.parametrize("cwd", ["/", "/tmp"])
def test_a_profile_denying_getcwd_without_no_new_privileges(container, cwd):
    """Without noNewPrivileges the filter is loaded while still privileged, before the process's
    user is taken; the CVE-2024-21626 check of the cwd (getcwd) must not depend on a syscall the
    profile may deny (issue 16). The process itself then gets the errno."""
    container.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}],
    }
    container.config["process"]["noNewPrivileges"] = False
    container.config["process"]["cwd"] = cwd
    container.config["process"]["args"] = ["sh", "-c", "echo started; pwd -P"]
    result = container.run()
    assert result.stdout.splitlines()[:1] == ["started"], result.stderr
