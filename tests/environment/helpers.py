"""What the environment tests share: reading what the kernel applied to a container's process from
outside (/proc/PID/mountinfo, status, limits, ...), running a container for the length of a check,
and the bad-input assertion (exit 1, the field named, nothing left behind)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from tests.mountinfo import MountEntry, mounts, unescape  # noqa: F401  (re-exported)


def mountinfo(pid: int | str) -> list[MountEntry]:
    return mounts(pid)


def mount_at(pid: int | str, point: str) -> MountEntry:
    """The topmost mount on `point` as the process sees it (paths relative to its root)."""
    entries = [m for m in mountinfo(pid) if m.point == point]
    assert entries, f"nothing is mounted on {point} in the container: {mountinfo(pid)}"
    return entries[-1]


def mounts_under(pid: int | str, point: str) -> list[MountEntry]:
    prefix = point.rstrip("/") + "/"
    return [m for m in mountinfo(pid) if m.point == point or m.point.startswith(prefix)]


def proc_status(pid: int | str) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def proc_stat(pid: int | str) -> list[str]:
    """Fields of /proc/PID/stat after the command name: [0] is field 3 (state)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def proc_limits(pid: int | str) -> dict[str, tuple[str, str]]:
    """'Max open files' -> (soft, hard) as the kernel prints them ('unlimited' or a number)."""
    out = {}
    with open(f"/proc/{pid}/limits") as f:
        next(f)
        for line in f:
            name = line[:26].strip()
            soft, hard = line[26:].split()[:2]
            out[name] = (soft, hard)
    return out


def ns_link(pid: int | str, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def open_fds(pid: int | str) -> dict[int, str]:
    path = f"/proc/{pid}/fd"
    return {int(fd): os.readlink(f"{path}/{fd}") for fd in os.listdir(path)}


def cap_mask(names: list[str]) -> int:
    from pyrunc.linux import CAPABILITIES

    mask = 0
    for name in names:
        mask |= 1 << CAPABILITIES[name]
    return mask


@contextlib.contextmanager
def running(runtime, bundle, cid: str, *, start: bool = True) -> Iterator[int]:
    """create (and start) the bundle's container; yields the init's host pid; force-deletes after."""
    runtime("create", "--bundle", bundle.path, cid)
    try:
        if start:
            runtime("start", cid)
        yield runtime.state(cid)["pid"]
    finally:
        runtime("delete", "--force", cid, check=False)


def run_inside(runtime, bundle, cid: str, script: str | None = None) -> str:
    """Run the bundle's process (or `sh -c script`) in the foreground; its stdout (exit 0 asserted)."""
    if script is not None:
        bundle.config["process"]["args"] = ["sh", "-c", script]
        bundle.write()
    return runtime("run", "--bundle", bundle.path, cid).stdout


def exec_inside(runtime, cid: str, script: str, check: bool = True):
    """`exec` a shell script in a running container; the CompletedProcess."""
    return runtime("exec", cid, "sh", "-c", script, check=check)


def fails(runtime, *args: str, message: str | tuple[str, ...], **kw):
    """The command exits 1 with every part of `message` on stderr, no traceback, and leaves no
    state in --root (the leak check fixture covers processes, mounts and cgroups)."""
    result = runtime(*args, check=False, **kw)
    assert result.returncode == 1, f"expected exit 1, got {result.returncode}: {result.stderr}"
    stderr = result.stderr.replace('\\"', '"')  # text log lines escape quotes as logrus does
    for part in (message,) if isinstance(message, str) else message:
        assert part in stderr, f"expected {part!r} in: {result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert len(stderr.strip().splitlines()) == 1, f"expected a one-line error: {result.stderr}"
    assert_nothing_left(runtime)
    return result


def create_fails(runtime, bundle, cid: str, *message: str, **kw):
    """`create` of `bundle` (its config written first) fails as `fails` says."""
    bundle.write()
    return fails(runtime, "create", "--bundle", bundle.path, cid, message=message, **kw)


def assert_nothing_left(runtime) -> None:
    leftovers = os.listdir(runtime.root) if os.path.isdir(runtime.root) else []
    assert leftovers == [], f"state left in --root: {leftovers}"


def userns(bundle, host_id: int = 100000, size: int = 65536, *, shift_rootfs: bool = True):
    """A new user namespace mapping container ids 0..size-1 to host_id..; the rootfs is chowned
    to match (as a bundle built for those mappings would be), unless shift_rootfs is False."""
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": size}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": size}]
    if shift_rootfs:
        os.lchown(bundle.rootfs, host_id, host_id)
        for top, dirs, files in os.walk(bundle.rootfs):
            for name in dirs + files:  # every entry once (dirs are not walked through symlinks)
                path = os.path.join(top, name)
                st = os.lstat(path)
                os.lchown(path, st.st_uid + host_id, st.st_gid + host_id)
    return bundle.write()


RESULT = "/dev/shm/result"  # a tmpfs in the hello config, writable even with a read-only root


def report_then_sleep(bundle, script: str):
    """The container's process runs `script` with its output into RESULT, then stays up: the test
    checks from outside while it runs and reads what it saw inside with read_report (useful where
    `exec` cannot be used)."""
    bundle.config["process"]["args"] = [
        "sh",
        "-c",
        f"{{ {script}; }} > {RESULT}.tmp 2>&1; mv {RESULT}.tmp {RESULT}; exec sleep infinity",
    ]
    return bundle.write()


def read_report(pid: int, timeout: float = 20) -> str:
    path = f"/proc/{pid}/root{RESULT}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            time.sleep(0.02)
    raise AssertionError(f"the container's process wrote no {RESULT} in {timeout}s")


def long_running(bundle, *, args: list[str] | None = None):
    """Give the bundle a process that stays up for outside checks; returns the bundle (written)."""
    bundle.config["process"]["args"] = args or ["sleep", "infinity"]
    return bundle.write()
