"""containerd-shim-pyrunc-v1 under a real containerd 1.6, driven by ctr."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.daemons.cgroupfiles import ContainerCgroup
from tests.daemons.conftest import IMAGE_REF
from tests.daemons.procs import PtySession
from tests.daemons.test_containerd import Ctr

from .conftest import RUNTIME, ShimContainerd

pytestmark = pytest.mark.daemons


class ShimCtr(Ctr):
    def new_id(self, label: str = "c") -> str:
        cid = super().new_id(label)
        self.daemon.task_ids.add(cid)  # type: ignore[attr-defined]  # a ShimContainerd
        return cid


@pytest.fixture
def ctr(containerd: ShimContainerd, request: pytest.FixtureRequest) -> Iterator[Ctr]:
    client = ShimCtr(containerd, request.node.name)
    try:
        yield client
    finally:
        client.cleanup()


def test_run_rm_true(ctr: Ctr) -> None:
    cid = ctr.new_id()
    result = ctr.run("--rm", IMAGE_REF, cid, "true", check=False)
    assert result.returncode == 0, result
    assert ctr.task_status(cid) == "absent"


def test_run_rm_exit_code(ctr: Ctr) -> None:
    cid = ctr.new_id()
    result = ctr.run("--rm", IMAGE_REF, cid, "sh", "-c", "exit 3", check=False)
    assert result.returncode == 3, result
    assert ctr.task_status(cid) == "absent"


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


def test_the_shim_runs_the_task_not_the_runc_shim(ctr: Ctr, containerd: ShimContainerd) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")
    info = json.loads(ctr("container", "info", cid).stdout)
    assert info["Runtime"]["Name"] == RUNTIME
    init_pid = int(ctr("task", "ps", cid).stdout.split()[2])
    shim_pid = int(Path(f"/proc/{init_pid}/status").read_text().split("PPid:")[1].split()[0])
    shim_cmdline = Path(f"/proc/{shim_pid}/cmdline").read_bytes().split(b"\0")
    assert any(arg.endswith(b"containerd-shim-pyrunc-v1") for arg in shim_cmdline), shim_cmdline
    # The container's state is pyrunc's, in the shim's root: no pyrunc process was started for it.
    assert (containerd.shim_root / containerd.namespace / cid / "state.json").exists()
    assert containerd.runtime_calls() == []
    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 137


def test_detached_task_ps_exec_pause_resume_kill_delete(ctr: Ctr) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")

    ps = ctr("task", "ps", cid).stdout.split()
    assert ps[:2] == ["PID", "INFO"] and len(ps) >= 3 and ps[2].isdigit(), ps
    init_pid = int(ps[2])
    assert Path(f"/proc/{init_pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"

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
    assert cgroup.pids_current() == 1

    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 137
    ctr("container", "delete", cid)
    assert ctr.task_status(cid) == "absent"


def test_kill_sends_the_signal_and_the_exit_code_reaches_ctr(ctr: Ctr) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done")
    ctr.wait_status(cid, "RUNNING")
    time.sleep(0.3)  # let sh install its trap before the signal (not a timing assertion)
    ctr("task", "kill", cid)
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


def test_force_delete_of_a_running_task(ctr: Ctr) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")
    ctr("task", "delete", "--force", cid)
    assert ctr.task_status(cid) == "absent"
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


def test_detached_output_reaches_the_log_uri(ctr: Ctr, containerd: ShimContainerd) -> None:
    cid = ctr.new_id()
    log = containerd.dir / f"{cid}.log"
    ctr.run("--detach", "--log-uri", f"file://{log}", IMAGE_REF, cid, "sh", "-c", "echo to-the-log; exit 0")
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 0
    assert log.read_text() == "to-the-log\n"


def test_a_refused_config_fails_the_run_and_leaves_nothing(ctr: Ctr) -> None:
    bad = ctr.new_id("bad")
    result = ctr.run("--rm", IMAGE_REF, bad, "/no/such/binary", check=False)
    assert result.returncode != 0, result
    assert "/no/such/binary" in result.stderr, result
    assert ctr.task_status(bad) == "absent"
    good = ctr.new_id("good")
    assert ctr.run("--rm", IMAGE_REF, good, "echo", "still-fine").stdout == "still-fine\n"


def test_containers_in_parallel(ctr: Ctr) -> None:
    ids = [ctr.new_id(f"p{i}") for i in range(6)]
    with ThreadPoolExecutor(len(ids)) as pool:
        results = list(
            pool.map(
                lambda item: ctr.run(
                    "--rm", IMAGE_REF, item[1], "sh", "-c", f"echo {item[0]}; exit {item[0]}", check=False
                ),
                enumerate(ids),
            )
        )
    assert [(r.returncode, r.stdout) for r in results] == [(i, f"{i}\n") for i in range(len(ids))]
    assert all(ctr.task_status(cid) == "absent" for cid in ids)
