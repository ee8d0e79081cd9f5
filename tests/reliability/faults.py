"""Faults at chosen moments, with no help from the runtime: strace's syscall tampering.

`strace -e inject=NAME:signal=KILL:when=N` delivers SIGKILL to a process as it enters its N-th
NAME syscall; `delay_enter=USEC` holds it there instead. A dry run under `strace -y` lists every
syscall a command makes; each syscall that changes something outside the process (a directory, a
file written, a rename, a clone, a message to the init...) is a *kill point*: killing the command
as it enters that syscall leaves exactly the state made by all the syscalls before it. Killing at
every kill point therefore visits every distinct state a killed command can leave behind.

The injection counters are per traced process, so with -f (the container's init traced too) only
syscalls the runtime process itself never makes (mount, pivot_root, capset...) pick out the init.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass

from tests.reliability.harness import Result, Spawned

STRACE = shutil.which("strace") or "/usr/bin/strace"

# Syscalls whose effect outlives the process (or reaches another one). openat only counts when
# it can create or truncate a file (see _changes_something).
MUTATING = frozenset(
    {
        "mkdir", "mkdirat", "rmdir", "mknod", "mknodat", "rename", "renameat", "renameat2", "unlink",
        "unlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "symlink", "symlinkat",
        "link", "linkat", "write", "pwrite64", "writev", "sendto", "sendmsg", "clone", "clone3", "fork",
        "vfork", "flock", "kill", "tgkill", "pidfd_send_signal", "wait4", "waitid", "mount", "umount2",
        "pivot_root", "execve", "execveat", "exit_group", "ftruncate", "truncate", "setns", "unshare",
        "capset", "setresuid", "setresgid", "sethostname",
    }
)  # fmt: skip
_ENTRY = re.compile(r"^(?:(\d+) +)?([a-z_0-9]+)\((.*)$")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FD_PATH = re.compile(r"<([^>]*)>")


@dataclass(frozen=True)
class Point:
    """The `occurrence`-th entry of syscall `name` in process `pid` of a dry run."""

    name: str
    occurrence: int
    pid: int
    text: str

    def key(self, cid: str) -> str:
        """What kind of step this is, without ids and numbers: for a CI-sized sample."""
        text = re.sub(r"AT_FDCWD<[^>]*>", "AT_FDCWD", self.text)
        found = [m for m in (_QUOTED.search(text), _FD_PATH.search(text)) if m]
        what = min(found, key=lambda m: m.start()).group(1) if found else ""  # the first argument's
        what = re.sub(r"/sys/fs/cgroup/.*/ID", "CGROUP/ID", what.replace(cid, "ID"))
        return f"{self.name} {re.sub(r'[0-9]+', 'N', what)}"

    def label(self) -> str:
        return f"{self.name}#{self.occurrence} {self.text[:110]}"


@dataclass(frozen=True)
class Entry:
    pid: int
    name: str
    text: str


def trace(argv: list[str], follow: bool = False, detach_on_exec: bool = False) -> tuple[Result, list[Entry]]:
    """Run argv under strace -y; returns its result and every syscall entry, in order."""
    fd, path = tempfile.mkstemp(prefix="rel-trace-")
    os.close(fd)
    try:
        result = Spawned([*_strace(follow, detach_on_exec), "-y", "-o", path, *argv]).finish(120)
        with open(path, errors="replace") as f:
            entries = list(parse(f, default_pid=0 if follow else -1))
    finally:
        os.unlink(path)
    if not follow:
        first = next((e.pid for e in entries), 0)
        entries = [Entry(first, e.name, e.text) for e in entries]
    return result, entries


def parse(lines, default_pid: int = 0):
    for line in lines:
        match = _ENTRY.match(line.rstrip("\n"))
        if match is None:  # "<... resumed>", "--- SIG... ---", "+++ exited +++"
            continue
        pid = int(match.group(1)) if match.group(1) else default_pid
        yield Entry(pid, match.group(2), f"{match.group(2)}({match.group(3)}")


def _changes_something(entry: Entry) -> bool:
    if entry.name in MUTATING:
        return not (entry.name == "write" and entry.text.startswith(("write(1<", "write(2<")))
    if entry.name in ("openat", "open"):
        return "O_CREAT" in entry.text or "O_TRUNC" in entry.text
    return False


def kill_points(entries: list[Entry], marker: str, pid: int | None = None, names=None) -> list[Point]:
    """Kill points of process `pid` (the first one traced by default) from the first syscall
    that mentions `marker` on. `names`: only these syscalls."""
    pid = entries[0].pid if pid is None and entries else pid
    counts: dict[str, int] = {}
    points = []
    started = False
    for entry in entries:
        if entry.pid != pid:
            continue
        counts[entry.name] = counts.get(entry.name, 0) + 1
        started = started or marker in entry.text
        if not started or (names is not None and entry.name not in names):
            continue
        if names is not None or _changes_something(entry):
            points.append(Point(entry.name, counts[entry.name], pid, entry.text))
    return points


def sample(points: list[Point], cid: str) -> list[Point]:
    """The first and the last point of each kind of step (e.g. the first and the last of the
    eleven cgroup directories): CI's share of a full sweep."""
    first: dict[str, Point] = {}
    last: dict[str, Point] = {}
    for point in points:
        first.setdefault(point.key(cid), point)
        last[point.key(cid)] = point
    chosen = set(first.values()) | set(last.values())
    return [p for p in points if p in chosen]


def _strace(follow: bool, detach_on_exec: bool) -> list[str]:
    argv = [STRACE, "-qq"]
    if follow:
        argv.append("-f")
    if detach_on_exec:
        argv += ["-b", "execve"]
    return argv


def kill_at(argv: list[str], point: Point, follow: bool = False, detach_on_exec: bool = False) -> Spawned:
    """Start argv; SIGKILL whichever traced process enters `point`."""
    inject = f"inject={point.name}:signal=KILL:when={point.occurrence}"
    return Spawned([*_strace(follow, detach_on_exec), "-o", "/dev/null", "-e", inject, *argv])


def hold_at(argv: list[str], name: str, occurrence: int, seconds: float, follow: bool = False) -> Spawned:
    """Start argv; hold the process `seconds` as it enters its `occurrence`-th `name` syscall (a
    deterministic window in which a test can act: kill the init, race another command...)."""
    inject = f"inject={name}:delay_enter={int(seconds * 1e6)}:when={occurrence}"
    return Spawned([*_strace(follow, False), "-o", "/dev/null", "-e", inject, *argv])


def was_killed(result: Result) -> bool:
    """strace re-raises the tracee's fatal signal on itself."""
    return result.rc in (-9, 137)
