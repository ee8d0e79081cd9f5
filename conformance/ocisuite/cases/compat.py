"""runc's command-line extensions that managers rely on (containerd's shim, dockerd, podman):
not in the runtime-spec, but a drop-in for runc must honour them (shared/runtime-cli-contract.md)."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import time

from .. import config as cfgmod
from .. import sysutil
from ..ctx import Ctx, Report
from ..registry import case

CHECK = cfgmod.CHECKER


@case("compat/pid-file", spec="contract: --pid-file holds the decimal pid, no newline")
def pid_file(t: Ctx) -> None:
    path = t.path("init.pid")
    c = t.create(t.bundle(["sleep", "300"]), extra=("--pid-file", path))
    text = sysutil.read_text(path)
    t.check(text is not None, "no pid file was written")
    t.eq(text, str(c.pid), "pid file content (exactly the decimal pid)")


@case(
    "compat/exit-status-via-subreaper",
    spec="contract: the shim, a subreaper, waits for the container process",
)
def exit_status_via_subreaper(t: Ctx) -> None:
    c = t.create(t.bundle([CHECK, "exit", "7"]))
    c.start()
    status = c.wait_exit()
    t.check(status is not None, "the process did not exit")
    t.check(status >= 0, "the container process was not reparented to the caller (a subreaper)")
    t.eq(c.exit_code(), 7, "exit code")


def _run_foreground(t: Ctx, b, timeout: float = 20) -> subprocess.CompletedProcess:
    b.write()
    cid = t.new_id("run")
    t.record("id", cid)
    return subprocess.run(
        [t.suite.runtime, "--root", t.root, "run", "--bundle", b.path, cid],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


@case(
    "compat/run-exit-status", spec="contract: run returns the process's exit status and passes stdio through"
)
def run_exit_status(t: Ctx) -> None:
    proc = _run_foreground(t, t.bundle(["/bin/sh", "-c", "echo from-inside; exit 7"]))
    t.eq(proc.returncode, 7, "exit status of run")
    t.check(b"from-inside" in proc.stdout, f"stdout of run: {proc.stdout[:200]!r}")


@case("compat/run-signal-status", spec="contract: run returns 128+N when the process is killed by signal N")
def run_signal_status(t: Ctx) -> None:
    b = t.bundle(["/bin/sh", "-c", "kill -9 $$"])
    b.linux["namespaces"] = [ns for ns in b.linux["namespaces"] if ns["type"] != "pid"]
    proc = _run_foreground(t, b)
    t.eq(proc.returncode, 137, "exit status of run when the process dies of SIGKILL")


@case("compat/exec", spec="contract: exec runs a process inside a running container")
def exec_(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    b.config["hostname"] = "exec-target"
    c = t.create(b)
    c.start()
    res = t.rt("exec", c.id, CHECK, "id")
    t.check(res.ok, f"exec failed: {res.brief()}")
    r = Report(res.out)
    t.eq(r.get("hostname"), "exec-target", "hostname seen by the exec'd process")
    mnt = os.readlink(f"/proc/{c.pid}/ns/mnt")
    t.check(mnt != os.readlink("/proc/self/ns/mnt"), "sanity: the container has its own mount namespace")


@case("compat/exec-process-json", spec="contract: exec --process FILE --detach --pid-file P")
def exec_process_json(t: Ctx) -> None:
    c = t.create(t.bundle(["sleep", "300"]))
    c.start()
    proc_file = t.path("process.json")
    process = cfgmod.base_config()["process"]
    process["args"] = ["sleep", "301"]
    with open(proc_file, "w") as f:
        json.dump(process, f)
    pid_path = t.path("exec.pid")
    res = t.rt("exec", "--process", proc_file, "--detach", "--pid-file", pid_path, c.id)
    t.check(res.ok, f"exec --process failed: {res.brief()}")
    pid = int(sysutil.read_text(pid_path) or "0")
    t.check(pid > 0 and sysutil.alive(pid), "the exec pid file does not name a live process")
    t.eq(
        os.readlink(f"/proc/{pid}/ns/pid"),
        os.readlink(f"/proc/{c.pid}/ns/pid"),
        "pid namespace of the exec'd process",
    )


@case("compat/ps-json", spec="contract: ps --format json ID prints a JSON array of host pids")
def ps_json(t: Ctx) -> None:
    c = t.create(t.bundle(["sleep", "300"]))
    c.start()
    res = t.rt("ps", "--format", "json", c.id)
    t.check(res.ok, f"ps failed: {res.brief()}")
    t.check(c.pid in json.loads(res.out or "[]"), f"ps output {res.out.strip()!r} lacks the init pid {c.pid}")


@case("compat/list-json", spec="contract: list --format json is an array of states")
def list_json(t: Ctx) -> None:
    c = t.create(t.bundle(["sleep", "300"]))
    res = t.rt("list", "--format", "json")
    t.check(res.ok, f"list failed: {res.brief()}")
    entries = {e.get("id"): e for e in json.loads(res.out or "[]")}
    t.check(c.id in entries, f"list does not show {c.id}")
    t.eq(entries[c.id].get("status"), "created", "status in list")


@case("compat/list-owner", spec="runc: list shows the name of the user owning the container's state")
def list_owner(t: Ctx) -> None:
    import pwd

    c = t.create(t.bundle(["sleep", "300"]))
    res = t.rt("list", "--format", "json")
    t.check(res.ok, f"list failed: {res.brief()}")
    entries = {e.get("id"): e for e in json.loads(res.out or "[]")}
    t.check(c.id in entries, f"list does not show {c.id}")
    t.eq(entries[c.id].get("owner"), pwd.getpwuid(os.geteuid()).pw_name, "owner in list --format json")
    table = t.rt("list").out.splitlines()
    row = next((line.split() for line in table if line.startswith(c.id + " ")), [])
    t.eq(row[-1:], [pwd.getpwuid(os.geteuid()).pw_name], "OWNER column of list")


@case(
    "compat/pause-resume",
    needs=("freezer",),
    spec="contract: pause/resume freeze the cgroup; state says paused",
)
def pause_resume(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    b.linux["cgroupsPath"] = t.cgroup_path("pause")
    c = t.create(b)
    c.start()
    res = t.rt("pause", c.id)
    t.check(res.ok, f"pause failed: {res.brief()}")
    t.eq(t.cgroup_read("freezer", c.pid, "freezer.state"), "FROZEN", "freezer.state after pause")
    t.eq(c.status(), "paused", "status after pause")
    res = t.rt("resume", c.id)
    t.check(res.ok, f"resume failed: {res.brief()}")
    t.eq(t.cgroup_read("freezer", c.pid, "freezer.state"), "THAWED", "freezer.state after resume")
    t.eq(c.status(), "running", "status after resume")


@case("compat/kill-all", spec="contract: kill --all ID 9 signals every process of the container")
def kill_all(t: Ctx) -> None:
    """Without a pid namespace, killing init alone would leave its children running."""
    b = t.bundle(["/bin/sh", "-c", "sleep 300 & sleep 301 & wait"])
    cfgmod.drop_namespace(b.config, "pid")
    b.linux["cgroupsPath"] = t.cgroup_path("killall")
    c = t.create(b)
    c.start()
    deadline = time.monotonic() + 10
    kids = []
    while time.monotonic() < deadline and len(kids) < 2:
        kids = [k for k in sysutil.children_of(c.pid) if sysutil.alive(k)]
        time.sleep(0.02)
    t.eq(len(kids), 2, "background sleeps started by the container's shell")
    c.kill("9", all_=True)
    c.wait_stopped(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(sysutil.alive(k) for k in kids):
        time.sleep(0.02)
    t.check(not any(sysutil.alive(k) for k in kids), "processes of the container survived kill --all")
    t.eq(c.status(), "stopped", "status after kill --all")


@case("compat/state-extra-fields", spec="contract: state adds runc's rootfs and created (RFC 3339)")
def state_extra_fields(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    c = t.create(b)
    st = c.state()
    t.eq(os.path.realpath(st.get("rootfs", "")), os.path.realpath(b.rootfs), "rootfs")
    created = st.get("created", "")
    stamp = _rfc3339(created)
    t.check(stamp is not None, f"created {created!r} is not RFC 3339")
    age = abs(time.time() - stamp)
    t.check(age < 120, f"created {created!r} is {age:.0f}s away from now")


def _rfc3339(text: str) -> float | None:
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if not m:
        return None
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    base = datetime.datetime.fromisoformat(m.group(1) + zone)
    return base.timestamp() + float("0" + (m.group(2) or ""))


@case(
    "compat/log-json-error", spec="contract: --log F --log-format json; the shim reports the last error msg"
)
def log_json_error(t: Ctx) -> None:
    b = t.bundle(["true"])
    b.process["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1})
    log = t.path("log.json")
    c = t.create(b, expect_ok=False, global_args=("--log", log, "--log-format", "json"))
    t.check(not c.create_result.ok, "create accepted an unknown rlimit")
    lines = [ln for ln in (sysutil.read_text(log) or "").splitlines() if ln.strip()]
    t.check(lines, "nothing was written to the --log file")
    errors = []
    for ln in lines:
        try:
            doc = json.loads(ln)
        except ValueError:
            t.fail(f"log line is not JSON: {ln[:200]!r}")
        if doc.get("level") == "error":
            errors.append(doc)
    t.check(errors, "no level=error line in the JSON log")
    t.check(errors[-1].get("msg") and errors[-1].get("time"), f"error line lacks msg or time: {errors[-1]}")


@case("compat/version", spec="contract: --version prints 'NAME version X' and a 'spec: X' line")
def version(t: Ctx) -> None:
    res = subprocess.run([t.suite.runtime, "--version"], capture_output=True, text=True, timeout=15)
    lines = res.stdout.splitlines()
    t.check(res.returncode == 0 and lines, "--version failed")
    t.check(" version " in lines[0], f"first line {lines[0]!r} is not 'NAME version X'")
    t.check(any(ln.startswith("spec: ") for ln in lines), "no 'spec: X' line")


@case("compat/unknown-id-message", spec="contract: containerd matches 'does not exist' to decide NotFound")
def unknown_id_message(t: Ctx) -> None:
    for op in (["state"], ["delete"], ["kill"]):
        res = t.rt(*op, t.new_id("missing"), *(["KILL"] if op == ["kill"] else []))
        t.check(not res.ok, f"{op[0]} of an unknown id succeeded")
        t.check("does not exist" in res.err + res.out, f"{' '.join(op)}: {res.brief()}")


@case("compat/dev-fd-symlinks", spec="runc/crun: /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr symlinks")
def dev_fd_symlinks(t: Ctx) -> None:
    r = t.run_report(
        t.bundle(
            [CHECK, "stat", "/dev/fd", "stat", "/dev/stdin", "stat", "/dev/stdout", "stat", "/dev/stderr"]
        )
    )
    for name in ("fd", "stdin", "stdout", "stderr"):
        t.check((r.get(f"stat:/dev/{name}") or "").startswith("l:"), f"/dev/{name} is not a symlink")


@case("compat/no-pivot", spec="contract: create --no-pivot (MS_MOVE + chroot)")
def no_pivot(t: Ctx) -> None:
    b = t.bundle([CHECK, "stat", "/marker-no-pivot"])
    open(os.path.join(b.rootfs, "marker-no-pivot"), "w").close()
    c = t.create(b, extra=("--no-pivot",))
    c.start()
    c.wait_stopped()
    t.check(
        (c.output().get("stat:/marker-no-pivot") or "").startswith("f:"),
        "the process does not run in the rootfs",
    )


@case("compat/features", spec="features.md: `features` prints the features document")
def features(t: Ctx) -> None:
    res = t.rt("features")
    t.check(res.ok, f"features failed: {res.brief()}")
    try:
        doc = json.loads(res.out)
    except ValueError:
        t.fail("features output is not JSON")
    t.check(
        isinstance(doc.get("ociVersionMin"), str) and isinstance(doc.get("ociVersionMax"), str),
        "features lacks ociVersionMin/ociVersionMax",
    )


@case("compat/sysctl-net-needs-netns", spec="runc: a net.* sysctl without a network namespace is refused")
def sysctl_host_netns(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    cfgmod.drop_namespace(b.config, "network")
    b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/sys"]
    before = sysutil.read_text("/proc/sys/net/ipv4/ip_default_ttl")
    b.linux["sysctl"] = {"net.ipv4.ip_default_ttl": "33"}
    t.refuse(b, "a net.* sysctl in the host network namespace")
    t.eq(sysutil.read_text("/proc/sys/net/ipv4/ip_default_ttl"), before, "the host's net.ipv4.ip_default_ttl")


@case("compat/sysctl-slash-separated-key", spec="runc and crun: sysctl keys may use '/' like sysctl(8)")
def sysctl_slash(t: Ctx) -> None:
    b = t.bundle([CHECK, "cat", "/proc/sys/net/ipv4/ip_default_ttl"])
    b.linux["sysctl"] = {"net/ipv4/ip_default_ttl": "42"}
    r = t.run_report(b)
    t.eq(r.get("cat:/proc/sys/net/ipv4/ip_default_ttl"), "42", "net/ipv4/ip_default_ttl inside")


@case(
    "compat/exec-cwd-only-root-may-enter",
    spec="runc: exec enters cwd before dropping privileges, and again after if that failed",
)
def exec_cwd_only_root_may_enter(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    os.makedirs(b.rootfs + "/private", mode=0o700)
    os.chmod(b.rootfs + "/private", 0o700)
    b.process["cwd"] = "/private"
    b.process["user"] = {"uid": 1000, "gid": 1000}
    c = t.create(b)
    c.start()
    for user in ("1000:1000", "0:0", "2000:2000"):
        res = t.rt("exec", "--user", user, c.id, CHECK, "id")
        t.check(res.ok, f"exec --user {user} in cwd /private failed: {res.brief()}")
        r = Report(res.out)
        t.eq((r.get("uid"), r.get("cwd")), (user.split(":")[0], "/private"), f"exec --user {user}: uid, cwd")


@case(
    "compat/kill-signal-0",
    spec="runc: kill ID 0 checks that the init exists; kill --all ID 0 of a stopped container succeeds",
)
def kill_signal_0(t: Ctx) -> None:
    c = t.create(t.bundle(["sleep", "300"]))
    c.start()
    res = c.kill("0", expect_ok=False)
    t.check(res.ok, f"kill ID 0 of a running container: {res.brief()}")
    res = c.kill("0", expect_ok=False, all_=True)
    t.check(res.ok, f"kill --all ID 0 of a running container: {res.brief()}")
    t.eq(c.status(), "running", "status after signal 0")
    c.kill("KILL")
    c.wait_stopped(5)
    t.eq(c.status(), "stopped", "status after SIGKILL")
    t.check(not c.kill("0", expect_ok=False).ok, "kill ID 0 of a stopped container succeeded")
    res = c.kill("0", expect_ok=False, all_=True)
    t.check(res.ok, f"kill --all ID 0 of a stopped container: {res.brief()}")


@case(
    "compat/exec-failure-status",
    spec="runc: exec exits 255 when it fails before the process runs; the process's own status otherwise",
)
def exec_failure_status(t: Ctx) -> None:
    c = t.create(t.bundle(["sleep", "300"]))
    c.start()
    t.eq(t.rt("exec", c.id, "/bin/sh", "-c", "exit 3").rc, 3, "exit status of a process that exits 3")
    for what, args in (
        ("a binary that does not exist", (c.id, "/no/such/binary")),
        ("a container that does not exist", (t.new_id("missing"), "true")),
        ("a --pid-file in a missing directory", ("--pid-file", t.path("no", "pid"), c.id, "true")),
    ):
        res = t.rt("exec", *args)
        t.eq(res.rc, 255, f"exit status of exec with {what}")


@case("compat/help", spec="runc: the runtime alone, --help and COMMAND --help print help on stdout, exit 0")
def help_(t: Ctx) -> None:
    for args in ((), ("--help",), ("kill", "--help"), ("exec", "--help")):
        res = t.rt(*args)
        what = " ".join(args) or "no command"
        t.eq(res.rc, 0, f"exit status with {what}")
        t.check(res.out.strip(), f"{what}: no help on stdout (stderr: {res.err.strip()[:200]!r})")


@case(
    "compat/shared-root-foreign-state",
    spec="dockerd 20.10 gives every runtime one --root: another runtime's container is not taken for ours",
)
def shared_root_foreign_state(t: Ctx) -> None:
    """A directory holding another runtime's state (youki's state.json shape, naming a live
    process): state must not report it, list must not show it, kill must not signal its process."""
    bystander = subprocess.Popen(["sleep", "300"])
    t.record("pid", [bystander.pid, sysutil.proc_start_time(bystander.pid)])
    cid = t.new_id("foreign")
    directory = os.path.join(t.root, cid)
    try:
        os.makedirs(directory)
        state = {
            "ociVersion": "1.0.2",
            "id": cid,
            "status": "running",
            "pid": bystander.pid,
            "bundle": t.work,
            "annotations": {},
            "created": "2026-01-01T00:00:00Z",
            "creator": 0,
            "use_systemd": False,
        }
        with open(os.path.join(directory, "state.json"), "w") as f:
            json.dump(state, f)
        res = t.rt("state", cid)
        t.check(not res.ok, f"state answered for another runtime's container: {res.out.strip()[:200]}")
        res = t.rt("list", "--format", "json")
        t.check(res.ok, f"list failed: {res.brief()}")
        t.check(cid not in {e.get("id") for e in json.loads(res.out or "[]") or []}, "list shows it")
        t.check(not t.rt("kill", cid, "KILL").ok, "kill of another runtime's container succeeded")
        t.check(bystander.poll() is None, "kill signalled the other runtime's process")
    finally:
        bystander.kill()
        bystander.wait()
        shutil.rmtree(directory, ignore_errors=True)


@case(
    "compat/shared-root-no-extra-directories",
    needs=("seccomp",),
    spec="runc's list takes every directory of --root for a container: a runtime keeps no other there",
)
def shared_root_no_extra_directories(t: Ctx) -> None:
    b = t.bundle(["true"])
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}],
    }
    t.run(b)
    left = [n for n in os.listdir(t.root) if os.path.isdir(os.path.join(t.root, n))]
    t.eq(left, [], "directories left in --root once the container is deleted")


@case(
    "compat/debug-log-json", spec="runc: --debug --log F --log-format json logs create's steps as debug lines"
)
def debug_log_json(t: Ctx) -> None:
    log = t.path("debug.json")
    c = t.create(t.bundle(["sleep", "300"]), global_args=("--debug", "--log", log, "--log-format", "json"))
    t.check(c.create_result.ok, f"create --debug failed: {c.create_result.brief()}")
    lines = [ln for ln in (sysutil.read_text(log) or "").splitlines() if ln.strip()]
    debug = []
    for ln in lines:
        try:
            doc = json.loads(ln)
        except ValueError:
            t.fail(f"log line is not JSON: {ln[:200]!r}")
        if doc.get("level") == "debug" and doc.get("msg") and doc.get("time"):
            debug.append(doc)
    t.check(debug, f"no debug line in the --log file ({len(lines)} lines)")
    quiet = t.path("quiet.json")
    c2 = t.create(t.bundle(["sleep", "300"]), global_args=("--log", quiet, "--log-format", "json"))
    t.check(c2.create_result.ok, f"create failed: {c2.create_result.brief()}")
    noise = [ln for ln in (sysutil.read_text(quiet) or "").splitlines() if '"debug"' in ln]
    t.check(not noise, f"debug lines without --debug: {noise[:2]}")


# ---------------------------------------------------------------- runc 1.2+ command-line features


def _pidfd_listener(t: Ctx):
    import socket

    path = t.path("pidfd.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(5)
    return path, listener


def _receive_pidfd(t: Ctx, listener) -> int:
    import socket

    try:
        conn, _ = listener.accept()
    except OSError as err:
        t.fail(f"nothing connected to the --pidfd-socket: {err}")
    with conn:
        conn.settimeout(5)
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 64, 4)
    for fd in fds[1:]:
        os.close(fd)
    t.eq(len(fds), 1, "fds received over the --pidfd-socket")
    return fds[0]


def _pidfd_pid(fd: int) -> int | None:
    text = sysutil.read_text(f"/proc/self/fdinfo/{fd}") or ""
    for line in text.splitlines():
        if line.startswith("Pid:"):
            return int(line.split()[1])
    return None


@case(
    "compat/pidfd-socket-create", spec="runc 1.2+: create --pidfd-socket S sends a pidfd of the init over S"
)
def pidfd_socket_create(t: Ctx) -> None:
    import signal

    path, listener = _pidfd_listener(t)
    with listener:
        c = t.create(t.bundle(["sleep", "300"]), extra=("--pidfd-socket", path))
        fd = _receive_pidfd(t, listener)
    try:
        t.eq(_pidfd_pid(fd), c.pid, "process of the received pidfd")
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    finally:
        os.close(fd)
    c.wait_stopped(10)


@case("compat/pidfd-socket-exec", spec="runc 1.2+: exec --pidfd-socket S sends a pidfd of the new process")
def pidfd_socket_exec(t: Ctx) -> None:
    c = t.create(t.bundle(["sleep", "300"]))
    c.start()
    path, listener = _pidfd_listener(t)
    pid_path = t.path("exec.pid")
    with listener:
        res = t.rt("exec", "--detach", "--pid-file", pid_path, "--pidfd-socket", path, c.id, "sleep", "301")
        t.check(res.ok, f"exec --pidfd-socket failed: {res.brief()}")
        fd = _receive_pidfd(t, listener)
    try:
        t.eq(_pidfd_pid(fd), int(sysutil.read_text(pid_path) or "0"), "process of the received pidfd")
    finally:
        os.close(fd)


@case(
    "compat/exec-cgroup", spec="runc: exec --cgroup PATH puts the process in a sub-cgroup of the container's"
)
def exec_cgroup(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    b.linux["cgroupsPath"] = t.cgroup_path("execcg")
    name = b.linux["cgroupsPath"].lstrip("/")
    c = t.create(b)
    c.start()
    init = {k: v for k, v in sysutil.proc_cgroups(c.pid).items() if name in v}
    t.check(init, "the container's init is in none of its cgroups")
    for controller, path in init.items():
        mount = t.host.hierarchies.get(controller)
        if not mount:
            continue
        base = os.path.join(mount, path.lstrip("/"))
        os.makedirs(os.path.join(base, "sub"), exist_ok=True)
        for key in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset child takes no task while empty
            value = sysutil.read_text(os.path.join(base, key))
            if value is not None and os.path.exists(os.path.join(base, "sub", key)):
                with open(os.path.join(base, "sub", key), "w") as f:
                    f.write(value)
    pid_path = t.path("exec.pid")
    res = t.rt("exec", "--detach", "--pid-file", pid_path, "--cgroup", "sub", c.id, "sleep", "301")
    t.check(res.ok, f"exec --cgroup failed: {res.brief()}")
    joined = sysutil.proc_cgroups(int(sysutil.read_text(pid_path) or "0"))
    for controller, path in init.items():
        t.eq(joined.get(controller), path.rstrip("/") + "/sub", f"{controller} cgroup of the exec'd process")
