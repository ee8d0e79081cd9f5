"""runc 1.2+ command-line features: --pidfd-socket on create, run and exec (the pidfd arrives over
the socket and signals the process through pidfd_send_signal), and exec --cgroup (a sub-cgroup of
the container's, checked in /proc/PID/cgroup)."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time

import pytest

from pyrunc.cgroups import cgroup_mode
from tests.support import reap_orphans

V2 = cgroup_mode() == "unified"


@pytest.fixture
def pidfd_listener(tmp_path):
    """A listening AF_UNIX socket, as a manager (runc's contrib pidfd-kill) would hold."""
    path = str(tmp_path / "pidfd.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(4)
    sock.settimeout(10)
    yield path, sock
    sock.close()


def receive_pidfd(sock: socket.socket) -> tuple[bytes, int]:
    conn, _ = sock.accept()
    with conn:
        conn.settimeout(10)
        message, fds, _flags, _addr = socket.recv_fds(conn, 64, 4)
    assert len(fds) == 1, f"one fd expected, got {fds}"
    return message, fds[0]


def pidfd_pid(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise AssertionError("not a pidfd")


def wait_stopped(runtime, cid: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while runtime.status(cid) != "stopped":
        assert time.monotonic() < deadline, "the container did not stop"
        time.sleep(0.05)


@pytest.mark.parametrize("verb", ["create", "run"])
def test_pidfd_socket_receives_the_inits_pidfd(runtime, make_bundle, cid, pidfd_listener, verb):
    path, listener = pidfd_listener
    bundle = make_bundle(args=["sleep", "infinity"])
    extra = ["-d"] if verb == "run" else []
    runtime(verb, *extra, "--pidfd-socket", path, "--bundle", bundle.path, cid)
    message, pidfd = receive_pidfd(listener)
    try:
        assert message == b"standard"  # runc's name for a container's init
        pid = runtime.state(cid)["pid"]
        assert pidfd_pid(pidfd) == pid
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        wait_stopped(runtime, cid)
    finally:
        os.close(pidfd)
    runtime("delete", cid)


def test_exec_pidfd_socket_receives_the_processs_pidfd(runtime, make_bundle, cid, pidfd_listener, tmp_path):
    path, listener = pidfd_listener
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    pid_file = str(tmp_path / "exec.pid")
    runtime("exec", "-d", "--pid-file", pid_file, "--pidfd-socket", path, cid, "sleep", "infinity")
    message, pidfd = receive_pidfd(listener)
    try:
        assert message == b"setns"  # runc's name for an exec'd process
        with open(pid_file) as f:
            pid = int(f.read())
        assert pidfd_pid(pidfd) == pid
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)  # readable once the process has exited
        assert poller.poll(15000), "the exec'd process did not die"
        assert runtime.status(cid) == "running", "only the exec'd process was signalled"
    finally:
        os.close(pidfd)
    reap_orphans()  # the detached exec's process, a zombie of ours, would hold the pid namespace
    runtime("delete", "--force", cid)


@pytest.mark.parametrize("verb", ["create", "exec"])
def test_pidfd_socket_that_cannot_be_reached_is_refused(runtime, make_bundle, cid, tmp_path, verb):
    bundle = make_bundle(args=["sleep", "infinity"])
    missing = str(tmp_path / "nobody-listens.sock")
    if verb == "exec":
        runtime("run", "-d", "--bundle", bundle.path, cid)
        result = runtime("exec", "--pidfd-socket", missing, cid, "true", check=False)
        assert result.returncode == 255
        assert runtime("ps", "--format", "json", cid).stdout.count(",") == 0, "only the init is left"
    else:
        result = runtime("create", "--pidfd-socket", missing, "--bundle", bundle.path, cid, check=False)
        assert result.returncode == 1
        assert not os.path.exists(os.path.join(runtime.root, cid))
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--pidfd-socket {missing}: " in lines[0], result.stderr


def test_pidfd_socket_nobody_accepts_on_is_bounded(runtime, make_bundle, cid, tmp_path):
    """A listener whose backlog is full (a stuck manager): create fails, naming the likely cause,
    instead of hanging."""
    path = str(tmp_path / "stuck.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    fillers = []
    try:
        while True:  # fill the backlog: the next connect would block
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            try:
                filler.connect(path)
            except BlockingIOError:
                break
            assert len(fillers) < 64, "the backlog never filled"
        bundle = make_bundle(args=["sleep", "infinity"])
        result = runtime("create", "--pidfd-socket", path, "--bundle", bundle.path, cid, check=False)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert result.returncode == 1
    assert "listen backlog is full" in result.stderr and path in result.stderr, result.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


# ---- exec --cgroup ------------------------------------------------------------------------------


def container_cgroups(runtime, cid: str) -> dict[str, str]:
    """{controller or "" (v2): the container's directory}."""
    with open(os.path.join(runtime.root, cid, "state.json")) as f:
        cg = json.load(f)["cgroup"]
    return dict(cg["paths"]) if "paths" in cg else {"": cg["path"]}


def proc_cgroups(pid: int) -> dict[str, str]:
    """/proc/PID/cgroup as {controller: path} ("" for the v2 line)."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                out[name] = path
    return out


def exec_pid(runtime, cid: str, tmp_path, *flags: str) -> int:
    pid_file = str(tmp_path / f"exec-{time.monotonic_ns()}.pid")
    runtime("exec", "-d", "--pid-file", pid_file, *flags, cid, "sleep", "infinity")
    with open(pid_file) as f:
        return int(f.read())


def kill_and_reap(*pids: int) -> None:
    """A detached exec's process is ours to reap once it dies (we are the subreaper above it);
    left a zombie, it would keep the container's pid namespace, and so its init, from ending."""
    for pid in pids:
        pidfd = os.pidfd_open(pid)
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            assert poller.poll(15000), f"exec'd process {pid} did not die"
        finally:
            os.close(pidfd)
    reap_orphans()


def make_sub(dirs, name: str) -> None:
    """As a manager would: a v1 cpuset child starts empty and takes no process until given cpus
    and mems (its parent's here)."""
    for directory in set(dirs):
        sub = os.path.join(directory, name)
        os.makedirs(sub, exist_ok=True)
        for key in ("cpuset.cpus", "cpuset.mems"):
            if os.path.exists(os.path.join(sub, key)):  # v2: only with cpuset in subtree_control
                with open(os.path.join(directory, key)) as f, open(os.path.join(sub, key), "w") as out:
                    out.write(f.read())


@pytest.mark.vm  # the plain form is the only one on cgroup v2: also run in the v2 guest
def test_exec_cgroup_joins_the_sub_cgroup_everywhere(runtime, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    init = proc_cgroups(runtime.state(cid)["pid"])
    dirs = container_cgroups(runtime, cid)
    make_sub(dirs.values(), "sub")
    pid = exec_pid(runtime, cid, tmp_path, "--cgroup", "sub")
    joined = proc_cgroups(pid)
    for controller in dirs:
        if controller in init:
            assert joined[controller] == init[controller].rstrip("/") + "/sub", controller
    kill_and_reap(pid)  # the detached exec's process, a zombie of ours, would hold the pid namespace
    runtime("delete", "--force", cid)
    assert not any(os.path.exists(d) for d in dirs.values()), "delete removes the sub-cgroups too"


@pytest.mark.skipif(V2, reason="per-controller sub-cgroups are cgroup v1's")
def test_exec_cgroup_per_controller_on_v1(runtime, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    init = proc_cgroups(runtime.state(cid)["pid"])
    dirs = container_cgroups(runtime, cid)
    if not {"memory", "pids", "freezer"} <= set(dirs):
        pytest.skip("needs the memory, pids and freezer v1 hierarchies")
    make_sub([dirs["memory"]], "m")
    make_sub([dirs["pids"]], "p")
    pid = exec_pid(runtime, cid, tmp_path, "--cgroup", "memory:m", "--cgroup", "pids:p")
    joined = proc_cgroups(pid)
    assert joined["memory"] == init["memory"] + "/m"
    assert joined["pids"] == init["pids"] + "/p"
    assert joined["freezer"] == init["freezer"], "a controller not named stays in the container's cgroup"
    kill_and_reap(pid)  # the detached exec's process, a zombie of ours, would hold the pid namespace
    runtime("delete", "--force", cid)


@pytest.mark.parametrize(
    "flags, problem",
    [
        (["--cgroup", "missing"], "does not exist"),
        (["--cgroup", "../.."], "is not a sub-cgroup"),
        (["--cgroup", "a", "--cgroup", "b"], "give CONTROLLER:PATH"),
        (["--cgroup", ":x"], "empty controller name"),
        (["--cgroup", "memory:x", "--cgroup", "memory:y"], "more than once"),
    ],
)
def test_exec_cgroup_bad_input(runtime, make_bundle, cid, flags, problem):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    result = runtime("exec", *flags, cid, "true", check=False)
    assert result.returncode == 255
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--cgroup" in lines[0] and problem in lines[0], result.stderr
    assert len(json.loads(runtime("ps", "--format", "json", cid).stdout)) == 1, "only the init is left"


@pytest.mark.skipif(V2, reason="controllers are cgroup v1's")
def test_exec_cgroup_unknown_controller(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    result = runtime("exec", "--cgroup", "nosuchctl:x", cid, "true", check=False)
    assert result.returncode == 255
    assert "unknown controller nosuchctl" in result.stderr


# ---- kill without a pid namespace ---------------------------------------------------------------


def test_sigkill_without_own_pid_namespace_kills_every_process(runtime, make_bundle, cid, tmp_path):
    """runc 1.2 (`kill -a` deprecated): SIGKILL of an init that shares the pid namespace would
    leave its other processes running, so it goes to the whole cgroup, as --all does."""
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["linux"]["namespaces"] = [{"type": "mount"}]
    bundle.config.pop("hostname", None)
    bundle.write()
    runtime("run", "-d", "--bundle", bundle.path, cid)
    other = exec_pid(runtime, cid, tmp_path)
    pidfd = os.pidfd_open(other)
    try:
        runtime("kill", cid, "KILL")
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        assert poller.poll(15000), "the exec'd process outlived `kill ID KILL`"
    finally:
        os.close(pidfd)
    reap_orphans()
    wait_stopped(runtime, cid)
    runtime("delete", cid)


def test_other_signals_still_go_to_the_init_only(runtime, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["linux"]["namespaces"] = [{"type": "mount"}]
    bundle.config.pop("hostname", None)
    bundle.write()
    runtime("run", "-d", "--bundle", bundle.path, cid)
    other = exec_pid(runtime, cid, tmp_path)
    runtime("kill", cid, "TERM")
    wait_stopped(runtime, cid)
    assert os.path.exists(f"/proc/{other}"), "SIGTERM reached more than the init"
    kill_and_reap(other)
    runtime("delete", cid)


# ---- update -r with per-device limits (runc 1.3.3 / 1.4.0) ---------------------------------------


def a_block_device() -> tuple[int, int] | None:
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram")):
            with open(f"/sys/block/{name}/dev") as f:
                major, minor = f.read().split(":")
            return int(major), int(minor)
    return None


@pytest.mark.skipif(V2, reason="reads the v1 blkio files")
def test_update_resources_sets_and_replaces_per_device_limits(runtime, make_bundle, cid):
    """podman update passes per-device iops/bps in the LinuxResources JSON: each device's limit
    is set, a later update of one device replaces only that one."""
    device = a_block_device()
    if device is None:
        pytest.skip("no block device")
    major, minor = device
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    blkio = container_cgroups(runtime, cid).get("blkio")
    if not blkio or not os.path.exists(os.path.join(blkio, "blkio.throttle.read_iops_device")):
        pytest.skip("no blkio throttling here")
    first = {
        "blockIO": {
            "throttleReadIOPSDevice": [{"major": major, "minor": minor, "rate": 1000}],
            "throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2097152}],
        }
    }
    runtime("update", "-r", "-", cid, input=json.dumps(first))
    second = {"blockIO": {"throttleReadIOPSDevice": [{"major": major, "minor": minor, "rate": 500}]}}
    runtime("update", "-r", "-", cid, input=json.dumps(second))
    with open(os.path.join(blkio, "blkio.throttle.read_iops_device")) as f:
        assert f.read().split() == [f"{major}:{minor}", "500"]
    with open(os.path.join(blkio, "blkio.throttle.write_bps_device")) as f:
        assert f.read().split() == [f"{major}:{minor}", "2097152"]
    runtime("delete", "--force", cid)


def test_long_options_with_one_dash_as_runc_and_go_runc_spell_them(runtime, make_bundle, cid):
    """runc parses its command line with Go's flag package, which takes `-name` as `--name`;
    go-runc (containerd's shim) restores with `-no-subreaper`; scripts write `-bundle`."""
    bundle = make_bundle(["sleep", "100"])
    result = runtime(
        "-log-format", "json", "run", "-detach", "-bundle", bundle.path, "-no-new-keyring", cid, check=False
    )
    try:
        assert result.returncode == 0, result.stderr
        assert runtime.status(cid) == "running"
    finally:
        runtime("delete", "-force", cid, check=False)
    assert runtime("state", cid, check=False).returncode != 0, "delete -force removed it"
