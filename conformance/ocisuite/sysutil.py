"""Thin wrappers over Linux interfaces the suite needs: prctl, mount, /proc, cgroupfs."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

PR_SET_CHILD_SUBREAPER = 36
MNT_DETACH = 2
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

CGROUP_ROOT = "/sys/fs/cgroup"


def become_subreaper() -> None:
    """Orphaned container processes get reparented to us, so we can reap them (PID 1 here does not)."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    rc = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def umount_lazy(target: str) -> bool:
    return _libc.umount2(target.encode(), MNT_DETACH) == 0


# ---------------------------------------------------------------- mountinfo


class MountEntry:
    """One line of /proc/PID/mountinfo."""

    __slots__ = (
        "fstype",
        "mount_id",
        "mountpoint",
        "optional",
        "opts",
        "parent_id",
        "root",
        "source",
        "super_opts",
    )

    def __init__(self, line: str) -> None:
        left, _, right = line.rstrip("\n").partition(" - ")
        fields = left.split(" ")
        self.mount_id = int(fields[0])
        self.parent_id = int(fields[1])
        self.root = unescape_mount_path(fields[3])
        self.mountpoint = unescape_mount_path(fields[4])
        self.opts = set(fields[5].split(","))
        self.optional = fields[6:]
        rfields = right.split(" ")
        self.fstype = rfields[0]
        self.source = rfields[1] if len(rfields) > 1 else ""
        self.super_opts = set(rfields[2].split(",")) if len(rfields) > 2 else set()

    def propagation(self) -> str:
        """'shared', 'slave', 'shared+slave', 'unbindable' or 'private', from the optional fields."""
        kinds = []
        if any(f.startswith("shared:") for f in self.optional):
            kinds.append("shared")
        if any(f.startswith("master:") for f in self.optional):
            kinds.append("slave")
        if "unbindable" in self.optional:
            kinds.append("unbindable")
        return "+".join(kinds) or "private"


def unescape_mount_path(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    if "\\" not in path:
        return path
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) and path[i + 1 : i + 4].isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountEntry]:
    return [MountEntry(line) for line in text.splitlines() if line.strip()]


def read_mountinfo(pid: int | str = "self") -> list[MountEntry]:
    with open(f"/proc/{pid}/mountinfo") as f:
        return parse_mountinfo(f.read())


def mounts_under(prefix: str) -> list[str]:
    """Mount points of this mount namespace at or below prefix, deepest first."""
    prefix = prefix.rstrip("/")
    points = [
        m.mountpoint
        for m in read_mountinfo()
        if m.mountpoint == prefix or m.mountpoint.startswith(prefix + "/")
    ]
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


# ---------------------------------------------------------------- processes


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def proc_stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the comm, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2 :].split()


def proc_state(pid: int) -> str | None:
    """The one-letter state (R, S, Z, ...) or None when the pid does not exist."""
    fields = proc_stat_fields(pid)
    return fields[0] if fields else None


def proc_start_time(pid: int) -> int | None:
    fields = proc_stat_fields(pid)
    return int(fields[19]) if fields else None


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def children_of(ppid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = proc_stat_fields(int(entry))
        if fields and int(fields[1]) == ppid:
            kids.append(int(entry))
    return kids


def reap_all() -> list[tuple[int, int]]:
    """Collect every exited child without blocking; return (pid, status) pairs."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        reaped.append((pid, status))
    return reaped


def reap_all_except(keep: set[int]) -> None:
    """Reap exited children except those in keep (whose status a case still wants)."""
    for pid in children_of(os.getpid()):
        if pid not in keep and proc_state(pid) in ("Z", "X"):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def reap_zombies(keep: set[int]) -> None:
    """Reap exited children not in keep. Cheap when there is nothing to do (waitid WNOWAIT)."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            return
        if info.si_pid in keep:
            reap_all_except(keep)
            return
        try:
            os.waitpid(info.si_pid, os.WNOHANG)
        except ChildProcessError:
            return


def run_reaping(argv: list[str], timeout: float, keep: set[int], **popen_args) -> int:
    """Run argv to completion while reaping our other exited children.

    A container's pid-namespace init cannot finish dying until every process of its namespace
    has been reaped; those processes may be our children (reparented to us, a subreaper), so a
    runtime waiting for init to die (delete --force) would wait forever if we did not reap meanwhile.
    """
    proc = subprocess.Popen(argv, **popen_args)
    deadline = time.monotonic() + timeout
    try:
        while True:
            rc = proc.poll()
            if rc is not None:
                return rc
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise subprocess.TimeoutExpired(argv, timeout)
            reap_zombies(keep | {proc.pid})
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kill_children(ppid: int, rounds: int = 100) -> int:
    """SIGKILL and reap every child of ppid (orphans reparented to the subreaper). Returns how many."""
    killed = set()
    for _ in range(rounds):
        reap_all()
        kids = [k for k in children_of(ppid) if proc_state(k) not in ("Z", None)]
        if not kids:
            break
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
                killed.add(k)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    reap_all()
    return len(killed)


# ---------------------------------------------------------------- cgroups


def cgroup_hierarchies() -> dict[str, str]:
    """Controller (or 'name=X', or 'unified') -> mount point, for every cgroup mount in this namespace."""
    found: dict[str, str] = {}
    for m in read_mountinfo():
        if m.fstype == "cgroup2":
            found.setdefault("unified", m.mountpoint)
        elif m.fstype == "cgroup":
            for opt in m.super_opts:
                if opt in ("rw", "ro") or opt.startswith(("release_agent=", "clone_children", "noprefix")):
                    continue
                found.setdefault(opt, m.mountpoint)
    return found


def proc_cgroups(pid: int | str) -> dict[str, str]:
    """Controller -> path from /proc/PID/cgroup ('unified' for the v2 line)."""
    result = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if not controllers:
                result["unified"] = path
                continue
            for c in controllers.split(","):
                result[c] = path
    return result


def find_cgroup_dirs(token: str) -> list[str]:
    """Every cgroup directory (any hierarchy) whose name contains token, deepest first."""
    hits = set()
    for mountpoint in set(cgroup_hierarchies().values()):
        for dirpath, dirnames, _ in os.walk(mountpoint, onerror=lambda e: None):
            for d in dirnames:
                if token in d:
                    full = os.path.join(dirpath, d)
                    hits.add(full)
                    for sub, _, _ in os.walk(full, onerror=lambda e: None):
                        hits.add(sub)
            dirnames[:] = [d for d in dirnames if token not in d]
    return sorted(hits, key=lambda p: (-p.count("/"), p))


def remove_cgroup_dir(path: str) -> bool:
    """Kill what is inside, thaw it if frozen, then rmdir (retrying while tasks exit)."""
    for attempt in range(50):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = [int(p) for p in f.read().split()]
        except FileNotFoundError:
            return True
        except OSError:
            pids = []
        freezer_state = os.path.join(path, "freezer.state")
        if os.path.exists(freezer_state):
            try:
                with open(freezer_state, "w") as f:
                    f.write("THAWED")
            except OSError:
                pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap_all()
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.02 if attempt < 10 else 0.1)
    return False


def read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None
