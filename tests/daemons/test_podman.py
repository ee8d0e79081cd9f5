"""podman (through conmon) with the runtime under test installed as `runc`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .cgroupfiles import ContainerCgroup
from .conftest import IMAGE_REF, id_prefix
from .daemons import Podman
from .procs import PtySession

pytestmark = pytest.mark.daemons


class PodmanClient:
    """podman with the private storage and config; removes its containers after the test."""

    def __init__(self, engine: Podman, test_name: str) -> None:
        self.engine = engine
        self.prefix = id_prefix(test_name)
        self.names: list[str] = []

    def new_name(self, label: str = "c") -> str:
        name = f"{self.prefix}-{label}-{self.engine.token}"
        self.names.append(name)
        return name

    def __call__(self, *args: str, **kwargs):
        return self.engine.podman(*args, **kwargs)

    def run(self, *args: str, check: bool = True, input: str | None = None):
        return self("run", *self.engine.run_flags(), *args, check=check, input=input)

    def start_detached(self, name: str, *args: str) -> str:
        return self.run("-d", "--name", name, *args).stdout.strip()

    def inspect(self, name: str, template: str) -> str:
        return self("inspect", "-f", template, name).stdout.strip()

    def wait_log(self, name: str, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self("logs", name).stdout:
            assert time.monotonic() < deadline, f"{name} never logged {text!r}"
            time.sleep(0.1)

    def freezer_state(self, name: str) -> str:
        full_id = self.inspect(name, "{{.Id}}")
        return ContainerCgroup(f"/{self.engine.cgroup_parent}/libpod-{full_id}").freezer_state()

    def pty_argv(self, *args: str) -> list[str]:
        return self.engine.podman_argv(*args)

    def cleanup(self) -> None:
        if self.names:
            self("rm", "--force", "--ignore", "--time", "0", *self.names, check=False)


@pytest.fixture
def pod(podman: Podman, request: pytest.FixtureRequest) -> Iterator[PodmanClient]:
    client = PodmanClient(podman, request.node.name)
    try:
        yield client
    finally:
        client.cleanup()


def test_podman_uses_the_runtime_and_asks_for_json_logs(pod: PodmanClient) -> None:
    assert pod("info", "--format", "{{.Host.OCIRuntime.Path}}").stdout.strip() == str(pod.engine.runtime)
    name = pod.new_name()
    pod.run("--name", name, IMAGE_REF, "true")
    full_id = pod.inspect(name, "{{.Id}}")
    creates = [c for c in pod.engine.runtime_calls() if " create --bundle " in c and c.endswith(full_id)]
    assert len(creates) == 1, pod.engine.runtime_calls()
    # Only a runtime podman knows as JSON-capable gets --log-format=json: how it reads our errors.
    assert creates[0].startswith("--log-format=json --log "), creates


def test_a_runtime_named_pyrunc_in_containers_conf(pod: PodmanClient) -> None:
    """The README's way: [engine.runtimes] pyrunc = [...] and pyrunc in runtime_supports_json."""
    name = pod.new_name()
    flags = [*pod.engine.run_flags(), "--name", name]
    result = pod("run", *flags, IMAGE_REF, "/no/such/binary", runtime="pyrunc", check=False)
    assert result.returncode == 127, result
    assert "/no/such/binary" in result.stderr, result.stderr
    full_id = pod.inspect(name, "{{.Id}}")
    creates = [c for c in pod.engine.runtime_calls() if " create --bundle " in c and c.endswith(full_id)]
    assert creates and creates[0].startswith("--log-format=json --log "), creates
    ran = pod("run", *pod.engine.run_flags(), "--rm", IMAGE_REF, "echo", "named-fine", runtime="pyrunc")
    assert ran.stdout == "named-fine\n"


def test_run_passes_stdio_and_exit_code(pod: PodmanClient) -> None:
    result = pod.run(
        "--rm", "-i", IMAGE_REF, "sh", "-c", "read line; echo out:$line; echo err >&2; exit 7",
        input="hello\n",
        check=False,
    )  # fmt: skip
    assert result.returncode == 7, result
    assert result.stdout == "out:hello\n"
    assert result.stderr == "err\n"


def test_exec_pause_unpause_stop_rm(pod: PodmanClient) -> None:
    name = pod.new_name()
    pod.start_detached(
        name, IMAGE_REF, "sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done"
    )
    pod.wait_log(name, "ready")

    joined = pod("exec", name, "sh", "-c", "cat /proc/1/cmdline; exit 4", check=False)
    assert joined.returncode == 4, joined
    assert joined.stdout.split("\0")[:2] == ["sh", "-c"], joined
    assert pod("exec", "-e", "X=1", "-w", "/etc", name, "sh", "-c", "echo $X $(pwd)").stdout == "1 /etc\n"

    pod("pause", name)
    assert pod.inspect(name, "{{.State.Status}}") == "paused"
    assert pod.freezer_state(name) == "FROZEN"
    pod("unpause", name)
    assert pod.inspect(name, "{{.State.Status}}") == "running"
    assert pod.freezer_state(name) == "THAWED"

    pod("stop", "-t", "30", name)
    assert pod.inspect(name, "{{.State.Status}}") == "exited"
    assert pod.inspect(name, "{{.State.ExitCode}}") == "42"
    pod("rm", name)
    assert pod("ps", "-aq", "--filter", f"name=^{name}$").stdout.strip() == ""


def test_kill_with_a_signal_and_rm_force(pod: PodmanClient) -> None:
    trapping, killed = pod.new_name("usr1"), pod.new_name("kill")
    pod.start_detached(
        trapping, IMAGE_REF, "sh", "-c", "trap 'exit 9' USR1; echo ready; while :; do sleep 0.1; done"
    )
    pod.start_detached(killed, IMAGE_REF, "sleep", "1000")
    pod.wait_log(trapping, "ready")

    pod("kill", "-s", "USR1", trapping)
    pod("kill", killed)  # SIGKILL by default
    assert pod("wait", trapping).stdout.strip() == "9"
    assert pod("wait", killed).stdout.strip() == "137"

    running = pod.new_name("running")
    pod.start_detached(running, IMAGE_REF, "sleep", "1000")
    pod("rm", "-f", "-t", "0", running)
    assert pod("ps", "-aq", "--filter", f"name=^{running}$").stdout.strip() == ""


def test_tty_run_and_tty_exec(pod: PodmanClient) -> None:
    session = PtySession(
        pod.pty_argv("run", *pod.engine.run_flags(), "--rm", "-it", IMAGE_REF, "sh"),
        reaper=pod.engine.reaper,
        env=pod.engine.env,
    )
    try:
        session.type("tty; echo sum=$((6*7))\r")
        session.expect(r"/dev/pts/\d+")
        session.expect("sum=42")
        session.type("exit 5\r")
        assert session.wait() == 5, session.output
    finally:
        session.close()

    name = pod.new_name()
    pod.start_detached(name, IMAGE_REF, "sleep", "1000")
    session = PtySession(
        pod.pty_argv("exec", "-it", name, "sh"), reaper=pod.engine.reaper, env=pod.engine.env
    )
    try:
        session.type("test -t 0 && echo has-tty; echo $((2+3))x\r")
        session.expect("has-tty")
        session.expect("5x")
        session.type("exit 6\r")
        assert session.wait() == 6, session.output
    finally:
        session.close()


@pytest.mark.parametrize(
    ("flags", "command", "expected", "exit_code"),
    [
        # podman maps a runtime's "no such file or directory" to 127, "not found" semantics.
        ((), ("/no/such/binary",), "/no/such/binary", 127),
        (("--sysctl", "net.ipv4.no_such_knob=1"), ("true",), "no_such_knob", None),
    ],
    ids=["missing-executable", "unknown-sysctl"],
)
def test_a_refused_config_shows_the_runtimes_message(
    pod: PodmanClient, flags: tuple[str, ...], command: tuple[str, ...], expected: str, exit_code: int | None
) -> None:
    bad = pod.new_name("bad")
    result = pod.run("--name", bad, *flags, IMAGE_REF, *command, check=False)
    assert result.returncode != 0, result
    if exit_code is not None:
        assert result.returncode == exit_code, result
    # podman prints "Error: <runtime name>: <the runtime's JSON log message>: <its own summary>".
    assert expected in result.stderr, result.stderr
    assert "exit status 1" not in result.stderr, result.stderr
    assert pod.inspect(bad, "{{.State.Status}}") in ("created", "configured", "exited"), result

    assert pod.run("--rm", IMAGE_REF, "echo", "still-fine").stdout == "still-fine\n"
