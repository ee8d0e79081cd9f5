"""Credentials and limits (issue 3, item 4): capabilities in all five sets, noNewPrivileges,
rlimits, oomScoreAdj, sysctl, personality, scheduler, ioPriority, execCPUAffinity, the LSM labels
this host cannot apply, and uid/gid/additionalGids/umask.

Checked from outside in /proc/PID/{status,limits,stat,personality,oom_score_adj} and with
ioprio_get(2), and from inside with busybox. A created container's init has already taken the
process's credentials while it waits on exec.fifo, so the exact capability sets of the config are
visible there; after execve the kernel recomputes them (capabilities(7))."""

from __future__ import annotations

import ctypes
import json
import os
import resource

import pytest

from .helpers import (
    cap_mask,
    exec_inside,
    fails,
    long_running,
    proc_limits,
    proc_stat,
    proc_status,
    run_inside,
    running,
)

CAPS = {
    "bounding": [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_AUDIT_WRITE",
        "CAP_SYS_CHROOT",
    ],
    "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
    "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
    "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
    "ambient": ["CAP_NET_BIND_SERVICE"],
}
STATUS_FIELDS = {
    "bounding": "CapBnd",
    "permitted": "CapPrm",
    "effective": "CapEff",
    "inheritable": "CapInh",
    "ambient": "CapAmb",
}


def caps_of(pid: int) -> dict[str, int]:
    status = proc_status(pid)
    return {kind: int(status[field], 16) for kind, field in STATUS_FIELDS.items()}


def test_all_five_capability_sets_are_exactly_the_configs(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    bundle.config["process"]["capabilities"] = CAPS
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.write()
    want = {kind: cap_mask(names) for kind, names in CAPS.items()}
    with running(runtime, bundle, cid, start=False) as pid:
        assert caps_of(pid) == want, "the init, credentials applied, before execve"
        runtime("start", cid)
        # execve as a non-root user without file capabilities: permitted and effective become
        # the ambient set; bounding, inheritable and ambient carry over.
        after = {**want, "permitted": want["ambient"], "effective": want["ambient"]}
        assert caps_of(pid) == after, "the process after execve"


def test_inheritable_never_comes_from_defaults(runtime, make_bundle, cid):
    """CVE-2022-29162: a process must not start with inheritable capabilities nobody asked for
    (the hello config lists bounding, effective, permitted and ambient, no inheritable)."""
    bundle = long_running(make_bundle())
    with running(runtime, bundle, cid) as pid:
        caps = caps_of(pid)
    assert caps["inheritable"] == 0 and caps["ambient"] == 0, caps
    assert caps["bounding"] == cap_mask(bundle.config["process"]["capabilities"]["bounding"])


def test_a_process_without_capabilities_gets_none(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    del bundle.config["process"]["capabilities"]
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert caps_of(pid) == dict.fromkeys(STATUS_FIELDS, 0)


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_no_new_privileges(runtime, make_bundle, cid, no_new_privileges):
    bundle = long_running(make_bundle())
    bundle.config["process"]["noNewPrivileges"] = no_new_privileges
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert proc_status(pid)["NoNewPrivs"] == str(int(no_new_privileges))


# --------------------------------------------------------------------------------------------------
# rlimits

LIMIT_NAMES = {
    "RLIMIT_NOFILE": ("Max open files", resource.RLIMIT_NOFILE),
    "RLIMIT_CORE": ("Max core file size", resource.RLIMIT_CORE),
    "RLIMIT_MEMLOCK": ("Max locked memory", resource.RLIMIT_MEMLOCK),
    "RLIMIT_MSGQUEUE": ("Max msgqueue size", resource.RLIMIT_MSGQUEUE),
    "RLIMIT_STACK": ("Max stack size", resource.RLIMIT_STACK),
}


def lowered_rlimits() -> list[dict]:
    """Limits below ours (this machine cannot raise a hard limit: no CAP_SYS_RESOURCE)."""
    out = []
    for name, (_, number) in LIMIT_NAMES.items():
        hard = resource.getrlimit(number)[1]
        hard = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        out.append({"type": name, "soft": hard // 4, "hard": hard // 2})
    return out


def test_rlimits_are_set(runtime, make_bundle, cid):
    rlimits = lowered_rlimits()
    bundle = long_running(make_bundle())
    bundle.config["process"]["rlimits"] = rlimits
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        limits = proc_limits(pid)
        for rlimit in rlimits:
            label = LIMIT_NAMES[rlimit["type"]][0]
            assert limits[label] == (str(rlimit["soft"]), str(rlimit["hard"])), label
        inside = exec_inside(runtime, cid, "ulimit -n; ulimit -Hn").stdout.split()
    nofile = rlimits[0]
    assert inside == [str(nofile["soft"]), str(nofile["hard"])]


def raised_nofile() -> dict:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 1}


def test_raising_a_hard_rlimit_fails_clearly(runtime, make_bundle, cid):
    """This machine lacks CAP_SYS_RESOURCE: the error says so, and nothing is left."""
    bundle = make_bundle()
    bundle.config["process"]["rlimits"] = [raised_nofile()]
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message=("rlimit", "CAP_SYS_RESOURCE"))


def test_raising_a_hard_rlimit_names_the_field(runtime, make_bundle, cid):
    bundle = make_bundle()
    bundle.config["process"]["rlimits"] = [raised_nofile()]
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message="RLIMIT_NOFILE")


# --------------------------------------------------------------------------------------------------
# oomScoreAdj, sysctl


def own_oom_score_adj() -> int:
    with open("/proc/self/oom_score_adj") as f:
        return int(f.read())


def test_oom_score_adj_is_set(runtime, make_bundle, cid):
    value = min(own_oom_score_adj() + 300, 1000)
    bundle = long_running(make_bundle())
    bundle.config["process"]["oomScoreAdj"] = value
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        with open(f"/proc/{pid}/oom_score_adj") as f:
            assert int(f.read()) == value
        assert exec_inside(runtime, cid, "cat /proc/self/oom_score_adj").stdout.strip() == str(value)


def test_lowering_oom_score_adj_fails_clearly(runtime, make_bundle, cid):
    current = own_oom_score_adj()
    if current == -1000:
        pytest.skip("the runtime already runs at -1000")
    bundle = make_bundle()
    bundle.config["process"]["oomScoreAdj"] = max(current - 100, -1000)
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message=("oom_score_adj", "CAP_SYS_RESOURCE"))


SYSCTLS = {
    "kernel.shm_rmid_forced": ("1", "/proc/sys/kernel/shm_rmid_forced"),  # ipc namespace
    "fs.mqueue.msg_max": ("17", "/proc/sys/fs/mqueue/msg_max"),  # ipc namespace
    "net.ipv4.ip_forward": ("1", "/proc/sys/net/ipv4/ip_forward"),  # network namespace
    "net/ipv4/ip_default_ttl": ("42", "/proc/sys/net/ipv4/ip_default_ttl"),  # sysctl(8)'s '/' form
    "kernel.domainname": ("sysctl.example", "/proc/sys/kernel/domainname"),  # uts namespace
}


def test_namespaced_sysctls_are_set_in_the_container_only(runtime, make_bundle, cid):
    host_before = {}
    for _, path in SYSCTLS.values():
        with open(path) as f:
            host_before[path] = f.read()
    bundle = make_bundle()
    bundle.config["linux"]["sysctl"] = {key: value for key, (value, _) in SYSCTLS.items()}
    out = run_inside(runtime, bundle, cid, "cat " + " ".join(path for _, path in SYSCTLS.values()))
    assert out.split() == [value for value, _ in SYSCTLS.values()]
    for path, before in host_before.items():
        with open(path) as f:
            assert f.read() == before, f"the host's {path} changed"


# --------------------------------------------------------------------------------------------------
# personality, scheduler, ioPriority, execCPUAffinity


def test_personality_linux32(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        with open(f"/proc/{pid}/personality") as f:
            assert int(f.read(), 16) & 0xFF == 0x0008  # PER_LINUX32
        machine = exec_inside(runtime, cid, "uname -m").stdout.strip()
    # exec joins the container but takes its own personality from linux.personality too.
    assert machine in ("i686", "i386"), machine


SCHED_POLICY_FIELD = 41 - 3  # proc_stat() index of field 41 (policy); field 19 (nice) is at 16


@pytest.mark.parametrize(
    ("scheduler", "policy", "nice"),
    [({"policy": "SCHED_BATCH", "nice": 7}, 3, 7), ({"policy": "SCHED_IDLE"}, 5, 0)],
)
def test_scheduler(runtime, make_bundle, cid, scheduler, policy, nice):
    bundle = long_running(make_bundle())
    bundle.config["process"]["scheduler"] = scheduler
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        fields = proc_stat(pid)
        assert int(fields[SCHED_POLICY_FIELD]) == policy
        assert int(fields[19 - 3]) == nice


IOPRIO_WHO_PROCESS = 1
SYS_IOPRIO_GET = 252  # x86_64


def ioprio_of(pid: int) -> tuple[int, int]:
    libc = ctypes.CDLL(None, use_errno=True)
    value = libc.syscall(SYS_IOPRIO_GET, IOPRIO_WHO_PROCESS, pid)
    assert value >= 0, os.strerror(ctypes.get_errno())
    return value >> 13, value & 0x1FFF


@pytest.mark.parametrize(
    ("priority", "want"),
    [
        ({"class": "IOPRIO_CLASS_BE", "priority": 6}, (2, 6)),
        ({"class": "IOPRIO_CLASS_IDLE", "priority": 0}, (3, 0)),
    ],
)
def test_io_priority(runtime, make_bundle, cid, priority, want):
    bundle = long_running(make_bundle())
    bundle.config["process"]["ioPriority"] = priority
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        assert ioprio_of(pid) == want


def test_exec_cpu_affinity(runtime, make_bundle, cid, tmp_path):
    """runtime-spec 1.2: execCPUAffinity applies to exec'd processes, not to the init; `final` is
    the affinity once the process is in the container's cgroup."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    bundle = long_running(make_bundle())
    with running(runtime, bundle, cid) as init_pid:
        before = proc_status(init_pid)["Cpus_allowed_list"]
        process = dict(bundle.config["process"], args=["sleep", "60"])
        process["execCPUAffinity"] = {"initial": "1", "final": "0"}
        process_file = tmp_path / "process.json"
        process_file.write_text(json.dumps(process))
        pid_file = tmp_path / "exec.pid"
        runtime("exec", "-d", "--pid-file", str(pid_file), "--process", str(process_file), cid)
        pid = int(pid_file.read_text())
        try:
            assert proc_status(pid)["Cpus_allowed_list"] == "0"
            assert proc_status(init_pid)["Cpus_allowed_list"] == before, "the init is not affected"
        finally:
            # We are its subreaper: reap it, or the container's init cannot finish exiting.
            os.kill(pid, 9)
            os.waitpid(pid, 0)


# --------------------------------------------------------------------------------------------------
# LSM labels: this host has neither AppArmor nor SELinux


@pytest.mark.parametrize(
    ("section", "key", "where"),
    [
        ("process", "apparmorProfile", "process.apparmorProfile"),
        ("process", "selinuxLabel", "process.selinuxLabel"),
        ("linux", "mountLabel", "linux.mountLabel"),
    ],
)
def test_lsm_labels_are_refused_clearly(runtime, make_bundle, cid, section, key, where):
    bundle = make_bundle()
    bundle.config[section][key] = (
        "system_u:system_r:container_t:s0" if "selinux" in key or "mount" in key else "pyrunc-test"
    )
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message=(where, "cannot apply"))


# --------------------------------------------------------------------------------------------------
# user


def test_uid_gid_additional_gids_and_umask(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    bundle.config["process"]["user"] = {
        "uid": 1000,
        "gid": 1001,
        "additionalGids": [2000, 2001],
        "umask": 0o027,
    }
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        status = proc_status(pid)
        assert status["Uid"].split() == ["1000"] * 4
        assert status["Gid"].split() == ["1001"] * 4
        assert status["Groups"].split() == ["2000", "2001"]
        assert status["Umask"] == "0027"
        out = exec_inside(runtime, cid, "id -u; id -g; id -G; umask").stdout.splitlines()
    # exec runs process.user again: the same credentials from inside.
    assert out == ["1000", "1001", "1001 2000 2001", "0027"]


def test_defaults_root_no_groups_umask_0022(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    bundle.config["process"]["user"] = {"uid": 0, "gid": 0}
    bundle.write()
    with running(runtime, bundle, cid) as pid:
        status = proc_status(pid)
        assert status["Uid"].split() == ["0"] * 4
        assert status["Groups"].split() == [], "the runtime's own groups must not leak in"
        assert status["Umask"] == "0022"


# --------------------------------------------------------------------------------------------------
# Capabilities the runtime itself does not have (issue 18, item 18)

PR_CAPBSET_DROP = 24


def drop_from_own_bounding_set(cap: int):
    """preexec_fn: the runtime starts without `cap` in its bounding set, as under a
    `docker run --privileged` on a host that lacks it."""

    def drop() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")

    return drop


def held_capability() -> tuple[str, int]:
    """A capability in our own bounding set (CAP_SYS_TIME unless this host lacks it too)."""
    from pyrunc.linux import CAPABILITIES

    bounding = int(proc_status("self")["CapBnd"], 16)
    for name in ("CAP_SYS_TIME", "CAP_SYS_NICE", "CAP_SYSLOG"):
        if bounding >> CAPABILITIES[name] & 1:
            return name, CAPABILITIES[name]
    pytest.skip("none of the candidate capabilities is in this host's bounding set")


def test_a_capability_outside_the_runtimes_bounding_set_is_named(runtime, make_bundle, cid):
    name, number = held_capability()
    bundle = make_bundle()
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = [*caps[kind], name]
    bundle.write()
    fails(
        runtime, "create", "--bundle", bundle.path, cid,
        message=("process.capabilities", name, "bounding set"),
        preexec_fn=drop_from_own_bounding_set(number),
    )  # fmt: skip


def test_exec_cap_outside_the_runtimes_bounding_set_is_named(runtime, make_bundle, cid):
    name, number = held_capability()
    bundle = long_running(make_bundle())
    with running(runtime, bundle, cid):
        result = runtime(
            "exec", "--cap", name, cid, "true", check=False, preexec_fn=drop_from_own_bounding_set(number)
        )
    assert result.returncode != 0
    assert name in result.stderr and "bounding set" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --------------------------------------------------------------------------------------------------
# HOME from the container's /etc/passwd, which the container controls (issue 18, item 3)


def without_home(bundle, uid: int = 0):
    process = bundle.config["process"]
    process["env"] = [e for e in process["env"] if not e.startswith("HOME=")]
    process["user"] = {"uid": uid, "gid": uid}
    return bundle.write()


def hostile_passwd(rootfs: str, kind: str) -> None:
    """Replace the rootfs's /etc/passwd (from the host) with something that never ends or blocks."""
    path = os.path.join(rootfs, "etc", "passwd")
    os.unlink(path)
    if kind == "dev-zero":
        os.symlink("/dev/zero", path)  # resolved in the container: its own /dev/zero
    elif kind == "fifo":
        os.mkfifo(path)
    else:  # a line longer than any passwd entry, then a valid one
        with open(path, "w") as f:
            f.write("x" * (1 << 20) + "\nroot:x:0:0:root:/root:/bin/sh\n")


HOSTILE_PASSWD = ["dev-zero", "fifo", "huge-line"]


@pytest.mark.parametrize("kind", HOSTILE_PASSWD)
def test_create_with_a_hostile_etc_passwd_fails_in_one_line(runtime, make_bundle, cid, kind):
    """runc fails in milliseconds ("token too long"); pyrunc used to spin (or block on the fifo)
    with the container's lock held. A timeout of the runtime call fails the test."""
    bundle = without_home(make_bundle())
    hostile_passwd(bundle.rootfs, kind)
    fails(runtime, "create", "--bundle", bundle.path, cid, message="/etc/passwd", timeout=30)


@pytest.mark.parametrize("kind", HOSTILE_PASSWD)
def test_exec_after_the_container_broke_its_etc_passwd_fails_in_one_line(runtime, make_bundle, cid, kind):
    bundle = without_home(long_running(make_bundle()))
    with running(runtime, bundle, cid):
        hostile_passwd(bundle.rootfs, kind)  # what a running container can do to itself
        result = runtime("exec", cid, "true", check=False, timeout=30)
        assert result.returncode != 0
        assert "/etc/passwd" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert runtime.status(cid) == "running", "the container is untouched"


def test_home_comes_from_etc_passwd_even_on_a_last_line_without_newline(runtime, make_bundle, cid):
    bundle = without_home(make_bundle(), uid=1000)
    with open(os.path.join(bundle.rootfs, "etc", "passwd"), "a") as f:
        f.write("u1000x:x:10000:1000::/wrong:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh")
    assert run_inside(runtime, bundle, cid, 'echo "$HOME"') == "/home/u\n"


def test_home_is_slash_without_an_entry(runtime, make_bundle, cid):
    bundle = without_home(make_bundle(), uid=4242)
    assert run_inside(runtime, bundle, cid, 'echo "$HOME"') == "/\n"


# --------------------------------------------------------------------------------------------------
# A cwd root may enter and the process's user may not (issue 18, item 10)


def test_cwd_the_user_cannot_enter_is_entered_before_dropping_privileges(runtime, make_bundle, cid):
    """runc chdirs while still privileged and again as the user, failing only if neither works:
    /root is 0700 root in the rootfs, the process is uid 1000."""
    bundle = make_bundle()
    assert os.stat(os.path.join(bundle.rootfs, "root")).st_mode & 0o777 == 0o700
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["cwd"] = "/root"
    bundle.write()
    assert run_inside(runtime, bundle, cid, "pwd; id -u") == "/root\n1000\n"


def test_exec_into_a_cwd_the_user_cannot_enter(runtime, make_bundle, cid):
    bundle = long_running(make_bundle())
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["cwd"] = "/root"
    bundle.write()
    with running(runtime, bundle, cid):
        as_user = runtime("exec", cid, "sh", "-c", "pwd; id -u").stdout
        as_root = runtime("exec", "--user", "0", cid, "sh", "-c", "pwd; id -u").stdout
        other = runtime("exec", "--user", "2000:2000", "--cwd", "/root", cid, "sh", "-c", "pwd; id -u").stdout
    assert (as_user, as_root, other) == ("/root\n1000\n", "/root\n0\n", "/root\n2000\n")
