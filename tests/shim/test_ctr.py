"""containerd-shim-pyrunc-v1 under a real containerd 1.6, driven by ctr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import termios
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.daemons.cgroupfiles import ContainerCgroup
from tests.daemons.conftest import IMAGE_REF
from tests.daemons.procs import PtySession
from tests.daemons.test_containerd import (  # noqa: F401 (collected here too, with this module's ctr: the shim)
    Ctr,
    test_attached_run_passes_stdio_and_exit_code,
    test_detached_task_ps_exec_pause_resume_metrics_kill_delete,
    test_exec_with_and_without_tty,
    test_kill_all_then_force_delete,
    test_kill_sends_the_signal_and_the_exit_code_reaches_ctr,
)

from .conftest import RUNTIME, ShimContainerd

pytestmark = pytest.mark.daemons


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
    assert containerd.shim_pids() == [shim_pid]  # what the teardown waits for
    # The container's state is pyrunc's, in the shim's root: no pyrunc process was started for it.
    assert (containerd.shim_root / containerd.namespace / cid / "state.json").exists()
    assert containerd.runtime_calls() == []
    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 137


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
        # ResizePty: ctr passes its terminal's size on, at start and on SIGWINCH.
        session.type("echo size=$(stty size)\r")
        session.expect(r"size=24 80")
        termios.tcsetwinsize(session.master, (33, 101))
        deadline = time.monotonic() + 30
        while "size=33 101" not in session.output:
            assert time.monotonic() < deadline, session.output
            session.type("echo size=$(stty size)\r")
            time.sleep(0.2)
        session.type("exit 5\r")
        assert session.wait() == 5, session.output
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


def test_events_in_order_and_an_oom_kill(ctr: Ctr, containerd: ShimContainerd) -> None:
    """The shim's events reach containerd in order; a memory limit's OOM kill is one of them."""
    cid = ctr.new_id()
    events = subprocess.Popen(
        containerd.ctr_argv("events"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        time.sleep(0.5)  # let ctr subscribe before the container starts (not a timing assertion)
        # 100 MB held in a shell variable, under a 32 MiB limit without swap.
        result = ctr.run(
            "--rm", "--memory-limit", str(32 << 20), IMAGE_REF, cid,
            "sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
            check=False,
        )  # fmt: skip
        assert result.returncode == 137, result
    finally:
        events.terminate()
        output, _ = events.communicate(timeout=30)
    # Lines: DATE TIME ZONE UTC NAMESPACE TOPIC JSON
    topics = [word for line in output.splitlines() if cid in line for word in line.split()[4:6]]
    task_topics = [t for t in topics if t.startswith("/tasks/")]
    assert "/tasks/oom" in task_topics, output
    ordered = [t for t in task_topics if t != "/tasks/oom"]
    assert ordered == ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"], output


def test_a_killed_shim_is_cleaned_up_by_containerd(ctr: Ctr, containerd: ShimContainerd) -> None:
    """SIGKILL of the shim: containerd notices, runs `containerd-shim-pyrunc-v1 delete`, which kills
    the container and removes its state and rootfs mount; the leak checks at teardown confirm it."""
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")
    init_pid = int(ctr("task", "ps", cid).stdout.split()[2])
    shim_pid = int(Path(f"/proc/{init_pid}/status").read_text().split("PPid:")[1].split()[0])
    os.kill(shim_pid, signal.SIGKILL)
    ctr.wait_status(cid, "absent")
    # containerd's clean-up runs beside what ctr sees: wait for its effects, bounded.
    state = containerd.shim_root / containerd.namespace / cid
    deadline = time.monotonic() + 30
    while state.exists() or _proc_state(init_pid) not in ("gone", "Z"):
        assert time.monotonic() < deadline, f"{state} or the init {init_pid} survived the shim's clean-up"
        time.sleep(0.05)
    ctr("container", "delete", cid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def _shim_of(ctr: Ctr, cid: str) -> int:
    init_pid = int(ctr("task", "ps", cid).stdout.split()[2])
    return int(Path(f"/proc/{init_pid}/status").read_text().split("PPid:")[1].split()[0])


def test_one_shim_per_pod(ctr: Ctr) -> None:
    """Containers with the same io.kubernetes.cri.sandbox-id annotation share one shim, which stays
    until the last of them is deleted; another pod gets its own."""
    pod = f"pod-{ctr.daemon.token}"
    first, second, other = ctr.new_id("a"), ctr.new_id("b"), ctr.new_id("other")
    for cid, sandbox in ((first, pod), (second, pod), (other, f"other-{pod}")):
        ctr.start_detached(
            cid, "sleep", "1000", extra=("--annotation", f"io.kubernetes.cri.sandbox-id={sandbox}")
        )
        ctr.wait_status(cid, "RUNNING")
    shim = _shim_of(ctr, first)
    assert _shim_of(ctr, second) == shim
    assert _shim_of(ctr, other) != shim
    ctr("task", "kill", "--signal", "SIGKILL", first)
    ctr.wait_status(first, "STOPPED")
    assert ctr.delete_task(first) == 137
    # The pod's shim serves the second container still.
    assert _shim_of(ctr, second) == shim
    joined = ctr("task", "exec", "--exec-id", "e", second, "sh", "-c", "exit 9", check=False)
    assert joined.returncode == 9, joined
    for cid in (second, other):
        ctr("task", "kill", "--signal", "SIGKILL", cid)
        ctr.wait_status(cid, "STOPPED")
        assert ctr.delete_task(cid) == 137
    deadline = time.monotonic() + 30
    while _proc_state(shim) not in ("gone", "Z"):
        assert time.monotonic() < deadline, f"the pod's shim {shim} did not exit after its last task"
        time.sleep(0.05)


def test_update_through_the_task_api(ctr: Ctr, containerd: ShimContainerd) -> None:
    """ctr 1.6 has no `task update`: the Update call (the CRI plugin's UpdateContainerResources) is
    made on the shim's own socket, as containerd makes it, with a LinuxResources JSON document."""
    from pyrunc.shim import ttrpc
    from pyrunc.shim.proto import shim_pb2

    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")
    bundle = containerd.dir / "state" / "io.containerd.runtime.v2.task" / containerd.namespace / cid
    client = ttrpc.Client((bundle / "address").read_text())
    try:
        request = shim_pb2.UpdateTaskRequest(id=cid)
        request.resources.type_url = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
        request.resources.value = json.dumps({"memory": {"limit": 48 << 20}}).encode()
        client.call("containerd.task.v2.Task", "Update", request.SerializeToString())
        assert ContainerCgroup(ctr.cgroups_path(cid)).memory_limit() == 48 << 20
        state = shim_pb2.StateResponse.FromString(
            client.call("containerd.task.v2.Task", "State", shim_pb2.StateRequest(id=cid).SerializeToString())
        )
        assert (state.id, state.status, state.bundle) == (cid, 2, str(bundle))  # RUNNING
        with pytest.raises(ttrpc.RpcError) as missing:
            client.call(
                "containerd.task.v2.Task", "State", shim_pb2.StateRequest(id="nosuch").SerializeToString()
            )
        assert missing.value.code == ttrpc.NOT_FOUND
    finally:
        client.close()
    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 137


def test_an_exec_that_never_exits_goes_with_its_container(ctr: Ctr) -> None:
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")
    ctr("task", "exec", "--detach", "--exec-id", "forever", cid, "sleep", "1000")
    pids = ctr("task", "ps", cid).stdout.split()[2::2]
    assert len(pids) == 2, pids
    ctr("task", "delete", "--force", cid)
    assert ctr.task_status(cid) == "absent"
    for pid in pids:
        assert _proc_state(int(pid)) in ("gone", "Z"), pid
    ctr("container", "delete", cid)


def test_exec_pause_and_resume_events(ctr: Ctr, containerd: ShimContainerd) -> None:
    cid = ctr.new_id()
    events = subprocess.Popen(
        containerd.ctr_argv("events"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        time.sleep(0.5)  # let ctr subscribe first (not a timing assertion)
        ctr.start_detached(cid, "sleep", "1000")
        ctr.wait_status(cid, "RUNNING")
        assert ctr("task", "exec", "--exec-id", "ev", cid, "true", check=False).returncode == 0
        ctr("task", "pause", cid)
        ctr.wait_status(cid, "PAUSED")
        ctr("task", "resume", cid)
        ctr.wait_status(cid, "RUNNING")
        ctr("task", "kill", "--signal", "SIGKILL", cid)
        ctr.wait_status(cid, "STOPPED")
        assert ctr.delete_task(cid) == 137
    finally:
        events.terminate()
        output, _ = events.communicate(timeout=30)
    topics = [word for line in output.splitlines() if cid in line for word in line.split()[4:6]]
    assert [t for t in topics if t.startswith("/tasks/")] == [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/exit",  # the exec's
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
        "/tasks/delete",
    ], output


def test_no_fd_of_the_shim_reaches_the_container(ctr: Ctr) -> None:
    """The shim holds sockets, fifos, eventfds and other containers' stdio: a container's process
    and an exec'd one get their stdio and nothing else (ls's own directory fd is the 4th)."""
    cid = ctr.new_id()
    run = ctr.run("--rm", IMAGE_REF, cid, "ls", "/proc/self/fd")
    assert run.stdout.split() == ["0", "1", "2", "3"], run
    other = ctr.new_id("exec")
    ctr.start_detached(other, "sleep", "1000")
    ctr.wait_status(other, "RUNNING")
    joined = ctr("task", "exec", "--exec-id", "fds", other, "ls", "/proc/self/fd")
    assert joined.stdout.split() == ["0", "1", "2", "3"], joined
    ctr("task", "kill", "--signal", "SIGKILL", other)
    ctr.wait_status(other, "STOPPED")
    assert ctr.delete_task(other) == 137


def test_containerd_restarted_while_a_task_runs(ctr: Ctr, containerd: ShimContainerd) -> None:
    """containerd finds the running task's shim again through the bundle's address file (and the
    shim serves the new connection): exec, kill and delete work after the restart. Last in the
    module: it restarts the module's containerd."""
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")
    shim = _shim_of(ctr, cid)
    assert containerd.stop_daemon() == []
    containerd.start()
    ctr.wait_status(cid, "RUNNING")
    assert _shim_of(ctr, cid) == shim
    joined = ctr("task", "exec", "--exec-id", "after", cid, "sh", "-c", "exit 5", check=False)
    assert joined.returncode == 5, joined
    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 137
