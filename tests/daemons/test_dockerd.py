"""dockerd (through its containerd and the runc shim) with the runtime under test."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cgroupfiles import ContainerCgroup
from .conftest import IMAGE_REF, id_prefix
from .daemons import Dockerd
from .procs import PtySession, run

pytestmark = pytest.mark.daemons

CAP_CHOWN = 1 << 0
CAP_NET_RAW = 1 << 13


class Docker:
    """The docker client against the private dockerd; removes its containers after the test."""

    def __init__(self, daemon: Dockerd, test_name: str) -> None:
        self.daemon = daemon
        self.prefix = id_prefix(test_name)
        self.names: list[str] = []

    def new_name(self, label: str = "c") -> str:
        name = f"{self.prefix}-{label}-{self.daemon.token}"
        self.names.append(name)
        return name

    def __call__(self, *args: str, **kwargs):
        return self.daemon.docker(*args, **kwargs)

    def run_flags(self) -> list[str]:
        return ["--runtime", self.daemon.runtime_name, "--network", "none"]

    def run(self, *args: str, check: bool = True, input: str | None = None):
        return self("run", *self.run_flags(), *args, check=check, input=input)

    def start_detached(self, name: str, *args: str) -> str:
        return self.run("-d", "--name", name, *args).stdout.strip()

    def inspect(self, name: str, template: str) -> str:
        return self("inspect", "-f", template, name).stdout.strip()

    def state(self, name: str) -> str:
        result = self("inspect", "-f", "{{.State.Status}}", name, check=False)
        return result.stdout.strip() if result.returncode == 0 else "absent"

    def wait_state(self, name: str, wanted: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (state := self.state(name)) != wanted:
            assert time.monotonic() < deadline, f"{name} is {state}, not {wanted}, after {timeout}s"
            time.sleep(0.1)

    def cgroup(self, name: str) -> ContainerCgroup:
        """The container's cgroup on the host, where dockerd's cgroup parent puts it."""
        return ContainerCgroup(f"/{self.daemon.cgroup_parent}/{self.inspect(name, '{{.Id}}')}")

    def cleanup(self) -> None:
        if self.names:
            self("rm", "-f", *self.names, check=False)


@pytest.fixture
def docker(dockerd: Dockerd, request: pytest.FixtureRequest) -> Iterator[Docker]:
    client = Docker(dockerd, request.node.name)
    try:
        yield client
    finally:
        client.cleanup()


def test_info_shows_the_runtime_and_its_version(docker: Docker, runtime_bin: str) -> None:
    info = json.loads(docker("info", "--format", "{{json .}}").stdout)
    assert info["DefaultRuntime"] == "pyrunc"
    assert info["Runtimes"]["pyrunc"]["path"] == str(docker.daemon.runtime)
    commit = next(
        line.split(":", 1)[1].strip()
        for line in run([runtime_bin, "--version"]).stdout.splitlines()
        if line.startswith("commit:")
    )
    # dockerd reads the commit: line of `<runtime> --version` for the default runtime.
    assert info["RuncCommit"]["ID"] == commit


def test_exit_codes_and_calls_reach_the_runtime(docker: Docker) -> None:
    name = docker.new_name()
    assert docker.run("--name", name, IMAGE_REF, "sh", "-c", "exit 3", check=False).returncode == 3
    calls = [c for c in docker.daemon.runtime_calls() if " create --bundle " in c]
    full_id = docker.inspect(name, "{{.Id}}")
    assert any(c.endswith(f" {full_id}") for c in calls), calls


def test_interactive_stdin_env_workdir_user(docker: Docker) -> None:
    result = docker.run(
        "--rm", "-i", "-e", "GREETING=hello", "-w", "/tmp", "-u", "65534:65534", IMAGE_REF,
        "sh", "-c", "read line; echo $GREETING $line $(pwd) $(id -u):$(id -g)",
        input="from-stdin\n",
    )  # fmt: skip
    assert result.stdout == "hello from-stdin /tmp 65534:65534\n"


def test_rm_removes_the_container(docker: Docker) -> None:
    name = docker.new_name()
    docker.run("--rm", "--name", name, IMAGE_REF, "true")
    assert docker("ps", "-aq", "--filter", f"name=^{name}$").stdout.strip() == ""


def test_tty_run_is_interactive(docker: Docker) -> None:
    argv = docker.daemon.docker_argv("run", *docker.run_flags(), "--rm", "-it", IMAGE_REF, "sh")
    session = PtySession(argv, env=docker.daemon.client_env)
    try:
        session.type("tty; echo sum=$((6*7))\r")
        session.expect(r"/dev/pts/\d+")
        session.expect("sum=42")
        session.type("exit 5\r")
        assert session.wait() == 5, session.output
    finally:
        session.close()


def test_memory_and_pids_limits_then_update(docker: Docker) -> None:
    name = docker.new_name()
    docker.start_detached(name, "--memory", "64m", "--pids-limit", "40", IMAGE_REF, "sleep", "1000")
    cgroup = docker.cgroup(name)
    assert cgroup.memory_limit() == 64 << 20
    assert cgroup.pids_max() == "40"

    docker("update", "--memory", "96m", "--memory-swap", "128m", "--pids-limit", "60", name)
    assert cgroup.memory_limit() == 96 << 20
    assert cgroup.pids_max() == "60"


def test_read_only_rootfs(docker: Docker) -> None:
    result = docker.run(
        "--rm", "--read-only", IMAGE_REF, "sh", "-c", "touch /x 2>&1; echo rc=$?", check=False
    )
    assert "Read-only file system" in result.stdout
    assert result.stdout.strip().endswith("rc=1")


def cap_mask(status: str, field: str) -> int:
    line = next(line for line in status.splitlines() if line.startswith(field + ":"))
    return int(line.split()[1], 16)


def test_cap_drop(docker: Docker) -> None:
    default = docker.run("--rm", IMAGE_REF, "cat", "/proc/self/status").stdout
    dropped = docker.run("--rm", "--cap-drop", "CHOWN", IMAGE_REF, "cat", "/proc/self/status").stdout
    assert cap_mask(default, "CapBnd") & CAP_CHOWN
    assert not cap_mask(dropped, "CapBnd") & CAP_CHOWN
    assert not cap_mask(dropped, "CapEff") & CAP_CHOWN
    chown = docker.run("--rm", "--cap-drop", "CHOWN", IMAGE_REF, "chown", "1", "/tmp", check=False)
    assert chown.returncode != 0 and "Operation not permitted" in chown.stderr, chown


def test_seccomp_default_unconfined_and_custom_profile(docker: Docker, tmp_path: Path) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
            }
        )
    )
    probe = "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>&1; echo rc=$?"
    default = docker.run("--rm", IMAGE_REF, "sh", "-c", probe).stdout
    unconfined = docker.run(
        "--rm", "--security-opt", "seccomp=unconfined", IMAGE_REF, "sh", "-c", probe
    ).stdout
    custom = docker.run("--rm", "--security-opt", f"seccomp={profile}", IMAGE_REF, "sh", "-c", probe).stdout
    assert re.search(r"Seccomp:\s+2", default) and default.strip().endswith("rc=0"), default
    assert re.search(r"Seccomp:\s+0", unconfined) and unconfined.strip().endswith("rc=0"), unconfined
    assert re.search(r"Seccomp:\s+2", custom), custom
    assert "Operation not permitted" in custom and custom.strip().endswith("rc=1"), custom


def test_exec_top_stats_logs_pause_unpause(docker: Docker) -> None:
    name = docker.new_name()
    docker.start_detached(name, IMAGE_REF, "sh", "-c", "echo started; exec sleep 1000")
    docker.wait_state(name, "running")

    assert docker("exec", name, "sh", "-c", "cat /proc/1/cmdline; exit 4", check=False).returncode == 4
    assert docker("exec", "-e", "X=1", "-w", "/etc", name, "sh", "-c", "echo $X $(pwd)").stdout == "1 /etc\n"
    tty_exec = docker("exec", "-t", name, "sh", "-c", "tty")
    assert tty_exec.stdout.startswith("/dev/pts/"), tty_exec

    top = docker("top", name).stdout
    assert "sleep 1000" in top, top

    stats = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", name).stdout
    fields = stats.split()
    assert fields[0] == name and fields[-1] == "1", stats

    deadline = time.monotonic() + 10
    while "started" not in docker("logs", name).stdout:
        assert time.monotonic() < deadline, "the container's output never reached docker logs"
        time.sleep(0.1)

    docker("pause", name)
    assert docker.inspect(name, "{{.State.Status}}") == "paused"
    assert docker.cgroup(name).freezer_state() == "FROZEN"
    docker("unpause", name)
    assert docker.inspect(name, "{{.State.Status}}") == "running"
    assert docker.cgroup(name).freezer_state() == "THAWED"


def test_stop_kill_and_exit_codes(docker: Docker) -> None:
    trapping = "trap 'exit 42' TERM; trap 'exit 9' USR1; echo ready; while :; do sleep 0.1; done"
    stopped, signalled, killed = docker.new_name("stop"), docker.new_name("usr1"), docker.new_name("kill")
    for name in (stopped, signalled):
        docker.start_detached(name, IMAGE_REF, "sh", "-c", trapping)
    docker.start_detached(killed, IMAGE_REF, "sleep", "1000")
    for name in (stopped, signalled):
        wait_for_log(docker, name, "ready")  # the traps are installed

    docker("stop", "-t", "30", stopped)
    docker("kill", "-s", "USR1", signalled)
    docker("kill", killed)
    docker.wait_state(signalled, "exited")
    docker.wait_state(killed, "exited")
    assert docker.inspect(stopped, "{{.State.ExitCode}}") == "42"
    assert docker.inspect(signalled, "{{.State.ExitCode}}") == "9"
    assert docker.inspect(killed, "{{.State.ExitCode}}") == "137"


def test_attached_run_returns_128_plus_signal(docker: Docker) -> None:
    name = docker.new_name()
    argv = docker.daemon.docker_argv("run", *docker.run_flags(), "--name", name, IMAGE_REF, "sleep", "1000")
    attached = subprocess.Popen(
        argv, env=docker.daemon.client_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        docker.wait_state(name, "running")
        docker("kill", name)
        assert attached.wait(timeout=60) == 137
    finally:
        attached.kill()
        attached.wait()


def wait_for_log(docker: Docker, name: str, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in docker("logs", name).stdout:
        assert time.monotonic() < deadline, f"{name} never logged {text!r}"
        time.sleep(0.1)


def test_rm_force_of_a_running_container(docker: Docker) -> None:
    name = docker.new_name()
    docker.start_detached(name, IMAGE_REF, "sleep", "1000")
    docker.wait_state(name, "running")
    docker("rm", "-f", name)
    assert docker("ps", "-aq", "--filter", f"name=^{name}$").stdout.strip() == ""


@pytest.mark.parametrize(
    ("flags", "command", "expected", "exit_code"),
    [
        # Docker maps "no such file or directory" in the runtime's message to 127.
        ((), ("/no/such/binary",), "/no/such/binary", 127),
        # A sysctl the kernel does not have: refused while the container is being made.
        (("--sysctl", "net.ipv4.no_such_knob=1"), ("true",), "no_such_knob", None),
    ],
    ids=["missing-executable", "unknown-sysctl"],
)
def test_a_refused_config_shows_the_runtimes_message(
    docker: Docker, flags: tuple[str, ...], command: tuple[str, ...], expected: str, exit_code: int | None
) -> None:
    bad = docker.new_name("bad")
    result = docker.run("--name", bad, *flags, IMAGE_REF, *command, check=False)
    assert result.returncode != 0, result
    if exit_code is not None:
        assert result.returncode == exit_code, result
    assert "OCI runtime create failed" in result.stderr, result.stderr
    assert expected in result.stderr.split("OCI runtime create failed", 1)[1], result.stderr
    assert "exit status 1" not in result.stderr, result.stderr

    after = docker.run("--rm", IMAGE_REF, "echo", "still-fine")
    assert after.stdout == "still-fine\n"
