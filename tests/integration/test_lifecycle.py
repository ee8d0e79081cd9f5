"""The lifecycle with runc's flags: create, start, state, kill, delete, run, list."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time

import pytest

from pyrunc import OCI_VERSION
from tests.support import REPO, reap_orphans


def wait_status(runtime, cid: str, wanted: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    status = runtime.status(cid)
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.02)
        status = runtime.status(cid)
    return status


def proc_status_field(pid: int, field: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    raise KeyError(field)


def test_full_lifecycle(runtime, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=["sleep", "infinity"])
    pid_file = tmp_path / "init.pid"
    runtime("create", "--bundle", bundle.path, "--pid-file", str(pid_file), cid)

    raw_pid = pid_file.read_text()
    assert raw_pid.isdigit(), f"pid file must hold only the decimal pid, got {raw_pid!r}"
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert state["pid"] == int(raw_pid)
    assert state["id"] == cid
    assert state["bundle"] == bundle.path
    assert state["rootfs"] == os.path.realpath(bundle.rootfs)
    assert state["ociVersion"] == OCI_VERSION  # the runtime's spec version, as runc reports it
    assert list(state) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]
    # The created init is the small helper from a memfd, blocked on exec.fifo: no user process yet.
    assert os.readlink(f"/proc/{state['pid']}/exe").startswith("/memfd:pyrunc-init")
    assert os.path.exists(os.path.join(runtime.root, cid, "exec.fifo"))

    runtime("start", cid)
    assert runtime.status(cid) == "running"
    assert os.readlink(f"/proc/{state['pid']}/exe").endswith("/bin/busybox")
    assert not os.path.exists(os.path.join(runtime.root, cid, "exec.fifo"))

    runtime("kill", cid, "KILL")
    assert wait_status(runtime, cid, "stopped") == "stopped"
    assert runtime.state(cid)["pid"] == 0

    runtime("delete", cid)
    assert not os.path.exists(os.path.join(runtime.root, cid))
    result = runtime("state", cid, check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_state_reports_stopped_while_init_is_a_zombie(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while proc_status_field(pid, "State")[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc_status_field(pid, "State")[0] == "Z", "the killed init should wait to be reaped by us"
    assert runtime.status(cid) == "stopped"
    reap_orphans()
    assert runtime.status(cid) == "stopped"
    runtime("delete", cid)


def test_pid_reuse_is_detected(runtime, make_bundle, cid):
    """A recorded pid that now belongs to another process (other start time) means stopped."""
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("create", "--bundle", bundle.path, cid)
    state_path = os.path.join(runtime.root, cid, "state.json")
    with open(state_path) as f:
        state = json.load(f)
    impostor = subprocess.Popen(["sleep", "60"])
    try:
        real_pid = state["pid"]
        state["pid"] = impostor.pid
        with open(state_path, "w") as f:
            json.dump(state, f)
        assert runtime.status(cid) == "stopped"
        runtime("delete", "--force", cid)
        assert impostor.poll() is None, "delete --force must not kill an unrelated process"
    finally:
        impostor.kill()
        impostor.wait()
        os.kill(real_pid, 9)


@pytest.mark.parametrize(("script", "expected"), [("exit 0", 0), ("exit 3", 3), ("exit 255", 255)])
def test_run_foreground_exit_status(runtime, make_bundle, cid, script, expected):
    bundle = make_bundle(args=["sh", "-c", script])
    result = runtime("run", "--bundle", bundle.path, cid, check=False)
    assert result.returncode == expected, result.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid)), "run deletes the container after it exits"


def test_run_foreground_killed_by_signal_exits_128_plus_n(runtime, make_bundle, cid):
    """The init of a pid namespace ignores SIGKILL from inside it: kill it from the host."""
    bundle = make_bundle(args=["sleep", "infinity"])
    proc = subprocess.Popen(runtime.cmd("run", "--bundle", bundle.path, cid))
    try:
        deadline = time.monotonic() + 10
        while runtime("state", cid, check=False).returncode != 0 or runtime.status(cid) != "running":
            assert time.monotonic() < deadline, "container did not start"
            time.sleep(0.05)
        runtime("kill", cid, "KILL")
        assert proc.wait(timeout=20) == 128 + 9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_passes_stdio_through(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sh", "-c", "read line; echo got:$line; echo err >&2"])
    result = runtime("run", "--bundle", bundle.path, cid, input="hello\n")
    assert result.stdout == "got:hello\n"
    assert result.stderr == "err\n"


def test_run_forwards_signals(runtime, make_bundle, cid):
    bundle = make_bundle(
        args=["sh", "-c", "trap 'echo got-term; exit 7' TERM; while true; do sleep 0.1; done"]
    )
    proc = subprocess.Popen(
        runtime.cmd("run", "--bundle", bundle.path, cid), stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if runtime("state", cid, check=False).returncode == 0 and runtime.status(cid) == "running":
                break
            time.sleep(0.05)
        time.sleep(0.3)  # let the shell install its trap
        proc.send_signal(15)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out == "got-term\n"
    assert proc.returncode == 7


def test_run_keep_leaves_a_stopped_container(runtime, make_bundle, cid):
    bundle = make_bundle(args=["true"])
    runtime("run", "--keep", "--bundle", bundle.path, cid)
    assert runtime.status(cid) == "stopped"
    runtime("delete", cid)


def test_run_detached_then_kill_and_delete(runtime, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=["sleep", "infinity"])
    pid_file = tmp_path / "pid"
    runtime("run", "-d", "--pid-file", str(pid_file), "--bundle", bundle.path, cid)
    assert runtime.status(cid) == "running"
    assert int(pid_file.read_text()) == runtime.state(cid)["pid"]
    runtime("kill", cid)  # SIGTERM by default: sleep as pid 1 ignores it unless it has a handler
    runtime("kill", cid, "9")
    assert wait_status(runtime, cid, "stopped") == "stopped"
    runtime("delete", cid)


def test_kill_with_signal_0_asks_whether_the_container_runs(runtime, make_bundle, cid):
    """As runc 1.1.5: `kill ID 0` succeeds while the init lives and fails once it is gone;
    `kill --all ID 0` succeeds in both cases (nothing left in the cgroup is no error)."""
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    runtime("kill", cid, "0")
    runtime("kill", "--all", cid, "0")
    assert runtime.status(cid) == "running"
    runtime("kill", cid, "KILL")
    assert wait_status(runtime, cid, "stopped") == "stopped"
    result = runtime("kill", cid, "0", check=False)
    assert result.returncode == 1
    assert "container not running" in result.stderr
    runtime("kill", "--all", cid, "0")
    runtime("kill", "--all", cid, "KILL")
    runtime("delete", cid)


@pytest.mark.parametrize("all_processes", [False, True], ids=["init", "all"])
def test_sigkill_of_a_paused_container_thaws_it(runtime, make_bundle, cid, all_processes):
    """As runc 1.1.5: SIGKILL of a paused container thaws it, so its processes die and it is
    `stopped` (frozen on cgroup v1, they would wait for `resume`, and it would stay `paused`)."""
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    runtime("pause", cid)
    assert runtime.status(cid) == "paused"
    runtime("kill", *(["--all"] if all_processes else []), cid, "KILL")
    assert wait_status(runtime, cid, "stopped") == "stopped"
    runtime("delete", cid)


def test_delete_force_kills_a_running_container(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    result = runtime("delete", cid, check=False)
    assert result.returncode == 1
    assert "not stopped" in result.stderr
    assert runtime.status(cid) == "running"
    runtime("delete", "--force", cid)
    reap_orphans()
    assert not os.path.exists(f"/proc/{pid}") or proc_status_field(pid, "State")[0] == "Z"


def test_delete_of_a_created_container_kills_its_init(runtime, make_bundle, cid):
    """As runc: deleting a created (never started) container is allowed and kills the init."""
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    runtime("delete", cid)
    reap_orphans()
    assert not os.path.exists(f"/proc/{pid}") or proc_status_field(pid, "State")[0] == "Z"


def test_list_formats(runtime, make_bundle):
    bundle = make_bundle(args=["sleep", "infinity"])
    ids = ["t-list-b", "t-list-a"]
    for container_id in ids:
        runtime("create", "--bundle", bundle.path, container_id)
    table = runtime("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert [line.split()[0] for line in table[1:]] == sorted(ids)
    assert runtime("list", "-q").stdout.split() == sorted(ids)
    entries = json.loads(runtime("list", "--format", "json").stdout)
    assert [e["id"] for e in entries] == sorted(ids)
    assert {e["status"] for e in entries} == {"created"}
    # As runc: the owner is the name of the user owning the container's directory ("#UID" when
    # the uid has no name), in list only (state says "").
    assert [line.split()[-1] for line in table[1:]] == ["root", "root"]
    assert {e["owner"] for e in entries} == {"root"}
    assert runtime.state(ids[0])["owner"] == ""
    nameless = next(uid for uid in range(54321, 60000) if uid not in {p.pw_uid for p in pwd.getpwall()})
    os.chown(os.path.join(runtime.root, "t-list-a"), nameless, 0)
    assert runtime("list").stdout.splitlines()[1].split()[-1] == f"#{nameless}"
    for container_id in ids:
        runtime("delete", container_id)
    assert json.loads(runtime("list", "--format", "json").stdout) == []


def test_hello_bundle_prints_from_its_own_namespaces(runtime, cid):
    bundle = os.path.join(REPO, "oci-bundles", "hello")
    if not os.path.isdir(os.path.join(bundle, "rootfs")):
        subprocess.run([os.path.join(REPO, "oci-bundles", "build")], check=True)
    result = runtime("run", "--bundle", bundle, cid)
    assert "Hello from inside a pyrunc container!" in result.stdout
    assert "my pid:   1 " in result.stdout
    assert "hostname: hello" in result.stdout
    for ns in ("pid", "mnt", "uts", "ipc", "net"):
        host = os.readlink(f"/proc/self/ns/{ns}")
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(f"{ns} namespace"))
        assert host not in line


def test_version_has_runcs_shape(runtime):
    lines = runtime("--version").stdout.splitlines()
    assert lines[0].startswith("pyrunc version ")
    assert lines[1].startswith("commit: ")
    assert lines[2] == "spec: 1.3.0"


SHIM = """
import ctypes, os, subprocess, sys, threading, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the init comes to us
runtime, root, bundle, cid = sys.argv[1:5]
subprocess.run([runtime, "--root", root, "create", "--bundle", bundle, cid], check=True)
start = subprocess.Popen([runtime, "--root", root, "start", cid], stderr=subprocess.PIPE, text=True)

def reap_others():  # reap the init the moment it exits, as containerd's shim does
    while start.poll() is None:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
            children = [int(p) for p in f.read().split()]
        for pid in children:
            if pid != start.pid:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        time.sleep(0.0005)

threading.Thread(target=reap_others, daemon=True).start()
err = start.stderr.read()
print(start.wait(), err.strip())
"""


def test_start_of_a_process_that_exits_at_once_under_a_prompt_reaper(runtime, make_bundle, tmp_path):
    """Regression: start must not lose the init when it execs, exits and is reaped before start
    has looked at it (seen with containerd's shim)."""
    import sys

    bundle = make_bundle(args=["true"])
    script = tmp_path / "shim.py"
    script.write_text(SHIM)
    for attempt in range(15):
        cid = f"t-prompt-{attempt}"
        out = subprocess.run(
            [sys.executable, str(script), runtime.binary, runtime.root, bundle.path, cid],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("0 "), f"attempt {attempt}: start failed: {out.stdout}"
        runtime("delete", "--force", cid)


def test_debug_logs_the_main_steps_in_text_and_json(runtime, make_bundle, cid, tmp_path):
    """As runc: --debug logs create's, start's and exec's steps at debug level, to stderr as text
    or to --log as json lines; without --debug nothing is written."""
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["hooks"] = {"poststart": [{"path": "/bin/true"}]}
    bundle.write()
    created = runtime("--debug", "create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    for step in (
        f"create {cid}: config.json of {bundle.path} loaded",
        f"create {cid}: cgroup /sys/fs/cgroup/",
        f"create {cid}: namespaces new ipc mount network pid uts",
        f"create {cid}: rootfs {bundle.rootfs}, {len(bundle.config['mounts'])} mounts",
        f"create {cid}: hooks poststart 1",
        f"create {cid}: container process started, pid {pid}",
    ):
        assert step in created.stderr, (step, created.stderr)
    assert all("level=debug" in line for line in created.stderr.splitlines()), created.stderr
    started = runtime("--debug", "start", cid)
    assert f"start {cid}: pid {pid} runs the container's process" in started.stderr, started.stderr
    assert f"start {cid}: running 1 poststart hook(s)" in started.stderr, started.stderr
    log = tmp_path / "log.json"
    execed = runtime("--debug", "--log", str(log), "--log-format", "json", "exec", cid, "true")
    assert execed.stderr == ""
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {line["level"] for line in lines} == {"debug"} and all(line["time"] for line in lines)
    messages = [line["msg"] for line in lines]
    assert f"exec {cid}: joins pid namespace /proc/{pid}/ns/pid" in messages, messages
    assert any(m.startswith(f"exec {cid}: process started, pid ") for m in messages), messages
    assert messages[-1].endswith("exited, status 0"), messages
    quiet = [runtime("exec", cid, "true"), runtime("kill", cid, "KILL")]
    assert wait_status(runtime, cid, "stopped") == "stopped"
    quiet.append(runtime("delete", cid))
    assert [r.stderr for r in quiet] == ["", "", ""]
