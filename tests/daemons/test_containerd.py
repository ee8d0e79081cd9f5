"""containerd's runc shim drives the runtime under test through `ctr`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cgroupfiles import ContainerCgroup
from .conftest import IMAGE_REF, id_prefix
from .daemons import Containerd
from .procs import PtySession

pytestmark = pytest.mark.daemons


class Ctr:
    """ctr against the private containerd, pointed at the runtime; removes its containers after."""

    def __init__(self, daemon: Containerd, test_name: str) -> None:
        self.daemon = daemon
        self.prefix = id_prefix(test_name)
        self.ids: list[str] = []

    def new_id(self, label: str = "c") -> str:
        cid = f"{self.prefix}-{label}-{self.daemon.token}"
        self.ids.append(cid)
        return cid

    def __call__(self, *args: str, **kwargs):
        return self.daemon.ctr(*args, **kwargs)

    def run_argv(self, *flags: str) -> list[str]:
        return self.daemon.ctr_argv("run", *self.daemon.run_flags(), *flags)

    def run(self, *flags: str, check: bool = True, input: str | None = None):
        return self.daemon.ctr("run", *self.daemon.run_flags(), *flags, check=check, input=input)

    def start_detached(self, cid: str, *command: str, extra: tuple[str, ...] = ()) -> None:
        self.run("--detach", "--null-io", *extra, IMAGE_REF, cid, *command)

    def task_status(self, cid: str) -> str:
        for line in self("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[-1]
        return "absent"

    def wait_status(self, cid: str, wanted: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.task_status(cid)) != wanted:
            assert time.monotonic() < deadline, f"task {cid} is {status}, not {wanted}, after {timeout}s"
            time.sleep(0.1)

    def cgroups_path(self, cid: str) -> str:
        """The linux.cgroupsPath containerd wrote into the container's spec."""
        info = json.loads(self("container", "info", cid).stdout)
        return info["Spec"]["linux"]["cgroupsPath"]

    def delete_task(self, cid: str) -> int:
        """Delete a stopped task; return its exit code (ctr logs a warning when it is not 0)."""
        result = self("task", "delete", cid)
        match = re.search(r"exit with non-zero exit code (\d+)", result.stderr)
        return int(match.group(1)) if match else 0

    def cleanup(self) -> None:
        for cid in self.ids:
            self("task", "kill", "--signal", "SIGKILL", cid, check=False)
            self("task", "delete", "--force", cid, check=False)
            self("container", "delete", cid, check=False)


@pytest.fixture
def ctr(containerd: Containerd, request: pytest.FixtureRequest) -> Iterator[Ctr]:
    client = Ctr(containerd, request.node.name)
    try:
        yield client
    finally:
        client.cleanup()


def test_ids_of_two_parametrizations_differ() -> None:
    """Cut to one length, the two parametrizations of a long test name gave the same ids: a task
    one left behind was the other's (CI's stop 27: a hung shim, then a second failure)."""
    names = [f"test_killed_at_each_step_of_pyrunc_create[{p}]" for p in ("create", "shim")]
    prefixes = {id_prefix(name) for name in names}
    assert len(prefixes) == 2, prefixes
    for prefix in [*prefixes, id_prefix("test_short[a]")]:
        assert len(prefix) <= 24 and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", prefix), prefix
    assert id_prefix("test_short[a]") == "short-a"


def test_attached_run_passes_stdio_and_exit_code(ctr: Ctr) -> None:
    cid = ctr.new_id()
    result = ctr.run(
        "--rm",
        IMAGE_REF,
        cid,
        "sh",
        "-c",
        "read line; echo out:$line; echo err >&2; exit 7",
        input="hello\n",
        check=False,
    )
    assert result.returncode == 7, result
    assert result.stdout == "out:hello\n"
    assert result.stderr == "err\n"
    assert ctr.task_status(cid) == "absent"


def test_calls_reach_the_runtime_under_test(ctr: Ctr, containerd: Containerd) -> None:
    cid = ctr.new_id()
    ctr.run("--rm", IMAGE_REF, cid, "true")
    calls = [c for c in containerd.runtime_calls() if c.endswith(f" {cid}")]
    verbs = [c.split(" --log-format json ", 1)[1].split()[0] for c in calls]
    assert verbs[:2] == ["create", "start"], calls
    assert "delete" in verbs, calls
    assert all(c.startswith(f"--root {containerd.runc_root}/") for c in calls), calls


def test_detached_task_ps_exec_pause_resume_metrics_kill_delete(ctr: Ctr, containerd: Containerd) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")

    ps = ctr("task", "ps", cid).stdout.split()
    assert ps[:2] == ["PID", "INFO"] and len(ps) >= 3 and ps[2].isdigit(), ps
    init_pid = int(ps[2])
    assert Path(f"/proc/{init_pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"

    # The exec'd process shares the container's pid namespace: its pid 1 is the init.
    joined = ctr(
        "task", "exec", "--exec-id", "e1", cid, "sh", "-c", "cat /proc/1/cmdline; exit 4", check=False
    )
    assert joined.returncode == 4, joined
    assert joined.stdout.split("\0")[0] == "sleep", joined

    ctr("task", "pause", cid)
    ctr.wait_status(cid, "PAUSED")
    cgroup = ContainerCgroup(ctr.cgroups_path(cid))
    assert cgroup.freezer_state() == "FROZEN"
    ctr("task", "resume", cid)
    ctr.wait_status(cid, "RUNNING")
    assert cgroup.freezer_state() == "THAWED"

    # containerd reads metrics from cgroupfs at linux.cgroupsPath (the runc shim) or asks the shim
    # (pyrunc's, in containerd's cgroup v1 Metrics message): the runtime must have put it there.
    metrics = ctr("task", "metrics", cid).stdout
    table = dict(line.split(None, 1) for line in metrics.splitlines()[2:] if line.strip())
    assert table.get("pids.current", "").strip() == "1", metrics
    assert int(table["memory.usage_in_bytes"]) > 0, metrics
    assert int(table["cpuacct.usage"]) > 0, metrics
    assert cgroup.pids_current() == 1

    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 137  # 128 + SIGKILL reaches ctr
    ctr("container", "delete", cid)
    assert ctr.task_status(cid) == "absent"


def test_kill_sends_the_signal_and_the_exit_code_reaches_ctr(ctr: Ctr) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done")
    ctr.wait_status(cid, "RUNNING")
    time.sleep(0.3)  # let sh install its trap before the signal (not a timing assertion)
    ctr("task", "kill", cid)  # SIGTERM by default
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 42


def test_kill_all_then_force_delete(ctr: Ctr) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sh", "-c", "sleep 1000 & sleep 1000 & wait")
    ctr.wait_status(cid, "RUNNING")
    ctr("task", "kill", "--all", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    ctr("task", "delete", "--force", cid)
    ctr("container", "delete", cid)


def test_tty_run_is_interactive(ctr: Ctr) -> None:
    cid = ctr.new_id()
    session = PtySession(ctr.run_argv("--rm", "--tty", IMAGE_REF, cid, "sh"))
    try:
        session.type("tty; echo sum=$((6*7))\r")
        session.expect(r"/dev/pts/\d+")
        session.expect(r"sum=42")
        session.type("exit 5\r")
        assert session.wait() == 5, session.output
    finally:
        session.close()


def test_exec_with_and_without_tty(ctr: Ctr) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")

    plain = ctr(
        "task", "exec", "--exec-id", "plain", cid, "sh", "-c", "test -t 0 || echo no-tty; exit 3", check=False
    )
    assert (plain.returncode, plain.stdout) == (3, "no-tty\n"), plain

    session = PtySession(ctr.daemon.ctr_argv("task", "exec", "--tty", "--exec-id", "tty", cid, "sh"))
    try:
        session.type("test -t 0 && echo has-tty; echo $((2+3))x\r")
        session.expect("has-tty")
        session.expect("5x")
        session.type("exit 6\r")
        assert session.wait() == 6, session.output
    finally:
        session.close()


def test_detached_output_reaches_the_log_uri(ctr: Ctr, containerd: Containerd) -> None:
    cid = ctr.new_id()
    log = containerd.dir / f"{cid}.log"
    ctr.run("--detach", "--log-uri", f"file://{log}", IMAGE_REF, cid, "sh", "-c", "echo to-the-log; exit 0")
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 0
    deadline = time.monotonic() + 10
    while "to-the-log" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "container output never reached the log"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("flags", "command", "expected"),
    [
        # The process does not exist in the image: refused at create.
        ((), ("/no/such/binary",), "/no/such/binary"),
        # A relative working directory is not a valid process.cwd.
        (("--cwd", "relative/dir"), ("true",), "cwd"),
    ],
    ids=["missing-executable", "relative-cwd"],
)
def test_a_refused_config_shows_the_runtimes_message(
    ctr: Ctr, flags: tuple[str, ...], command: tuple[str, ...], expected: str
) -> None:
    bad = ctr.new_id("bad")
    result = ctr.run("--rm", *flags, IMAGE_REF, bad, *command, check=False)
    assert result.returncode != 0, result
    message = result.stderr
    # The shim quotes the runtime's own log.json message, not a bare exit status.
    assert "OCI runtime create failed" in message, message
    assert expected.lower() in message.split("OCI runtime create failed", 1)[1].lower(), message
    assert "exit status 1" not in message, message
    assert ctr.task_status(bad) == "absent"

    good = ctr.new_id("good")
    after = ctr.run("--rm", IMAGE_REF, good, "echo", "still-fine")
    assert after.stdout == "still-fine\n"
