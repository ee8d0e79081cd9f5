"""config.md Process: args, env, cwd, user, capabilities, rlimits, noNewPrivileges, oomScoreAdj,
terminal (with a console socket), and the LSM fields this host cannot honour; hostname/domainname."""

from __future__ import annotations

import array
import fcntl
import os
import select
import socket
import termios
import time

from .. import config as cfgmod
from .. import probes, sysutil
from ..ctx import Ctx, Report
from ..registry import case

CHECK = cfgmod.CHECKER


@case("process/args", spec="config.md process.args: argv of the program, execvp semantics")
def args(t: Ctx) -> None:
    argv = [CHECK, "argv", "plain", "with space", "", "quote'\"", "ünï"]
    r = t.run_report(t.bundle(argv))
    got = [r.get(f"argv.{i}") for i in range(int(r.get("argc") or 0))]
    t.eq(got, argv, "argv seen by the program")


@case(
    "process/args-path-lookup", spec="config.md process.args: args[0] is looked up like execvp's file (PATH)"
)
def args_path_lookup(t: Ctx) -> None:
    b = t.bundle(["cfcheck", "argv"])
    os.rename(b.rootfs + CHECK, b.rootfs + "/usr/bin/cfcheck")
    r = t.run_report(b)
    t.eq(r.get("argv.0"), "cfcheck", "argv[0] of a program found through PATH")


@case("process/env", spec="config.md process.env: the environment, environ semantics")
def env(t: Ctx) -> None:
    b = t.bundle([CHECK, "env"])
    wanted = [cfgmod.PATH_ENV, "HOME=/root", "OCI_A=1", "OCI_SPACES=a b  c", "OCI_EMPTY="]
    b.process["env"] = wanted
    c = t.create(b, env={**os.environ, "OCISUITE_HOST_ONLY": "leak"})
    c.start()
    c.wait_stopped()
    got = c.output().all("env")
    for item in wanted:
        t.check(item in got, f"{item!r} missing from the environment {got}")
    t.check(
        not any(e.startswith("OCISUITE_HOST_ONLY=") for e in got), "the runtime's own environment leaked in"
    )


@case("process/cwd", spec="config.md process.cwd: the working directory of the program")
def cwd(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.process["cwd"] = "/tmp"
    t.eq(t.run_report(b).get("cwd"), "/tmp", "cwd")


@case("process/cwd-created")
def cwd_created(t: Ctx) -> None:
    """runc and crun create a missing cwd inside the rootfs (managers rely on it for WORKDIR)."""
    b = t.bundle([CHECK, "id"])
    b.process["cwd"] = "/does/not/exist"
    t.eq(t.run_report(b).get("cwd"), "/does/not/exist", "cwd")


@case("process/user-uid-gid", spec="config.md user: uid and gid in the container namespace")
def user_uid_gid(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.process["user"] = {"uid": 1234, "gid": 2345}
    r = t.run_report(b)
    for key, want in (("uid", "1234"), ("euid", "1234"), ("suid", "1234"), ("gid", "2345"), ("egid", "2345")):
        t.eq(r.get(key), want, key)
    t.eq(r.get("groups"), "", "supplementary groups with no additionalGids (none kept from the runtime)")


@case("process/user-additional-gids", spec="config.md user: additionalGids are added to the process")
def user_additional_gids(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 100, 3000]}
    r = t.run_report(b)
    t.eq(sorted(int(g) for g in (r.get("groups") or "").split(",") if g), [5, 100, 3000], "groups")
    pid_view = r.get("gid")
    t.eq(pid_view, "1000", "gid")


@case("process/user-umask", spec="config.md user.umask: the umask of the process")
def user_umask(t: Ctx) -> None:
    b = t.bundle([CHECK, "id", "write", "/tmp/f", "stat", "/tmp/f"])
    b.process["user"] = {"uid": 0, "gid": 0, "umask": 0o027}
    r = t.run_report(b)
    t.eq(r.get("umask"), "0027", "umask")
    t.eq((r.get("stat:/tmp/f") or "").split(":")[1:2], ["0640"], "mode of a file created with mode 0644")


@case("process/host-view-of-ids", spec="config.md user: checked from the host's /proc/PID/status")
def host_view_of_ids(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    b.process["user"] = {"uid": 1500, "gid": 1600, "additionalGids": [7]}
    c = t.create(b)
    c.start()
    st = t.proc_status(c.pid)
    t.eq(st["Uid"].split(), ["1500"] * 4, "host Uid line")
    t.eq(st["Gid"].split(), ["1600"] * 4, "host Gid line")
    t.eq(st["Groups"].split(), ["7"], "host Groups line")


# ------------------------------------------------------------------ capabilities

CAPS = {
    "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"],
    "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETPCAP"],
    "effective": ["CAP_CHOWN", "CAP_KILL"],
    "inheritable": ["CAP_KILL", "CAP_SETUID"],
    "ambient": ["CAP_KILL"],
}
STATUS_KEY = {
    "bounding": "CapBnd",
    "permitted": "CapPrm",
    "effective": "CapEff",
    "inheritable": "CapInh",
    "ambient": "CapAmb",
}
REPORT_KEY = {
    "bounding": "cap_bnd",
    "permitted": "cap_prm",
    "effective": "cap_eff",
    "inheritable": "cap_inh",
    "ambient": "cap_amb",
}


def _caps_case(kind: str):
    @case(
        f"process/capabilities-{kind}", spec=f"config.md capabilities.{kind}: the {kind} set of the process"
    )
    def check(t: Ctx) -> None:
        b = t.bundle([CHECK, "id", "pause"])
        b.process["capabilities"] = {k: list(v) for k, v in CAPS.items()}
        c = t.create(b)
        c.start()
        c.wait_for_key("tty2")
        status = t.proc_status(c.pid)
        outside = probes.cap_names(int(status[STATUS_KEY[kind]], 16))
        inside = probes.cap_names(int(c.output().get(REPORT_KEY[kind]) or "0", 16))
        want = set(CAPS[kind])
        if kind == "effective":
            # For uid 0 the kernel recomputes effective = permitted at execve (capabilities(7));
            # what a runtime controls is that every configured effective capability is present and
            # nothing beyond the permitted set is.
            permitted = probes.cap_names(int(status["CapPrm"], 16))
            t.check(
                want <= outside <= permitted,
                f"effective {sorted(outside)} not within {sorted(want)}..{sorted(permitted)}",
            )
            t.eq(inside, outside, "effective set seen by the process vs. from the host")
            return
        t.eq(sorted(outside), sorted(want), f"{kind} set seen from the host (/proc/PID/status)")
        t.eq(sorted(inside), sorted(want), f"{kind} set seen by the process")

    return check


for _kind in CAPS:
    _caps_case(_kind)


@case(
    "process/capabilities-ambient-nonroot",
    spec="config.md capabilities.ambient: kept across execve by a non-root user",
)
def caps_ambient_nonroot(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["capabilities"] = {
        k: ["CAP_NET_BIND_SERVICE"] for k in ("bounding", "permitted", "effective", "inheritable", "ambient")
    }
    r = t.run_report(b)
    t.eq(
        sorted(probes.cap_names(int(r.get("cap_eff") or "0", 16))),
        ["CAP_NET_BIND_SERVICE"],
        "effective set of uid 1000 with an ambient capability",
    )


@case("process/capabilities-empty", spec="config.md capabilities: an absent set means no capabilities in it")
def caps_empty(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.process["capabilities"] = {"bounding": ["CAP_KILL"]}
    r = t.run_report(b)
    for key in ("cap_prm", "cap_eff", "cap_inh", "cap_amb"):
        t.eq(r.get(key), "0000000000000000", key)
    t.eq(sorted(probes.cap_names(int(r.get("cap_bnd") or "0", 16))), ["CAP_KILL"], "bounding set")


# ------------------------------------------------------------------ rlimits and the rest


@case("process/rlimits", spec="config.md rlimits: rlim_cur and rlim_max MUST match the configured values")
def rlimits(t: Ctx) -> None:
    wanted = {
        "NOFILE": (256, 512),
        "CORE": (0, 4096),
        "NPROC": (500, 600),
        "MSGQUEUE": (4096, 8192),
        "STACK": (1 << 22, 1 << 23),
        "CPU": (100, 200),
    }
    b = t.bundle(["sleep", "300"])
    b.process["rlimits"] = [{"type": f"RLIMIT_{k}", "soft": s, "hard": h} for k, (s, h) in wanted.items()]
    c = t.create(b)
    c.start()
    limits = _proc_limits(t, c.pid)
    names = {
        "NOFILE": "Max open files",
        "CORE": "Max core file size",
        "NPROC": "Max processes",
        "MSGQUEUE": "Max msgqueue size",
        "STACK": "Max stack size",
        "CPU": "Max cpu time",
    }
    for key, (soft, hard) in wanted.items():
        t.eq(limits.get(names[key]), (str(soft), str(hard)), f"RLIMIT_{key} in /proc/PID/limits")


@case(
    "process/rlimits-inside",
    spec="config.md rlimits: getrlimit in the container returns the configured values",
)
def rlimits_inside(t: Ctx) -> None:
    b = t.bundle([CHECK, "rlimits"])
    b.process["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
        {"type": "RLIMIT_MEMLOCK", "soft": 65536, "hard": 65536},
    ]
    r = t.run_report(b)
    t.eq(r.get("rlimit.NOFILE"), "100:200", "RLIMIT_NOFILE")
    t.eq(r.get("rlimit.MEMLOCK"), "65536:65536", "RLIMIT_MEMLOCK")


@case(
    "process/rlimits-raise-hard", needs=("cap_sys_resource",), spec="config.md rlimits: raising a hard limit"
)
def rlimits_raise_hard(t: Ctx) -> None:
    b = t.bundle([CHECK, "rlimits"])
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1 << 20, "hard": 1 << 20}]
    r = t.run_report(b)
    t.eq(r.get("rlimit.NOFILE"), f"{1 << 20}:{1 << 20}", "RLIMIT_NOFILE raised above the runtime's own")


@case("process/no-new-privileges-true", spec="config.md noNewPrivileges: true prevents gaining privileges")
def nnp_true(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.process["noNewPrivileges"] = True
    r = t.run_report(b)
    t.eq(r.get("nnp"), "1", "prctl(PR_GET_NO_NEW_PRIVS)")


@case("process/no-new-privileges-false", spec="config.md noNewPrivileges: false leaves it unset")
def nnp_false(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    b.process["noNewPrivileges"] = False
    c = t.create(b)
    c.start()
    t.eq(t.proc_status(c.pid).get("NoNewPrivs"), "0", "NoNewPrivs in /proc/PID/status")


@case("process/oom-score-adj", spec="config.md oomScoreAdj: MUST set oom_score_adj to the given value")
def oom_score_adj(t: Ctx) -> None:
    value = max(t.host.oom_score_adj, 0) + 123
    b = t.bundle(["sleep", "300"])
    b.process["oomScoreAdj"] = value
    c = t.create(b)
    c.start()
    t.eq(
        (sysutil.read_text(f"/proc/{c.pid}/oom_score_adj") or "").strip(),
        str(value),
        "/proc/PID/oom_score_adj",
    )


@case(
    "process/oom-score-adj-lowered",
    needs=("cap_sys_resource",),
    spec="config.md oomScoreAdj: a negative value",
)
def oom_score_adj_lowered(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    b.process["oomScoreAdj"] = -500
    c = t.create(b)
    t.eq((sysutil.read_text(f"/proc/{c.pid}/oom_score_adj") or "").strip(), "-500", "/proc/PID/oom_score_adj")


@case("process/oom-score-adj-unset", spec="config.md oomScoreAdj: if not set, MUST NOT change oom_score_adj")
def oom_score_adj_unset(t: Ctx) -> None:
    b = t.bundle(["sleep", "300"])
    c = t.create(b, env=None)
    got = (sysutil.read_text(f"/proc/{c.pid}/oom_score_adj") or "").strip()
    t.eq(got, str(t.host.oom_score_adj), "/proc/PID/oom_score_adj (the caller's value)")


@case("process/apparmor-profile", needs=("apparmor",), spec="config.md apparmorProfile")
def apparmor_profile(t: Ctx) -> None:
    b = t.bundle([CHECK, "cat", "/proc/self/attr/current"])
    b.process["apparmorProfile"] = "unconfined"
    r = t.run_report(b)
    t.check("unconfined" in (r.get("cat:/proc/self/attr/current") or ""), "AppArmor profile not applied")


@case("process/selinux-label", needs=("selinux",), spec="config.md selinuxLabel")
def selinux_label(t: Ctx) -> None:
    b = t.bundle([CHECK, "cat", "/proc/self/attr/current"])
    b.process["selinuxLabel"] = "system_u:system_r:container_t:s0"
    r = t.run_report(b)
    t.check("container_t" in (r.get("cat:/proc/self/attr/current") or ""), "SELinux label not applied")


@case(
    "process/terminal-console-socket",
    timeout=40,
    spec="config.md terminal: a pty on the standard streams; the master goes over --console-socket",
)
def terminal_console_socket(t: Ctx) -> None:
    b = t.bundle([CHECK, "id", "stat", "/dev/console"])
    b.process["terminal"] = True
    b.process["consoleSize"] = {"height": 33, "width": 111}
    c, conn = _create_with_console_socket(t, b)
    fds = _receive_fds(t, conn)
    t.eq(len(fds), 1, "fds received over the console socket")
    master = fds[0]
    t.check(_is_pty_master(master), "the fd received is not a pty master")
    c.start()
    text = _drain(master, c)
    r = _report_from_tty(text)
    for i in range(3):
        t.check((r.get(f"tty{i}") or "no") != "no", f"fd {i} of the process is not a terminal")
    t.eq(r.get("winsize"), "33x111", "terminal size rows x cols (consoleSize)")
    t.check((r.get("stat:/dev/console") or "").startswith("c:"), "/dev/console is not a character device")


def _create_with_console_socket(t: Ctx, b) -> tuple:
    """Create with --console-socket; returns the container and the runtime's connection."""
    sock_path = t.path("console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    c = t.create(b, extra=("--console-socket", sock_path))
    listener.settimeout(5)
    conn, _ = listener.accept()
    return c, conn


@case(
    "process/no-terminal-pipes", spec="config.md terminal: defaults to false (the caller's stdio is passed)"
)
def no_terminal(t: Ctx) -> None:
    r = t.run_report(t.bundle([CHECK, "id"]))
    for i in range(3):
        t.eq(r.get(f"tty{i}"), "no", f"fd {i} is a terminal without process.terminal")


def _terminal_slave_owner(t: Ctx, user: dict) -> os.stat_result:
    b = t.bundle(["sleep", "300"])
    b.process["terminal"] = True
    b.process["user"] = user
    c, conn = _create_with_console_socket(t, b)
    for fd in _receive_fds(t, conn):
        os.close(fd)
    return os.stat(f"/proc/{c.pid}/fd/0")


@case(
    "process/terminal-owned-by-user",
    spec="runc: the pty of terminal: true belongs to process.user.uid (the group stays devpts' gid)",
)
def terminal_owned_by_user(t: Ctx) -> None:
    """Otherwise a non-root process cannot reopen its own terminal or change its mode (issue 18)."""
    slave = _terminal_slave_owner(t, {"uid": 1000, "gid": 1000})
    t.eq(slave.st_uid, 1000, "owner uid of the pty slave")
    t.eq(slave.st_gid, 5, "group of the pty slave (devpts gid=5, as the base config mounts it)")


# ------------------------------------------------------------------ HOME, cwd, what the runtime lacks


def _hostile_passwd(t: Ctx, kind: str) -> None:
    """HOME unset: the runtime reads the container's /etc/passwd, which the image controls. It must
    return promptly (the suite's timeout fails a runtime that spins or blocks), either refusing with
    an error or falling back to a HOME."""
    b = t.bundle([CHECK, "env"])
    b.process["env"] = [cfgmod.PATH_ENV]
    path = b.rootfs + "/etc/passwd"
    if os.path.lexists(path):
        os.unlink(path)
    if kind == "dev-zero":
        os.symlink("/dev/zero", path)
    else:
        os.mkfifo(path)
    c = t.create(b, expect_ok=False)
    if not c.create_result.ok:
        t.check(c.create_result.err.strip(), "create failed without saying why")
        t.assert_gone(c)
        return
    c.start()
    c.wait_stopped()
    homes = [e for e in c.output().all("env") if e.startswith("HOME=")]
    t.check(homes, "the process started without HOME")


@case("process/home-passwd-dev-zero", spec="runc: HOME from /etc/passwd; a line that never ends fails fast")
def home_passwd_dev_zero(t: Ctx) -> None:
    _hostile_passwd(t, "dev-zero")


@case("process/home-passwd-fifo", spec="HOME from /etc/passwd: a fifo there must not block create")
def home_passwd_fifo(t: Ctx) -> None:
    _hostile_passwd(t, "fifo")


@case(
    "process/cwd-only-root-may-enter",
    spec="runc: cwd is entered before dropping privileges, and again after if that failed",
)
def cwd_only_root_may_enter(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    os.makedirs(b.rootfs + "/private", mode=0o700)
    os.chmod(b.rootfs + "/private", 0o700)
    b.process["cwd"] = "/private"
    b.process["user"] = {"uid": 1000, "gid": 1000}
    r = t.run_report(b)
    t.eq(r.get("cwd"), "/private", "cwd of uid 1000 in a 0700 root directory")
    t.eq(r.get("uid"), "1000", "uid")


@case(
    "process/capabilities-outside-runtime-bounding",
    spec="a capability the runtime itself lacks: create fails, naming it (issue 18)",
)
def caps_outside_runtime_bounding(t: Ctx) -> None:
    if not os.path.exists("/usr/bin/setpriv"):
        t.skip("needs setpriv (util-linux) to start the runtime with a smaller bounding set")
    b = t.bundle([CHECK, "id"])
    caps = b.process.setdefault("capabilities", {})
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = [*caps.get(kind, []), "CAP_SYS_TIME"]
    c = t.create(b, expect_ok=False, prefix=("/usr/bin/setpriv", "--bounding-set", "-sys_time", "--"))
    t.check(not c.create_result.ok, "create granted a capability the runtime does not have")
    t.assert_gone(c)
    t.check(
        "CAP_SYS_TIME" in c.create_result.err, f"the error does not name it: {c.create_result.err.strip()}"
    )


# ------------------------------------------------------------------ hostname / domainname


@case("uts/hostname", spec="config.md hostname: the container's hostname in its UTS namespace")
def hostname(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.config["hostname"] = "conformance-host"
    t.eq(t.run_report(b).get("hostname"), "conformance-host", "uname nodename")
    t.check(os.uname().nodename != "conformance-host", "the host's hostname changed")


@case("uts/domainname", spec="config.md domainname: the container's domainname in its UTS namespace")
def domainname(t: Ctx) -> None:
    b = t.bundle([CHECK, "id"])
    b.config["domainname"] = "conformance.example"
    t.eq(t.run_report(b).get("domainname"), "conformance.example", "uname domainname")


# ------------------------------------------------------------------ helpers


def _proc_limits(t: Ctx, pid: int) -> dict[str, tuple[str, str]]:
    text = sysutil.read_text(f"/proc/{pid}/limits")
    t.check(text is not None, f"cannot read /proc/{pid}/limits")
    limits = {}
    for line in text.splitlines()[1:]:
        name = line[:26].strip()
        rest = line[26:].split()
        if len(rest) >= 2:
            limits[name] = (rest[0], rest[1])
    return limits


def _receive_fds(t: Ctx, conn: socket.socket) -> list[int]:
    conn.settimeout(5)
    fds = array.array("i")
    msg, ancdata, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    t.check(msg, "the console socket message carried no payload (the pty name)")
    return list(fds)


def _is_pty_master(fd: int) -> bool:
    try:
        buf = array.array("i", [0])
        fcntl.ioctl(fd, termios.TIOCGPTN if hasattr(termios, "TIOCGPTN") else 0x80045430, buf)
        return True
    except OSError:
        return False


def _drain(master: int, c, timeout: float = 5.0) -> str:
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif c.wait_exit(0.01) is not None:
            break
    return b"".join(chunks).decode(errors="replace")


def _report_from_tty(text: str) -> Report:
    return Report(text.replace("\r\n", "\n"))
