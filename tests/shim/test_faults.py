"""containerd-shim-pyrunc-v1 under faults: SIGKILLed during each RPC that changes state, an exec'd
process that never exits, containerd restarted meanwhile.

"During" is deterministic: containerd runs the shims with PYRUNC_SHIM_FAULTS naming a file in its
directory (pyrunc/shim/faults.py); a shim started while the file names `ID METHOD:POINT` SIGKILLs
itself there. After each kill containerd runs `containerd-shim-pyrunc-v1 delete`; then the task is
gone, the same id runs again, and nothing of the container or of the shim is left: no process, no
mount, no cgroup, no socket, no work dir, no pyrunc state (check_gone; the module's teardown runs
tests/daemons' host-wide leak checks on top).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyrunc.shim.main import socket_path, work_dir
from pyrunc.store_write import claims_of
from tests.daemons.conftest import IMAGE_REF, private_dir, require_root_and, serving
from tests.daemons.daemons import CONTAINERD, CTR
from tests.daemons.test_containerd import Ctr
from tests.mountinfo import mounts

from .conftest import SHIM, ShimContainerd, ShimCtr

pytestmark = pytest.mark.daemons

TASK = "containerd.task.v2.Task"
BOUND = 30.0  # what any one wait below gets; each says what it waited for
CGROUP_ROOT = Path("/sys/fs/cgroup")


class FaultyContainerd(ShimContainerd):
    """The shim's containerd, whose shims read their faults from `faults_file` as they start."""

    def __init__(self, workdir: Path, runtime_bin: str, token: str) -> None:
        super().__init__(workdir, runtime_bin, token)
        self.faults_file = workdir / "shim-faults"
        self.fired_notes = FiredNotes(workdir / "shim-faults.fired")

    def daemon_env(self) -> dict[str, str] | None:
        return {**(super().daemon_env() or {}), "PYRUNC_SHIM_FAULTS": str(self.faults_file)}

    def fired(self) -> list[str]:
        """The faults that happened since the last call (the shim notes each before it dies)."""
        return self.fired_notes.read()

    def bundle(self, cid: str) -> Path:
        return self.dir / "state" / "io.containerd.runtime.v2.task" / self.namespace / cid


class FiredNotes:
    """FILE.fired, where a shim appends a line as a fault fires (pyrunc/shim/faults.py): read from
    where the last read ended, whole lines only. Never unlinked while the shims run: a shim
    between its open and its write would write into a file no one reads any more, and a test
    waiting for its line would wait in vain (CI's stop 27: a create worker stopped at its fault,
    its note lost, the shim waiting on it for good)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                text = f.read()
        except FileNotFoundError:
            return []
        whole = text[: text.rfind(b"\n") + 1]  # a line still being written waits for the next read
        self.offset += len(whole)
        return whole.decode().splitlines()


def test_fired_notes_keep_a_line_written_after_the_file_was_made(tmp_path: Path) -> None:
    """What the shim does (open FILE.fired to append, then write) read at every moment: a read
    between its open and its write sees an empty file, and the line still reaches the next read."""
    notes = FiredNotes(tmp_path / "shim-faults.fired")
    assert notes.read() == []
    with open(notes.path, "a") as shim:
        assert notes.read() == []
        shim.write("c1 Create:worker stop 41")
        shim.flush()
        assert notes.read() == []  # not a whole line yet
        shim.write("2\nc2 Start:entry\n")
    assert notes.read() == ["c1 Create:worker stop 412", "c2 Start:entry"]
    assert notes.read() == []


@pytest.fixture(scope="module")
def containerd(runtime_bin: str, token: str, image_tar: Path) -> Iterator[FaultyContainerd]:
    require_root_and(CONTAINERD, CTR)
    if not os.access(SHIM, os.X_OK):
        pytest.fail(f"{SHIM} is missing: run tools/install")
    daemon = FaultyContainerd(private_dir("shim-faults-"), runtime_bin, token)
    yield from serving(daemon, image_tar)


@pytest.fixture
def ctr(containerd: FaultyContainerd, request: pytest.FixtureRequest) -> Iterator[Ctr]:
    client = ShimCtr(containerd, request.node.name)
    try:
        yield client
    finally:
        containerd.faults_file.unlink(missing_ok=True)
        client.cleanup()


# -- what a test looks at -------------------------------------------------------------------------


def wait_until(what: str, check: Callable[[], object], timeout: float = BOUND) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout}s for {what}"
        time.sleep(0.05)


def processes_in(cid: str) -> list[int]:
    """Processes whose cgroup (any hierarchy) is the container's (named after its id)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            text = Path(f"/proc/{entry}/cgroup").read_text()
        except OSError:
            continue
        if any(line.endswith(f"/{cid}") for line in text.splitlines()):
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone: the reaper collects it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def leftovers(containerd: FaultyContainerd, cid: str, cgroups_path: str, pids: list[int]) -> list[str]:
    """What is left of the container and of its shim."""
    problems = [f"process {pid} left" for pid in pids if alive(pid)]
    problems += [f"process {pid} in its cgroup left" for pid in processes_in(cid)]
    bundle = str(containerd.bundle(cid))
    problems += [f"mount left: {m.point}" for m in mounts() if m.point.startswith(bundle + "/")]
    relative = cgroups_path.strip("/")
    problems += [f"cgroup left: {p}" for p in CGROUP_ROOT.glob(f"*/{relative}")]
    if (CGROUP_ROOT / relative).is_dir():
        problems.append(f"cgroup left: {CGROUP_ROOT / relative}")
    socket = socket_path(str(containerd.address), containerd.namespace, cid)
    problems += [
        f"{what} left: {p}"
        for what, p in (("socket", socket), ("work dir", work_dir(socket)))
        if os.path.lexists(p)
    ]
    state = containerd.shim_root / containerd.namespace / cid
    if state.exists():
        problems.append(f"pyrunc state left: {state}")
    claims = claims_of(os.listdir(state.parent), cid) if state.parent.is_dir() else []
    problems += [f"pyrunc claim left: {state.parent / name}" for name, _pid in claims]
    problems += [
        f"shim {pid} still running" for pid in containerd.shim_pids() if cid.encode() in _cmdline(pid)
    ]
    return problems


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def check_gone(containerd: FaultyContainerd, cid: str, cgroups_path: str, pids: list[int]) -> None:
    """containerd's clean-up runs beside what ctr sees: wait (bounded) until nothing is left."""
    deadline = time.monotonic() + BOUND
    while problems := leftovers(containerd, cid, cgroups_path, pids):
        assert time.monotonic() < deadline, f"{BOUND}s after the fault: {problems}\n{containerd.log_tail(60)}"
        time.sleep(0.1)


def container_ids(ctr: Ctr) -> list[str]:
    return ctr("container", "ls", "-q").stdout.split()


def runs_again(ctr: Ctr, cid: str) -> None:
    """The id is free again: a new container and task with it run to their exit."""
    ctr("container", "delete", cid, check=False)
    result = ctr.run("--rm", IMAGE_REF, cid, "sh", "-c", "exit 3", check=False)
    assert result.returncode == 3, result
    assert ctr.task_status(cid) == "absent"


def shim_pid_of(ctr: Ctr, cid: str) -> int:
    init_pid = int(ctr("task", "ps", cid).stdout.split()[2])
    return int(Path(f"/proc/{init_pid}/status").read_text().split("PPid:")[1].split()[0])


def shim_call(containerd: FaultyContainerd, cid: str, method: str, request) -> None:
    """One call on the task's shim socket, as containerd makes it."""
    from pyrunc.shim import ttrpc

    address = (containerd.bundle(cid) / "address").read_text()
    client = ttrpc.Client(address, timeout=BOUND)
    try:
        client.call(TASK, method, request.SerializeToString(), timeout=BOUND)
    finally:
        client.close()


# -- SIGKILL of the shim during each RPC that changes state ---------------------------------------


def _run(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    return ctr.run("--detach", "--null-io", IMAGE_REF, cid, "sleep", "1000", check=False)


def _exec_detached(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    return ctr("task", "exec", "--detach", "--exec-id", "e", cid, "sleep", "86400", check=False)


def _exec_attached(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    return ctr("task", "exec", "--exec-id", "e", cid, "true", check=False)


def _kill(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    return ctr("task", "kill", "--signal", "SIGKILL", cid, check=False)


def _kill_exec(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    return ctr("task", "kill", "--exec-id", "e", "--signal", "SIGKILL", cid, check=False)


def _delete(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    return ctr("task", "delete", cid, check=False)


def _pause(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    return ctr("task", "pause", cid, check=False)


def _resume(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    return ctr("task", "resume", cid, check=False)


def _update(ctr: Ctr, containerd: FaultyContainerd, cid: str):
    """ctr has no `task update`: the call containerd makes for it (CRI's UpdateContainerResources)."""
    from pyrunc.shim import ttrpc
    from pyrunc.shim.proto import shim_pb2

    request = shim_pb2.UpdateTaskRequest(id=cid)
    request.resources.type_url = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
    request.resources.value = json.dumps({"pids": {"limit": 100}}).encode()
    try:
        shim_call(containerd, cid, "Update", request)
    except (OSError, ttrpc.RpcError) as err:
        return subprocess.CompletedProcess(["Update"], 1, "", f"{type(err).__name__}: {err}")
    return subprocess.CompletedProcess(["Update"], 0, "", "")


# (method, point, target: the container's id with this suffix, state before, what is done, what the
# client gets: "closed" -- containerd's "ttrpc: closed" -- or "ok": ctr's attached exec does not
# report the failure of the exec's Delete, and containerd logs a failed Shutdown, its task deleted)
SCENARIOS = [
    ("Create", "entry", "", "", _run, "closed"),
    ("Create", "rootfs-mounted", "", "", _run, "closed"),
    ("Create", "reply", "", "", _run, "closed"),
    ("Start", "entry", "", "", _run, "closed"),
    ("Start", "reply", "", "", _run, "closed"),
    ("Exec", "entry", "/e", "running", _exec_detached, "closed"),
    ("Exec", "reply", "/e", "running", _exec_detached, "closed"),
    ("Start", "entry", "/e", "running", _exec_detached, "closed"),
    ("Start", "reply", "/e", "running", _exec_detached, "closed"),
    ("Delete", "entry", "/e", "running", _exec_attached, "ok"),
    ("Kill", "entry", "/e", "exec running", _kill_exec, "closed"),
    ("Kill", "reply", "/e", "exec running", _kill_exec, "closed"),
    ("Kill", "entry", "", "running", _kill, "closed"),
    ("Kill", "reply", "", "running", _kill, "closed"),
    ("Pause", "entry", "", "running", _pause, "closed"),
    ("Pause", "reply", "", "running", _pause, "closed"),
    ("Resume", "entry", "", "paused", _resume, "closed"),
    ("Resume", "reply", "", "paused", _resume, "closed"),
    ("Update", "entry", "", "running", _update, "closed"),
    ("Update", "reply", "", "running", _update, "closed"),
    ("Delete", "entry", "", "stopped", _delete, "closed"),
    ("Delete", "reply", "", "stopped", _delete, "closed"),
    ("Shutdown", "entry", "", "stopped", _delete, "ok"),
    ("Shutdown", "reply", "", "stopped", _delete, "ok"),
]


def _label(scenario) -> str:
    method, point, suffix = scenario[:3]
    return f"{method}{'-exec' if suffix else ''}-{point}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[_label(s) for s in SCENARIOS])
def test_shim_killed_during_an_rpc(ctr: Ctr, containerd: FaultyContainerd, scenario) -> None:
    method, point, suffix, setup, action, outcome = scenario
    cid = ctr.new_id(_label(scenario).lower())
    containerd.faults_file.write_text(f"{cid}{suffix} {method}:{point}\n")
    pids: list[int] = []
    if setup:
        ctr.start_detached(cid, "sleep", "1000")
        ctr.wait_status(cid, "RUNNING")
        pids.append(int(ctr("task", "ps", cid).stdout.split()[2]))
        pids.append(shim_pid_of(ctr, cid))
        if setup == "paused":
            ctr("task", "pause", cid)
            ctr.wait_status(cid, "PAUSED")
        elif setup == "stopped":
            ctr("task", "kill", "--signal", "SIGKILL", cid)
            ctr.wait_status(cid, "STOPPED")
        elif setup == "exec running":
            ctr("task", "exec", "--detach", "--exec-id", "e", cid, "sleep", "86400")
            wait_until(f"the exec in {cid}", lambda: len(task_pids(ctr, cid)) == 2)
            pids = task_pids(ctr, cid) + pids[1:]
        # The checks below can fail: before the fault they see the task and its shim.
        seen = {p.split(" ", 1)[0] for p in leftovers(containerd, cid, ctr.cgroups_path(cid), pids)}
        assert {"socket", "work", "pyrunc", "shim", "mount", "cgroup", "process"} <= seen, seen
    result = action(ctr, containerd, cid)
    # The next shim with this id must not die: the fault was for this one only.
    containerd.faults_file.unlink()
    assert containerd.fired() == [f"{cid}{suffix} {method}:{point}"], result
    if outcome == "closed":
        closed = ("ttrpc: closed", "closed the connection")  # containerd's words; pyrunc's client's (Update)
        assert result.returncode != 0 and any(words in result.stderr for words in closed), result
    else:
        assert result.returncode == 0, result
    cgroups_path = ctr.cgroups_path(cid)
    ctr.wait_status(cid, "absent")
    assert cid in container_ids(ctr)  # containerd keeps the container; only its task is gone
    check_gone(containerd, cid, cgroups_path, pids)
    runs_again(ctr, cid)


# -- an exec'd process that never exits -----------------------------------------------------------


def task_pids(ctr: Ctr, cid: str) -> list[int]:
    """The host pids of the task's processes (`ctr task ps`: the shim's Pids)."""
    return [int(line.split()[0]) for line in ctr("task", "ps", cid).stdout.splitlines()[1:] if line.strip()]


def start_forever(
    ctr: Ctr, cid: str, attached: bool, host_pid_ns: bool
) -> tuple[subprocess.Popen | None, list[int]]:
    """A running task and an exec of `sleep 1d` in it, detached or with ctr attached (a child of
    this test, stopped at the end in any case); returns ctr and the processes of the task."""
    # The host's pid namespace, through ours (PID 1 here is the VM's agent, not ours to open).
    extra = ("--with-ns", f"pid:/proc/{os.getpid()}/ns/pid") if host_pid_ns else ()
    ctr.start_detached(cid, "sleep", "1000", extra=extra)
    ctr.wait_status(cid, "RUNNING")
    argv = ["task", "exec", "--exec-id", "forever", cid, "sleep", "86400"]
    attached_ctr = None
    if attached:
        attached_ctr = subprocess.Popen(
            ctr.daemon.ctr_argv(*argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    else:
        ctr(*argv[:2], "--detach", *argv[2:])
    wait_until(f"the exec in {cid}", lambda: len(task_pids(ctr, cid)) == 2)
    pids = task_pids(ctr, cid)
    assert all(alive(pid) for pid in pids), pids
    return attached_ctr, pids


def stop_attached(attached_ctr: subprocess.Popen | None) -> subprocess.CompletedProcess | None:
    """ctr's exit once its exec is gone (bounded); killed if it outlives that."""
    if attached_ctr is None:
        return None
    try:
        out, err = attached_ctr.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        attached_ctr.kill()
        out, err = attached_ctr.communicate(timeout=BOUND)
        raise AssertionError(f"the attached ctr exec did not exit {BOUND}s after its task: {err!r}") from None
    return subprocess.CompletedProcess(attached_ctr.args, attached_ctr.returncode, out, err)


PID_NS = pytest.mark.parametrize("host_pid_ns", [False, True], ids=["own-pid-ns", "host-pid-ns"])
ATTACHED = pytest.mark.parametrize("attached", [False, True], ids=["detached", "attached"])


@PID_NS
@ATTACHED
def test_kill_and_delete_with_an_exec_that_never_exits(
    ctr: Ctr, containerd: FaultyContainerd, attached: bool, host_pid_ns: bool
) -> None:
    """The init killed: the exec goes with it (its pid namespace's end, or -- sharing the host's --
    the shim kills what the init left in its cgroup, as the runc shim does); the task is deleted and
    the shim exits."""
    cid = ctr.new_id("kill")
    attached_ctr, pids = start_forever(ctr, cid, attached, host_pid_ns)
    try:
        ctr("task", "kill", "--signal", "SIGKILL", cid)
        ctr.wait_status(cid, "STOPPED")
        wait_until(f"the exec of {cid} to go with its init", lambda: not any(alive(pid) for pid in pids))
    finally:
        done = stop_attached(attached_ctr)
    if done is not None:
        assert done.returncode == 137, done  # the exec's own status: killed by SIGKILL
    cgroups_path = ctr.cgroups_path(cid)
    assert ctr.delete_task(cid) == 137
    check_gone(containerd, cid, cgroups_path, pids)
    ctr("container", "delete", cid)


@PID_NS
@ATTACHED
def test_force_delete_with_an_exec_that_never_exits(
    ctr: Ctr, containerd: FaultyContainerd, attached: bool, host_pid_ns: bool
) -> None:
    cid = ctr.new_id("force")
    attached_ctr, pids = start_forever(ctr, cid, attached, host_pid_ns)
    cgroups_path = ctr.cgroups_path(cid)
    try:
        ctr("task", "delete", "--force", cid)
        assert ctr.task_status(cid) == "absent"
    finally:
        done = stop_attached(attached_ctr)
    if done is not None:
        assert done.returncode == 137, done
    check_gone(containerd, cid, cgroups_path, pids)
    ctr("container", "delete", cid)


@ATTACHED
def test_containerd_restarted_while_an_exec_never_exits(
    ctr: Ctr, containerd: FaultyContainerd, attached: bool
) -> None:
    """containerd goes and comes back while the exec runs (an attached ctr loses containerd): the
    shim serves the new containerd, which sees the exec still running; a forced delete ends all."""
    cid = ctr.new_id("restart")
    attached_ctr, pids = start_forever(ctr, cid, attached, host_pid_ns=False)
    shim = shim_pid_of(ctr, cid)
    cgroups_path = ctr.cgroups_path(cid)
    try:
        assert containerd.stop_daemon() == []
        containerd.start()
        ctr.wait_status(cid, "RUNNING")
        assert shim_pid_of(ctr, cid) == shim
        assert sorted(task_pids(ctr, cid)) == sorted(pids)
        assert all(alive(pid) for pid in pids), pids
        ctr("task", "delete", "--force", cid)
        assert ctr.task_status(cid) == "absent"
    finally:
        stop_attached(attached_ctr)  # its containerd went away: whatever it exited with
    check_gone(containerd, cid, cgroups_path, [*pids, shim])
    runs_again(ctr, cid)


# -- a pod's shim ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["Create", "Delete"])
def test_a_pods_shim_killed_during_an_rpc_for_one_of_its_containers(
    ctr: Ctr, containerd: FaultyContainerd, method: str
) -> None:
    """One shim serves both containers of a pod: killed while it creates (or deletes) the second,
    it takes the first one's task with it, and containerd cleans up both."""
    pod = f"pod-{method.lower()}-{containerd.token}"
    first, second = ctr.new_id(f"{method.lower()}-a"), ctr.new_id(f"{method.lower()}-b")
    containerd.faults_file.write_text(f"{second} {method}:reply\n")
    annotation = ("--annotation", f"io.kubernetes.cri.sandbox-id={pod}")
    ctr.start_detached(first, "sleep", "1000", extra=annotation)
    ctr.wait_status(first, "RUNNING")
    pids = [*task_pids(ctr, first), shim_pid_of(ctr, first)]
    if method == "Create":
        result = ctr.run(
            "--detach", "--null-io", *annotation, IMAGE_REF, second, "sleep", "1000", check=False
        )
    else:
        ctr.start_detached(second, "sleep", "1000", extra=annotation)
        ctr.wait_status(second, "RUNNING")
        assert shim_pid_of(ctr, second) == pids[-1]  # the pod's one shim
        pids += task_pids(ctr, second)
        ctr("task", "kill", "--signal", "SIGKILL", second)
        ctr.wait_status(second, "STOPPED")
        result = ctr("task", "delete", second, check=False)
    containerd.faults_file.unlink()
    assert containerd.fired() == [f"{second} {method}:reply"], result
    assert result.returncode != 0 and "ttrpc: closed" in result.stderr, result
    paths = {cid: ctr.cgroups_path(cid) for cid in (first, second)}
    for cid in (first, second):
        ctr.wait_status(cid, "absent")
    for cid in (first, second):
        check_gone(containerd, cid, paths[cid], pids)
    pod_socket = socket_path(str(containerd.address), containerd.namespace, pod)
    assert not os.path.lexists(pod_socket) and not os.path.lexists(work_dir(pod_socket))
    for cid in (first, second):
        runs_again(ctr, cid)


@PID_NS
def test_shim_killed_while_an_exec_never_exits(
    ctr: Ctr, containerd: FaultyContainerd, host_pid_ns: bool
) -> None:
    """The shim SIGKILLed between calls while an exec runs: containerd's `delete` kills the init and
    the exec -- with no pid namespace of its own, by the cgroup."""
    cid = ctr.new_id("idle")
    _detached, pids = start_forever(ctr, cid, attached=False, host_pid_ns=host_pid_ns)
    cgroups_path = ctr.cgroups_path(cid)
    shim = shim_pid_of(ctr, cid)
    os.kill(shim, signal.SIGKILL)
    ctr.wait_status(cid, "absent")
    check_gone(containerd, cid, cgroups_path, [*pids, shim])
    runs_again(ctr, cid)


# -- SIGKILL at each step of pyrunc's create, which runs in a fork of the shim (strace's kill points)


def _state(pid: int | str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def _parent(pid: int | str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _stopped_worker(containerd: FaultyContainerd, cid: str) -> int:
    """The fork of the shim that runs pyrunc's create for `cid` (pyrunc/shim/worker.py), once it
    has stopped itself at its birth (the fault's `stop`; its pid ends the fault's line)."""
    fired: list[str] = []

    def noted() -> bool:
        fired.extend(containerd.fired())
        return bool(fired)

    wait_until(f"the create worker of {cid} to stop itself", noted)
    assert len(fired) == 1 and fired[0].rsplit(" ", 1)[0] == f"{cid} Create:worker stop", fired
    worker = int(fired[0].rsplit(" ", 1)[1])
    wait_until(f"the create worker {worker} to stop", lambda: _state(worker) == "T")
    return worker


def _traced(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("TracerPid:")[1].split()[0] != "0"
    except (OSError, IndexError):
        return False


def create_under_strace(
    ctr: Ctr,
    containerd: FaultyContainerd,
    cid: str,
    strace_args: list[str],
    then: Callable[[int, int], None] | None = None,
):
    """`ctr run -d` whose create worker stops itself at its birth, is attached to by strace with
    strace_args (it and its children: the init), goes on, and has `then(shim, worker)` done to it:
    returns ctr's result and the worker's pid."""
    from tests.reliability import faults as strace_faults

    containerd.faults_file.write_text(f"{cid} Create:worker stop\n")
    run = subprocess.Popen(
        ctr.run_argv("--detach", "--null-io", IMAGE_REF, cid, "sleep", "1000"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tracer = None
    try:
        worker = _stopped_worker(containerd, cid)
        containerd.faults_file.unlink()
        shim = _parent(worker)
        tracer = subprocess.Popen([strace_faults.STRACE, "-qq", "-f", "-p", str(worker), *strace_args])
        wait_until(f"strace attached to the create worker {worker}", lambda: _traced(worker))
        os.kill(worker, signal.SIGCONT)
        if then is not None:
            then(shim, worker)
        out, err = run.communicate(timeout=BOUND)
        if tracer.poll() is None:  # it follows the init, which runs on: strace detaches on SIGINT
            tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=BOUND)
    finally:
        for proc in (run, tracer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    return subprocess.CompletedProcess(run.args, run.returncode, out, err), worker


def _kill_points(trace: Path, cid: str, worker: int) -> list:
    """The kill points (tests/reliability/faults.py) of the worker that runs pyrunc's create:
    strace counts a process's syscalls from its attach, and the worker makes none between its stop
    and the attach, so the N-th NAME here is its N-th NAME in any later run. Only syscalls the init
    (traced too) never makes, so that its N-th NAME does not stop it instead; the first and the last
    of each kind of step, as CI's sample of tests/reliability does."""
    from tests.reliability import faults as strace_faults

    with trace.open(errors="replace") as f:
        entries = list(strace_faults.parse(f, default_pid=0))
    assert any(e.pid == worker for e in entries), f"no syscall of the worker {worker} in the trace"
    elsewhere = {e.name for e in entries if e.pid != worker}
    points = [p for p in strace_faults.kill_points(entries, "", pid=worker) if p.name not in elsewhere]
    return strace_faults.sample(points, cid)


@pytest.mark.parametrize("killed", ["create", "shim"])
def test_killed_at_each_step_of_pyrunc_create(
    ctr: Ctr, containerd: FaultyContainerd, tmp_path: Path, killed: str
) -> None:
    """pyrunc's create runs in a fork of the shim; at each kind of its steps (state directory
    claimed, cgroups made, the init cloned, its state recorded...), found by a dry run under strace:
    - `create`: that fork is SIGKILLed there (strace's syscall injection). The shim answers Create
      with the failure and undoes what the create had made;
    - `shim`: that fork is stopped there, and the shim is SIGKILLed (the fork dies with it:
      PR_SET_PDEATHSIG); containerd's `delete` cleans up.
    Either way nothing is left, and the id runs again."""
    trace = tmp_path / "trace"
    # The namespace's parent cgroups exist throughout (a create that makes them removes them at
    # its delete, one killed before recording them leaves them, as runc always does): a task of
    # its own keeps them, so that every create below makes the same syscalls.
    keeper = ctr.new_id("keeper")
    ctr.start_detached(keeper, "sleep", "1000")
    for run in ("warm", "dry"):  # the first run makes the state root: the second is every later one's
        cid = ctr.new_id(run)
        result, worker = create_under_strace(ctr, containerd, cid, ["-y", "-o", str(trace)])
        assert result.returncode == 0, result
        ctr("task", "kill", "--signal", "SIGKILL", cid)
        ctr.wait_status(cid, "STOPPED")
        ctr("task", "delete", cid)
        ctr("container", "delete", cid)
    points = _kill_points(trace, cid, worker)
    names = {p.name for p in points}
    assert {"mkdir", "clone"} <= names and {"rename", "renameat2"} & names, [p.label() for p in points]
    problems = []
    if killed == "shim":  # a SIGSTOP at exit_group is too late: the worker has answered, and exits
        points = [p for p in points if p.name != "exit_group"]
    for index, point in enumerate(points):
        cid = ctr.new_id(f"step{index}")
        if killed == "create":
            inject, then, expected = "KILL", None, "was killed by SIGKILL before it answered"
        else:
            inject, then, expected = "STOP", _kill_shim_once_stopped, "ttrpc: closed"
        argv = ["-o", "/dev/null", "-e", f"inject={point.name}:signal={inject}:when={point.occurrence}"]
        result, _ = create_under_strace(ctr, containerd, cid, argv, then)
        if result.returncode == 0 or expected not in result.stderr:
            problems.append(f"{point.label()}: not killed there: {result}")
            continue
        cgroups_path = ctr.cgroups_path(cid)
        ctr.wait_status(cid, "absent")
        try:
            check_gone(containerd, cid, cgroups_path, [])
            runs_again(ctr, cid)
        except AssertionError as err:
            problems.append(f"{point.label()}: {err}")
    print(f"{len(points)} kill points:", *(p.label() for p in points), sep="\n  ")
    assert not problems, "\n".join(problems)


def test_a_create_past_the_callers_deadline_is_killed_and_undone(
    ctr: Ctr, containerd: FaultyContainerd
) -> None:
    """containerd passes its context's deadline on to the shim (ttrpc's timeout_nano: `ctr
    --timeout` sets one, kubelet's CRI calls have theirs). A create worker that has not answered by
    then -- here stopped at its birth, as a hung one would be -- is killed there and what it made
    undone, as the runc shim kills a runc that outlives the call's context; so the shim is not held
    up by it, containerd's clean-up after the failed Create goes through, nothing is left, and the
    id runs again."""
    cid = ctr.new_id("deadline")
    containerd.faults_file.write_text(f"{cid} Create:worker stop\n")
    argv = containerd.ctr_argv(
        "--timeout",
        "6s",
        "run",
        *containerd.run_flags(),
        "--detach",
        "--null-io",
        IMAGE_REF,
        cid,
        "sleep",
        "1000",
    )
    worker = 0
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BOUND)
        containerd.faults_file.unlink()  # the next shim of this id reads none
        fired = containerd.fired()
        assert len(fired) == 1 and fired[0].rsplit(" ", 1)[0] == f"{cid} Create:worker stop", fired
        worker = int(fired[0].rsplit(" ", 1)[1])
        assert result.returncode != 0 and "deadline exceeded" in result.stderr, result
        wait_until(
            f"the stopped create worker {worker} to be killed at the deadline", lambda: not alive(worker)
        )
    finally:
        if worker and alive(worker):  # not killed: free the shim, for the clean-up
            os.kill(worker, signal.SIGKILL)
    ctr.wait_status(cid, "absent")
    check_gone(containerd, cid, ctr.cgroups_path(cid), [])
    runs_again(ctr, cid)


def _kill_shim_once_stopped(shim: int, worker: int) -> None:
    """The worker stopped at its kill point (strace's injected SIGSTOP): the shim is SIGKILLed."""
    wait_until(f"the create worker {worker} to stop at its kill point", lambda: _state(worker) in ("T", "t"))
    os.kill(shim, signal.SIGKILL)
