"""config-linux.md sysctl and seccomp."""

from __future__ import annotations

import json
import os
import signal

from .. import config as cfgmod
from .. import sysutil
from ..ctx import Ctx, errno_of
from ..registry import case

CHECK = cfgmod.CHECKER
ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
DOCKER_PROFILE = "/usr/share/containers/seccomp.json"


# ------------------------------------------------------------------ sysctl


@case("sysctl/net-in-network-namespace", spec="config-linux.md sysctl: kernel parameters for the container")
def sysctl_net(t: Ctx) -> None:
    before = sysutil.read_text("/proc/sys/net/ipv4/ip_forward")
    b = t.bundle([CHECK, "cat", "/proc/sys/net/ipv4/ip_forward", "cat", "/proc/sys/net/ipv4/tcp_syncookies"])
    want_fwd = "0" if (before or "").strip() == "1" else "1"
    b.linux["sysctl"] = {"net.ipv4.ip_forward": want_fwd, "net.ipv4.tcp_syncookies": "0"}
    r = t.run_report(b)
    t.eq(r.get("cat:/proc/sys/net/ipv4/ip_forward"), want_fwd, "net.ipv4.ip_forward inside")
    t.eq(r.get("cat:/proc/sys/net/ipv4/tcp_syncookies"), "0", "net.ipv4.tcp_syncookies inside")
    t.eq(sysutil.read_text("/proc/sys/net/ipv4/ip_forward"), before, "the host's net.ipv4.ip_forward")


@case("sysctl/ipc-in-ipc-namespace", spec="config-linux.md sysctl: namespaced kernel.* (ipc) parameters")
def sysctl_ipc(t: Ctx) -> None:
    before = sysutil.read_text("/proc/sys/kernel/msgmax")
    b = t.bundle([CHECK, "cat", "/proc/sys/kernel/msgmax", "cat", "/proc/sys/kernel/shmmni"])
    b.linux["sysctl"] = {"kernel.msgmax": "4321", "kernel.shmmni": "1234"}
    r = t.run_report(b)
    t.eq(r.get("cat:/proc/sys/kernel/msgmax"), "4321", "kernel.msgmax inside")
    t.eq(r.get("cat:/proc/sys/kernel/shmmni"), "1234", "kernel.shmmni inside")
    t.eq(sysutil.read_text("/proc/sys/kernel/msgmax"), before, "the host's kernel.msgmax")


# ------------------------------------------------------------------ seccomp


def _seccomp(rules: list[dict], default: str = "SCMP_ACT_ALLOW") -> dict:
    return {"defaultAction": default, "architectures": ARCHES, "syscalls": rules}


@case("seccomp/errno-ret", needs=("seccomp",), spec="config-linux.md seccomp: SCMP_ACT_ERRNO with errnoRet")
def errno_ret(t: Ctx) -> None:
    b = t.bundle([CHECK, "mkdir", "/tmp/blocked", "write", "/tmp/allowed"])
    b.linux["seccomp"] = _seccomp(
        [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
    )
    r = t.run_report(b)
    t.eq(r.get("mkdir:/tmp/blocked"), "err:42", "mkdir under an ERRNO(42) rule")
    t.eq(r.get("write:/tmp/allowed"), "ok", "an unfiltered syscall")


@case(
    "seccomp/errno-default-eperm",
    needs=("seccomp",),
    spec="config-linux.md seccomp: SCMP_ACT_ERRNO defaults to EPERM",
)
def errno_default(t: Ctx) -> None:
    b = t.bundle([CHECK, "mkdir", "/tmp/blocked"])
    b.linux["seccomp"] = _seccomp([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    r = t.run_report(b)
    t.eq(errno_of(r.get("mkdir:/tmp/blocked")), "EPERM", "mkdir under an ERRNO rule without errnoRet")


@case("seccomp/filter-mode", needs=("seccomp",), spec="config-linux.md seccomp: a filter is installed")
def filter_mode(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    b.linux["seccomp"] = _seccomp([{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}])
    c = t.create(b)
    c.start()
    t.eq(t.proc_status(c.pid).get("Seccomp"), "2", "Seccomp mode in /proc/PID/status (2 = filter)")


def _killed_by(t: Ctx, action: str) -> None:
    b = t.bundle([CHECK, "getppid"])
    b.linux["seccomp"] = _seccomp([{"names": ["getppid"], "action": action}])
    c = t.create(b)
    c.start()
    status = c.wait_exit()
    t.check(status is not None, "the process did not exit")
    t.check("getppid" not in c.output(), f"the process survived getppid under {action}")
    if status >= 0:
        t.check(
            os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS,
            f"wait status {status:#x}, want killed by SIGSYS",
        )


@case("seccomp/kill", needs=("seccomp",), spec="config-linux.md seccomp: SCMP_ACT_KILL")
def kill(t: Ctx) -> None:
    _killed_by(t, "SCMP_ACT_KILL")


@case("seccomp/kill-process", needs=("seccomp",), spec="config-linux.md seccomp: SCMP_ACT_KILL_PROCESS")
def kill_process(t: Ctx) -> None:
    _killed_by(t, "SCMP_ACT_KILL_PROCESS")


@case("seccomp/trap", needs=("seccomp",), spec="config-linux.md seccomp: SCMP_ACT_TRAP sends SIGSYS")
def trap(t: Ctx) -> None:
    _killed_by(t, "SCMP_ACT_TRAP")


@case(
    "seccomp/argument-filter", needs=("seccomp",), spec="config-linux.md seccomp: args with index, value, op"
)
def argument_filter(t: Ctx) -> None:
    b = t.bundle([CHECK, "socket", "inet", "socket", "unix"])
    rule = {
        "names": ["socket"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 97,
        "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}],
    }
    b.linux["seccomp"] = _seccomp([rule])
    r = t.run_report(b)
    t.eq(r.get("socket:inet"), "err:97", "socket(AF_INET) under an arg0 == AF_INET rule")
    t.eq(r.get("socket:unix"), "ok", "socket(AF_UNIX), which the rule does not match")


@case(
    "seccomp/default-action-errno",
    needs=("seccomp",),
    spec="config-linux.md seccomp: defaultAction with an allowlist",
)
def default_action_errno(t: Ctx) -> None:
    """Allowlist: ALLOW names of Debian's containers/common profile (no arg/cap conditions) but getppid."""
    try:
        with open(DOCKER_PROFILE) as f:
            profile = json.load(f)
    except (OSError, ValueError):
        t.skip(
            f"{DOCKER_PROFILE} (golang-github-containers-common) is not installed to build an allowlist from"
        )
    names = set()
    for rule in profile.get("syscalls", []):
        includes = rule.get("includes") or {}
        only_arch = set(includes) <= {"arches"} and (not includes or "amd64" in includes["arches"])
        if (
            rule.get("action") == "SCMP_ACT_ALLOW"
            and not rule.get("args")
            and only_arch
            and not rule.get("excludes")
        ):
            names.update(rule["names"])
    names.discard("getppid")
    b = t.bundle([CHECK, "getppid", "write", "/tmp/allowed"])
    b.linux["seccomp"] = _seccomp(
        [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}], default="SCMP_ACT_ERRNO"
    )
    b.linux["seccomp"]["defaultErrnoRet"] = 38
    r = t.run_report(b)
    t.eq(r.get("getppid"), "err:38", "getppid, not in the allowlist (defaultErrnoRet 38)")
    t.eq(r.get("write:/tmp/allowed"), "ok", "allowed syscalls")


@case(
    "seccomp/getcwd-denied-without-nnp",
    needs=("seccomp",),
    spec="config-linux.md seccomp: a profile may deny getcwd; the runtime's own cwd check must not need it",
)
def getcwd_denied_without_nnp(t: Ctx) -> None:
    """Without noNewPrivileges the filter is loaded before privileges are dropped (issue 16)."""
    b = t.bundle([CHECK, "getppid"])
    b.process["noNewPrivileges"] = False
    b.process["cwd"] = "/tmp"
    b.linux["seccomp"] = _seccomp([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}])
    r = t.run_report(b)
    got = r.get("getppid") or ""
    t.check(got and not got.startswith("err"), f"getppid under a profile that denies only getcwd: {got!r}")


@case(
    "seccomp/notify-exec",
    needs=("seccomp",),
    spec="config-linux.md seccomp listenerPath: every process loading the filter sends its fd (runc: exec)",
)
def notify_exec(t: Ctx) -> None:
    import array
    import socket

    sock_path = t.path("agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(4)
    server.settimeout(10)
    b = t.bundle(["sleep", "300"])
    b.linux["seccomp"] = _seccomp([{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}])
    b.linux["seccomp"]["listenerPath"] = sock_path
    b.linux["seccomp"]["listenerMetadata"] = "conformance"
    c = t.create(b)
    c.start()
    pid_path = t.path("exec.pid")
    res = t.rt("exec", "--pid-file", pid_path, c.id, CHECK, "getppid")
    t.check(res.ok, f"exec into a container with a NOTIFY profile failed: {res.brief()}")
    exec_pid = int(sysutil.read_text(pid_path) or "0")
    messages = []
    for _ in range(2):
        conn, _ = server.accept()
        with conn:
            conn.settimeout(10)
            fds = array.array("i")
            data, ancdata, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4 * fds.itemsize))
            while True:
                more = conn.recv(65536)
                if not more:
                    break
                data += more
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(cdata[: len(cdata) - (len(cdata) % fds.itemsize)])
            for fd in fds:
                os.close(fd)
            messages.append((json.loads(data), len(fds)))
    server.close()
    state, nfds = messages[1]
    t.eq(nfds, 1, "fds sent with the exec's message")
    t.eq(state.get("fds"), ["seccompFd"], "fds")
    t.eq(state.get("metadata"), "conformance", "metadata")
    t.eq((state.get("state") or {}).get("id"), c.id, "state.id")
    t.eq((state.get("state") or {}).get("pid"), c.pid, "state.pid (the container's init)")
    t.eq(state.get("pid"), exec_pid, "pid (the exec'd process)")
