"""Compiled programs loaded for real: in a forked child (new namespaces, chroot into a busybox
rootfs, see sandbox.py) with pyrunc._seccomp.load, then busybox is exec'd under the filter."""

from __future__ import annotations

import copy
import errno
import json
import os
import signal
import socket
import uuid

import pytest
import sandbox

from pyrunc import _seccomp, seccomp

ALLOW_ALL = {"defaultAction": "SCMP_ACT_ALLOW"}
MKDIR_NAMES = ["mkdir", "mkdirat"]


def compile_with(*syscalls: dict, **extra) -> seccomp.SeccompProgram:
    return seccomp.compile_profile({**ALLOW_ALL, "syscalls": list(syscalls), **extra})


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# --- errno actions -----------------------------------------------------------------------------


def test_denied_syscall_returns_its_errno_ret(rootfs):
    program = compile_with({"names": MKDIR_NAMES, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV})
    name = unique("denied")
    result = sandbox.run(program, sh(f"mkdir /tmp/{name}; echo rc=$?; echo still running"), rootfs)
    assert result.exit_code == 0, result
    assert os.strerror(errno.EXDEV) in result.stderr
    assert result.stdout == "rc=1\nstill running\n"
    assert not os.path.exists(os.path.join(rootfs, "tmp", name))


def test_errno_action_without_errno_ret_is_eperm(rootfs):
    program = compile_with({"names": MKDIR_NAMES, "action": "SCMP_ACT_ERRNO"})
    result = sandbox.run(program, sh(f"mkdir /tmp/{unique('eperm')}"), rootfs)
    assert result.exit_code == 1, result
    assert os.strerror(errno.EPERM) in result.stderr


def test_default_errno_ret(rootfs, docker_profile):
    # Docker's profile minus getcwd(2), denied by default with ENXIO instead of ENOSYS.
    profile = copy.deepcopy(docker_profile)
    for rule in profile["syscalls"]:
        if "getcwd" in rule["names"]:
            rule["names"].remove("getcwd")
    profile["defaultErrnoRet"] = errno.ENXIO
    result = sandbox.run(seccomp.compile_profile(profile), ["pwd"], rootfs)
    assert result.exit_code == 1, result
    assert result.stderr == f"pwd: getcwd: {os.strerror(errno.ENXIO)}\n"
    assert result.stdout == ""


def test_allowed_neighbours_are_untouched(rootfs):
    program = compile_with({"names": MKDIR_NAMES, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV})
    name = unique("fine")
    result = sandbox.run(program, sh(f"echo hi > /tmp/{name} && cat /tmp/{name} && rm /tmp/{name}"), rootfs)
    assert (result.exit_code, result.stdout) == (0, "hi\n"), result


# --- actions that kill -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"]
)
def test_kill_and_trap_end_the_process_with_sigsys(rootfs, action):
    program = compile_with({"names": MKDIR_NAMES, "action": action})
    name = unique("killed")
    result = sandbox.run(program, ["mkdir", f"/tmp/{name}"], rootfs)
    assert result.signal == signal.SIGSYS, result
    assert not os.path.exists(os.path.join(rootfs, "tmp", name))


def test_kill_on_one_argument_value_only(rootfs):
    # kill(2) with signal 0 (existence check) kills the caller; other signals do not.
    rule = {
        "names": ["kill"],
        "action": "SCMP_ACT_KILL_PROCESS",
        "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}],
    }
    program = compile_with(rule)
    assert sandbox.run(program, sh("kill -s WINCH $$; echo alive"), rootfs).stdout == "alive\n"
    assert sandbox.run(program, sh("kill -0 $$; echo alive"), rootfs).signal == signal.SIGSYS


# --- SCMP_CMP_MASKED_EQ ------------------------------------------------------------------------


def test_masked_eq_denies_when_arg_and_value_equals_value_two(rootfs):
    # Deny kill(pid, sig) when (sig & 0x3) == 0x2. value is the mask, valueTwo the expected bits:
    # CONT (18 = 0b10010) matches; WINCH (28), URG (23), CHLD (17) and 0 do not.
    arg = {"index": 1, "value": 0x3, "valueTwo": 0x2, "op": "SCMP_CMP_MASKED_EQ"}
    program = compile_with(
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV, "args": [arg]}
    )
    script = (
        "for s in CONT WINCH URG CHLD; do kill -s $s $$ 2>/dev/null; echo $s=$?; done; kill -0 $$; echo 0=$?"
    )
    result = sandbox.run(program, sh(script), rootfs)
    assert result.exit_code == 0, result
    assert result.stdout.split() == ["CONT=1", "WINCH=0", "URG=0", "CHLD=0", "0=0"]


def test_masked_eq_error_text(rootfs):
    arg = {"index": 1, "value": 0x3, "valueTwo": 0x2, "op": "SCMP_CMP_MASKED_EQ"}
    program = compile_with(
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV, "args": [arg]}
    )
    result = sandbox.run(program, sh("kill -s CONT $$"), rootfs)
    assert result.exit_code == 1
    assert os.strerror(errno.EXDEV) in result.stderr


def test_greater_than_on_a_64_bit_argument(rootfs):
    # personality(2)'s persona: allow up to 0xffffffff, deny above (high word set).
    rule = {
        "names": ["personality"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": errno.EXDEV,
        "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_GT"}],
    }
    program = compile_with(rule)

    def probe(_fd: int) -> None:
        high = sandbox.raw_syscall(135, 0x1_0000_0000)  # __NR_personality on x86_64
        query = sandbox.raw_syscall(135, 0xFFFFFFFF)  # 0xffffffff only queries the persona
        os.write(1, f"{high} {query >= 0}".encode())

    result = sandbox.run(program, None, rootfs, after_load=probe)
    assert (result.exit_code, result.stdout) == (0, f"{-errno.EXDEV} True"), result


# --- the ENOSYS stub, on the kernel ------------------------------------------------------------

NR_ADD_KEY = 248  # x86_64; not in Docker's profile
NR_BEYOND = 1000  # no x86_64 syscall has this number


def syscall_probe(numbers: list[int]):
    def probe(_fd: int) -> None:
        os.write(1, " ".join(str(sandbox.raw_syscall(nr)) for nr in numbers).encode())

    return probe


def test_enosys_for_syscalls_newer_than_the_profile(rootfs, docker_profile):
    assert _seccomp.resolve_syscall("add_key") == NR_ADD_KEY
    profile = dict(docker_profile, defaultErrnoRet=errno.EPERM)
    result = sandbox.run(
        seccomp.compile_profile(profile), None, rootfs, after_load=syscall_probe([NR_ADD_KEY, NR_BEYOND])
    )
    assert result.exit_code == 0, result
    assert result.stdout.split() == [str(-errno.EPERM), str(-errno.ENOSYS)]


def test_no_stub_means_the_default_errno_everywhere(rootfs, docker_profile):
    profile = dict(docker_profile, defaultErrnoRet=errno.ENOSYS)
    result = sandbox.run(
        seccomp.compile_profile(profile), None, rootfs, after_load=syscall_probe([NR_ADD_KEY, NR_BEYOND])
    )
    assert result.stdout.split() == [str(-errno.ENOSYS), str(-errno.ENOSYS)], result


# --- Docker's default profile ------------------------------------------------------------------


def bundle_args() -> list[str]:
    with open(
        os.path.join(os.path.dirname(__file__), "..", "..", "oci-bundles", "seccomp", "config.json")
    ) as f:
        return json.load(f)["process"]["args"]


def test_docker_profile_leaves_a_busybox_workload_working(rootfs, docker_profile):
    result = sandbox.run(seccomp.compile_profile(docker_profile), bundle_args(), rootfs)
    assert result.exit_code == 0, result
    assert "Seccomp: 2 (2 = filter mode)" in result.stdout
    assert "tmpfs write/read: written-to-tmpfs" in result.stdout
    assert "uname: Linux x86_64" in result.stdout
    # The child is root with every capability: only seccomp can refuse sethostname.
    assert "hostname -> hostname: sethostname: Operation not permitted" in result.stdout


def test_docker_profile_more_workload(rootfs, docker_profile):
    script = (
        "set -e; d=/tmp/$1; mkdir $d; cd $d; seq 1 200 > n; sort -rn n | head -1; gzip -k n;"
        " zcat n.gz | wc -l; ln -s n link; readlink link; cp n m; cmp n m && echo same;"
        " find . -type f | sort | tr '\\n' ' '; echo; (sleep 0.05; echo child) & wait;"
        " sha1sum n | cut -c1-8; date +%s >/dev/null; id -u; cd /; rm -r $d; echo done"
    )
    result = sandbox.run(
        seccomp.compile_profile(docker_profile), ["sh", "-c", script, "sh", unique("work")], rootfs
    )
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert lines[:4] == ["200", "200", "n", "same"]
    assert lines[4].split() == ["./m", "./n", "./n.gz"]
    assert lines[5] == "child"
    assert lines[-2:] == ["0", "done"]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            "chroot / true",
            "can't change root directory to '/': Operation not permitted",
        ),  # CAP_SYS_CHROOT absent
        ("hostname evil", "sethostname: Operation not permitted"),  # CAP_SYS_ADMIN absent
        ("swapoff /no/such/swap", "Operation not permitted"),  # always denied (else: ENOENT)
    ],
)
def test_docker_profile_denies_privileged_syscalls(rootfs, docker_profile, command, message):
    result = sandbox.run(seccomp.compile_profile(docker_profile), sh(command), rootfs)
    assert result.exit_code != 0, result
    assert message in result.stderr


def test_docker_profile_syscalls_it_does_not_name_get_enosys(rootfs, docker_profile):
    numbers = [NR_ADD_KEY, 249, NR_BEYOND]  # add_key, request_key, nothing
    result = sandbox.run(
        seccomp.compile_profile(docker_profile), None, rootfs, after_load=syscall_probe(numbers)
    )
    assert result.stdout.split() == [str(-errno.ENOSYS)] * 3, result


# --- flags -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag", ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
)
def test_flags_load_and_the_filter_still_applies(rootfs, flag):
    program = compile_with(
        {"names": MKDIR_NAMES, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV}, flags=[flag]
    )
    assert program.flags == seccomp.FLAGS[flag]
    result = sandbox.run(
        program, sh(f"grep ^Seccomp: /proc/self/status; mkdir /tmp/{unique('flag')}"), rootfs
    )
    assert result.exit_code == 1, result
    assert result.stdout.split() == ["Seccomp:", "2"]
    assert os.strerror(errno.EXDEV) in result.stderr


# --- SCMP_ACT_NOTIFY ---------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]])
def test_notify_listener_answers_the_syscall(rootfs, flags):
    program = compile_with(
        {"names": MKDIR_NAMES, "action": "SCMP_ACT_NOTIFY"}, listenerPath="/run/agent.sock", flags=flags
    )
    assert program.flags & seccomp.FLAG_NEW_LISTENER
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def send_listener(fd: int) -> None:
        assert fd >= 0
        socket.send_fds(theirs, [b"seccompFd"], [fd])
        os.close(fd)
        theirs.close()

    name = unique("notified")
    with ours, theirs:
        child = sandbox.spawn(program, ["mkdir", f"/tmp/{name}"], rootfs, after_load=send_listener)
        theirs.close()
        ours.settimeout(30)
        msg, fds, _, _ = socket.recv_fds(ours, 64, 1)
        assert (msg, len(fds)) == (b"seccompFd", 1)
        agent = sandbox.Agent(fds[0])
        agent.start()
        result = child.wait()
        agent.join(30)
        os.close(fds[0])
    assert agent.error is None, agent.error
    assert result.exit_code == 1, result
    assert os.strerror(errno.EXDEV) in result.stderr  # the agent's answer reached busybox
    assert not os.path.exists(os.path.join(rootfs, "tmp", name))
    mkdir_numbers = {_seccomp.resolve_syscall(n) for n in MKDIR_NAMES}
    assert len(agent.seen) == 1
    pid, number = agent.seen[0]
    assert (pid, number in mkdir_numbers) == (child.pid, True)
