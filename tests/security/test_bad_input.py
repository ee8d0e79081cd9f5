"""Bad input to seccomp and exec (issue 5): a clear one-line error naming the field or argument,
exit status 1, and nothing started (no state left by create, no new process in the container)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.security.helpers import exec_output, wait_until


def assert_refused(result_or_pair, *words: str, status: int = 1) -> str:
    """One error line holding `words`, exit `status` (runc's exec fails with 255)."""
    code, text = (
        result_or_pair
        if isinstance(result_or_pair, tuple)
        else (result_or_pair.returncode, result_or_pair.stderr)
    )
    assert code == status, text
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "level=error" in lines[0], text
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]}"
    return lines[0]


def nothing_created(runtime) -> bool:
    return (
        not os.path.isdir(runtime.root)
        or [n for n in os.listdir(runtime.root) if not n.startswith("#")] == []
    )


SECCOMP_CASES = {
    "unknown default action": ({"defaultAction": "SCMP_ACT_BOGUS"}, "linux.seccomp.defaultAction"),
    "unknown action": (
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]},
        "linux.seccomp.syscalls[0].action",
    ),
    "unknown operator": (
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["mkdir"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}],
                }
            ],
        },
        "linux.seccomp.syscalls[0].args[0].op",
    ),
    "argument index out of range": (
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["mkdir"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}],
                }
            ],
        },
        "linux.seccomp.syscalls[0].args[0].index",
    ),
    "unknown architecture": (
        {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]},
        "linux.seccomp.architectures[0]",
    ),
    # In the runtime-spec's list, but newer than Debian 12's libseccomp 2.5.4.
    "architecture libseccomp does not know": (
        {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_LOONGARCH64"]},
        "linux.seccomp.architectures[0]",
    ),
    "unknown flag": (
        {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]},
        "linux.seccomp.flags[0]",
    ),
}


@pytest.mark.parametrize("case", SECCOMP_CASES)
def test_bad_seccomp_profile_is_refused_before_anything_starts(runtime, make_bundle, cid, case):
    profile, field = SECCOMP_CASES[case]
    bundle = make_bundle(args=["true"])
    bundle.config["linux"]["seccomp"] = profile
    bundle.write()
    result = runtime("create", "--bundle", bundle.path, cid, check=False, stdin=subprocess.DEVNULL)
    assert_refused(result, field)
    assert nothing_created(runtime)


@pytest.fixture
def running(runtime, make_bundle, cid):
    """A running container whose /dev/shm shows whether an exec's command ran."""
    bundle = make_bundle(args=["sleep", "1000"])
    runtime("run", "-d", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    return cid


def exec_ran(runtime, container_id: str) -> bool:
    code, output = exec_output(runtime, container_id, "ls", "/dev/shm")
    assert code == 0, output
    return "ran" in output.split()


MARK = ["sh", "-c", "touch /dev/shm/ran"]
PROCESS_CASES = {
    "no args": ({"cwd": "/"}, "args"),
    "empty args": ({"args": [], "cwd": "/"}, "args"),
    "relative cwd": ({"args": MARK, "cwd": "tmp"}, "cwd"),
    "negative uid": ({"args": MARK, "cwd": "/", "user": {"uid": -1, "gid": 0}}, "user.uid"),
    "unknown capability": (
        {"args": MARK, "cwd": "/", "capabilities": {"bounding": ["CAP_BOGUS"]}},
        "capabilities.bounding",
    ),
    "unknown rlimit": (
        {"args": MARK, "cwd": "/", "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]},
        "rlimits",
    ),
    "env not a list": ({"args": MARK, "cwd": "/", "env": "PATH=/bin"}, "env"),
}


@pytest.mark.parametrize("case", PROCESS_CASES)
def test_invalid_process_file_starts_nothing(runtime, running, tmp_path, case):
    process, field = PROCESS_CASES[case]
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    line = assert_refused(
        exec_output(runtime, "--process", str(path), running), "process.json", field, status=255
    )
    assert "Traceback" not in line
    assert not exec_ran(runtime, running)


@pytest.mark.parametrize("content", ["{", "[]", "", "null"], ids=["truncated", "array", "empty", "null"])
def test_process_file_that_is_not_an_object_starts_nothing(runtime, running, tmp_path, content):
    path = tmp_path / "process.json"
    path.write_text(content)
    assert_refused(exec_output(runtime, "--process", str(path), running), "process.json", status=255)
    assert not exec_ran(runtime, running)


def test_missing_process_file(runtime, running, tmp_path):
    missing = str(tmp_path / "nope.json")
    assert_refused(exec_output(runtime, "--process", missing, running), "nope.json", status=255)
    assert not exec_ran(runtime, running)


def test_exec_into_an_unknown_id(runtime):
    assert_refused(
        exec_output(runtime, "t-no-such-container", *MARK),
        "t-no-such-container",
        "does not exist",
        status=255,
    )


def test_exec_into_a_stopped_container(runtime, make_bundle, cid):
    bundle = make_bundle(args=["true"])
    runtime("create", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    runtime("start", cid)
    wait_until(lambda: runtime.status(cid) == "stopped", "the container to stop")
    assert_refused(exec_output(runtime, cid, *MARK), "stopped", status=255)


def test_exec_into_a_paused_container_needs_ignore_paused(runtime, running):
    runtime("pause", running)
    try:
        assert_refused(exec_output(runtime, running, *MARK), "paused", status=255)
    finally:
        runtime("resume", running)
    assert not exec_ran(runtime, running)


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--user", "root"], 255),
        (["--user", "1:x"], 255),
        (["--cap", "CAP_BOGUS"], 255),
        (["--cwd", "relative"], 255),
        (["--additional-gids", "x"], 1),  # not a number: a usage error, as in runc
        (["--preserve-fds", "x"], 1),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else str(a),
)
def test_bad_exec_flag_is_named(runtime, running, args, status):
    code, output = exec_output(runtime, *args, running, *MARK)
    assert code == status, output
    assert len(output.strip().splitlines()) == 1, output
    assert args[0] in output or args[1] in output, output
    assert not exec_ran(runtime, running)
