"""checkpoint and restore through CRIU.

The round trips need a kernel criu 3.17 runs on: they are marked `vm` and run in
tests/vm/run-v2's guest (Debian 12's 6.1 kernel, cgroup v2); on this host they skip with
`criu check`'s own error. The refusals before CRIU runs, and how a failing CRIU is reported, are
tested on the host.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time

import pytest

from tests.support import USED_IDS

# Counts on stdout until /tmp/stop exists, then exits 7: what it prints after a restore shows
# whether its memory (the shell's variable) came back.
COUNTER = ["sh", "-c", "i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); echo $i; sleep 0.2; done; exit 7"]
READ_TIMEOUT = 120  # seconds; the guest runs under software emulation


def read_lines(fd: int, count: int, what: str) -> list[int]:
    """The next `count` numbers the counter printed on the pipe `fd` (bounded wait)."""
    data = b""
    while data.count(b"\n") < count:
        ready, _, _ = select.select([fd], [], [], READ_TIMEOUT)
        assert ready, f"no output from {what} within {READ_TIMEOUT}s (got {data!r})"
        chunk = os.read(fd, 4096)
        assert chunk, f"{what}: its stdout closed after {data!r}"
        data += chunk
    return [int(x) for x in data.split()]


def read_rest(fd: int) -> list[int]:
    """Everything left in a pipe whose writers are all gone."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return [int(x) for x in data.split()]


def start_counter(runtime, make_bundle, cid: str) -> tuple[object, int, int]:
    """run -d the counter with its stdout and stderr on a pipe (as containerd and conmon give
    them); (bundle, read end, host pid)."""
    bundle = make_bundle(COUNTER)
    bundle.config["linux"]["cgroupsPath"] = f"/pyrunc-test/{cid}"
    bundle.write()
    read_end, write_end = os.pipe()
    USED_IDS.add(cid)
    subprocess.run(
        runtime.cmd("run", "-d", "-b", bundle.path, cid),
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=write_end,
        check=True,
        timeout=120,
    )
    os.close(write_end)
    return bundle, read_end, runtime.state(cid)["pid"]


def mount_table(pid: int) -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount the process sees, sorted."""
    with open(f"/proc/{pid}/mountinfo") as f:
        rows = [line.split() for line in f]
    return sorted((row[4], row[row.index("-") + 1]) for row in rows)


def ns_pid(pid: int) -> int:
    """The pid in its own (innermost) pid namespace."""
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("NSpid:"))
    return int(line.split()[-1])


def own_cgroup(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read()


def restore_detached(runtime, tmp_path, stdout: int, *args: str) -> None:
    """restore -d with stdout on `stdout` (the container keeps it: no capture of it), stderr in a
    file shown on failure."""
    with open(tmp_path / "restore.err", "w+") as err:
        result = subprocess.run(
            runtime.cmd("restore", "-d", *args),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=err,
            timeout=300,
        )
        err.seek(0)
        assert result.returncode == 0, f"restore exited {result.returncode}: {err.read()}{criu_log(tmp_path)}"


def criu_log(tmp_path, everything: bool = False) -> str:
    """The error lines of the restore logs under tmp_path (and, with `everything`, what action
    scripts wrote there), for a failure's message."""
    lines = []
    for log in sorted(tmp_path.glob("*-work/restore.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "Error" in line or (everything and ("script" in line or not line.startswith("("))):
                lines.append(line)
    return "\n" + "\n".join(lines[-40:])


def checkpoint_args(tmp_path, name: str = "images") -> list[str]:
    return ["--image-path", str(tmp_path / name), "--work-path", str(tmp_path / f"{name}-work")]


@pytest.mark.vm
def test_checkpoint_then_restore_same_pid_mounts_cgroup_memory_and_state(
    runtime, make_bundle, cid, tmp_path, criu
):
    bundle, old_out, pid = start_counter(runtime, make_bundle, cid)
    read_lines(old_out, 2, "the counter")
    mounts, cgroup = mount_table(pid), own_cgroup(pid)
    assert ns_pid(pid) == 1

    runtime("checkpoint", *checkpoint_args(tmp_path), cid)
    # As runc: the checkpointed container is gone (CRIU killed it), its id is free again.
    assert runtime("state", cid, check=False).returncode == 1
    last = read_rest(old_out)[-1]
    os.close(old_out)
    assert os.path.exists(tmp_path / "images" / "inventory.img")
    assert os.path.exists(tmp_path / "images-work" / "dump.log")

    new_out, write_end = os.pipe()
    pid_file = tmp_path / "restored.pid"
    restore_detached(
        runtime,
        tmp_path,
        write_end,
        "--pid-file",
        str(pid_file),
        *checkpoint_args(tmp_path),
        "-b",
        bundle.path,
        cid,
    )
    os.close(write_end)
    state = runtime.state(cid)
    assert state["status"] == "running"
    restored = state["pid"]
    assert pid_file.read_text() == str(restored)
    assert ns_pid(restored) == 1, "the init is pid 1 of its pid namespace again"
    assert mount_table(restored) == mounts
    assert own_cgroup(restored) == cgroup
    # Its memory came back: the count goes on from where the checkpoint stopped it, on the
    # stdout restore gave it.
    assert read_lines(new_out, 1, "the restored counter")[0] == last + 1

    # A container like any other: exec, kill, delete (which removes its cgroup).
    assert runtime("exec", cid, "cat", "/proc/1/cmdline").stdout.startswith("sh\0-c\0")
    with open(os.path.join(runtime.root, cid, "state.json")) as f:
        cgroup_dir = json.load(f)["cgroup"]["path"]
    runtime("kill", cid, "KILL")
    os.close(new_out)
    runtime("delete", "--force", cid)
    assert not os.path.exists(cgroup_dir)
    assert runtime("state", cid, check=False).returncode == 1


@pytest.mark.vm
def test_pre_dump_parent_path_leave_running_then_foreground_restore(
    runtime, make_bundle, cid, tmp_path, criu
):
    bundle, out, pid = start_counter(runtime, make_bundle, cid)
    read_lines(out, 1, "the counter")
    runtime("checkpoint", "--pre-dump", *checkpoint_args(tmp_path, "pre"), cid)
    assert runtime.status(cid) == "running"
    runtime(
        "checkpoint",
        "--leave-running",
        "--parent-path",
        "../pre",
        "--manage-cgroups-mode",
        "soft",
        *checkpoint_args(tmp_path, "full"),
        cid,
    )
    assert runtime.status(cid) == "running", "--leave-running keeps the container"
    assert runtime.state(cid)["pid"] == pid
    # The dump on top of the pre-dump links to it (CRIU's "parent" symlink).
    assert os.path.islink(tmp_path / "full" / "parent")
    runtime("delete", "--force", cid)
    os.close(out)

    # In the foreground, restore waits for the container and exits with its status, then
    # deletes it, as run does.
    with open(tmp_path / "restore.err", "w+") as err:
        restore = subprocess.Popen(
            runtime.cmd("restore", *checkpoint_args(tmp_path, "full"), "-b", bundle.path, cid),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            for _ in range(600):
                result = runtime("state", cid, check=False)
                if result.returncode == 0 and json.loads(result.stdout)["status"] == "running":
                    break
                if restore.poll() is not None:
                    err.seek(0)
                    pytest.fail(f"restore exited {restore.returncode}: {err.read()}{criu_log(tmp_path)}")
                time.sleep(0.5)
            else:
                pytest.fail("the restored container never showed as running")
            runtime("exec", cid, "touch", "/tmp/stop")
            assert restore.wait(timeout=READ_TIMEOUT) == 7
        finally:
            if restore.poll() is None:
                restore.kill()
                restore.wait()
    assert runtime("state", cid, check=False).returncode == 1, "deleted after it exited"


def hook_lines(path) -> list[dict]:
    """The states a recording hook appended, one JSON document a line."""
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.vm
def test_restore_runs_prestart_and_create_runtime_hooks_and_a_failing_one_stops_it(
    runtime, make_bundle, cid, tmp_path, criu
):
    """As runc (at CRIU's setup-namespaces step): prestart, then createRuntime, in the runtime's
    namespaces, with the restored init's host pid; a failing hook fails the restore, which leaves
    nothing behind."""
    record = {point: tmp_path / f"{point}.log" for point in ("prestart", "createRuntime")}
    bundle, out, _ = start_counter(runtime, make_bundle, cid)
    bundle.config["hooks"] = {
        point: [
            {
                "path": "/bin/sh",
                "args": ["sh", "-c", f"cat >> {path}; echo >> {path}; echo {point} >> {tmp_path}/order"],
            }
        ]
        for point, path in record.items()
    }
    bundle.write()
    runtime("checkpoint", *checkpoint_args(tmp_path), cid)
    os.close(out)

    good = bundle.config["hooks"]
    bundle.config["hooks"] = {
        **good,
        "createRuntime": [*good["createRuntime"], {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
    }
    bundle.write()
    failed = runtime("restore", "-d", *checkpoint_args(tmp_path), "-b", bundle.path, cid, check=False)
    assert failed.returncode == 1
    assert "createRuntime hook #1 failed" in failed.stderr, failed.stderr + criu_log(
        tmp_path, everything=True
    )
    assert runtime("state", cid, check=False).returncode == 1, "nothing left of the failed restore"
    assert not os.path.exists(os.path.join(runtime.root, cid))

    bundle.config["hooks"] = good
    bundle.write()
    (tmp_path / "order").unlink()
    new_out, write_end = os.pipe()
    restore_detached(runtime, tmp_path, write_end, *checkpoint_args(tmp_path), "-b", bundle.path, cid)
    os.close(write_end)
    restored = runtime.state(cid)["pid"]
    assert (tmp_path / "order").read_text().split() == ["prestart", "createRuntime"]
    for path in record.values():
        state = hook_lines(path)[-1]
        assert state["pid"] == restored and state["id"] == cid and state["status"] == "creating"
        assert state["bundle"] == bundle.path
    assert read_lines(new_out, 1, "the restored counter")
    os.close(new_out)
    runtime("delete", "--force", cid)


# -- on any host: refusals before CRIU runs ---------------------------------------------------


def test_checkpoint_refusals_name_the_problem(runtime, make_bundle, cid, tmp_path):
    missing = runtime("checkpoint", "--image-path", str(tmp_path / "img"), "nosuch", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bundle = make_bundle(["sleep", "60"])
    runtime("create", "-b", bundle.path, cid)
    created = runtime("checkpoint", "--image-path", str(tmp_path / "img"), cid, check=False)
    assert created.returncode == 1 and "cannot be checkpointed in created state" in created.stderr
    mode = runtime("checkpoint", "--manage-cgroups-mode", "bogus", cid, check=False)
    assert mode.returncode == 1 and "--manage-cgroups-mode bogus" in mode.stderr
    parent = runtime("checkpoint", "--parent-path", "/abs", cid, check=False)
    assert parent.returncode == 1 and "--parent-path must be relative" in parent.stderr
    empty = runtime("checkpoint", "--empty-ns", "pid", cid, check=False)
    assert empty.returncode == 1 and "--empty-ns pid" in empty.stderr
    logged = runtime("--log-format", "json", "checkpoint", "--manage-cgroups-mode", "bogus", cid, check=False)
    line = json.loads(logged.stderr.strip().splitlines()[-1])
    assert line["level"] == "error" and "--manage-cgroups-mode" in line["msg"]
    assert runtime.status(cid) == "created"
    assert not os.path.exists(tmp_path / "img" / "dump.log")


def test_restore_refusals_leave_nothing_behind(runtime, make_bundle, cid, tmp_path):
    bundle = make_bundle(["sleep", "60"])
    USED_IDS.add(cid)
    missing = runtime("restore", "--image-path", str(tmp_path / "none"), "-b", bundle.path, cid, check=False)
    assert missing.returncode == 1 and f"--image-path {tmp_path / 'none'}" in missing.stderr
    bundle.config["process"]["terminal"] = True
    bundle.write()
    (tmp_path / "img").mkdir()
    tty = runtime("restore", "--image-path", str(tmp_path / "img"), "-b", bundle.path, cid, check=False)
    assert tty.returncode == 1 and "process.terminal" in tty.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_restore_with_a_failing_criu_undoes_the_container(runtime, make_bundle, cid, tmp_path):
    """CRIU that fails (here: not found) after restore made the state directory and the cgroup:
    both go again, and the message names the cause."""
    bundle = make_bundle(["sleep", "60"])
    bundle.config["linux"]["cgroupsPath"] = f"/pyrunc-test/{cid}"
    bundle.write()
    USED_IDS.add(cid)
    (tmp_path / "img").mkdir()
    result = subprocess.run(
        [runtime.binary, "--root", runtime.root, "--criu", str(tmp_path / "no-criu"), "restore", "-d",
         "--image-path", str(tmp_path / "img"), "-b", bundle.path, cid],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and "no-criu' not found" in result.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))  # and the leak check: no cgroup


def test_checkpoint_failing_criu_keeps_the_container_running(
    runtime, make_bundle, cid, tmp_path, criu_broken
):
    """On a kernel criu cannot run on, its own error comes back in one line, with the log's path,
    and the container goes on untouched."""
    bundle = make_bundle(["sleep", "60"])
    runtime("run", "-d", "-b", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    result = runtime("checkpoint", *checkpoint_args(tmp_path), cid, check=False)
    assert result.returncode == 1
    assert (
        "criu dump failed: " in result.stderr and str(tmp_path / "images-work" / "dump.log") in result.stderr
    )
    assert runtime.status(cid) == "running" and runtime.state(cid)["pid"] == pid
