"""Small cgroupfs file helpers shared by the v1 and v2 managers.

On the hot path of `delete`: imports only posix and time (not os: see pyrunc/paths.py), and errno
only once an error is looked at (pyrunc.errors.is_errno).
"""

import posix  # os without its import cost: see pyrunc/paths.py
import time

from pyrunc.errors import PyruncError, is_errno
from pyrunc.paths import join, read_text  # read_text: the cgroup modules take it from here

CGROUP_ROOT = "/sys/fs/cgroup"
# The key of the cgroup2 hierarchy wherever hierarchies are keyed by controller (discovery.py, the
# v1 manager's paths): the only one on v2, /sys/fs/cgroup/unified on a hybrid host.
UNIFIED = "unified"


class CgroupError(PyruncError):
    """A cgroup operation failed; the message names the field and/or file."""


_noted: set[str] = set()


def ignore_unknown_fields(value: dict, where: str, known: set[str]) -> None:
    """The runtime-spec: an unknown property MUST NOT be an error and MUST be ignored (newer
    managers send fields this runtime does not know yet); it is logged at debug level.

    Names are matched exactly, as the spec spells them (and as crun does). runc, through Go's JSON
    decoding, also takes a key that differs only in case (`CPU` for `cpu`); pyrunc does not follow:
    folding would apply to every key of config.json, leaves which of `cpu` and `CPU` wins to key
    order, and the schema and semantic checks would validate one spelling while another applies.
    Such a key is the one place runc and pyrunc differ, so it is a warning naming the known field."""
    for key in sorted(set(value) - known):
        name = f"{where}.{key}"
        if name in _noted:  # some sections are read twice (v2's cpu and cpuset)
            continue
        _noted.add(name)
        from pyrunc import log

        same = [k for k in known if k.lower() == key.lower()]
        if same:
            log.warning(
                f"{name}: unknown property, ignored (names are case-sensitive: runc would read it"
                f" as {same[0]!r})"
            )
        else:
            log.debug(f"{name}: unknown property, ignored")


def write_text(path: str, value: str) -> None:
    """One write(2) of `value` to an existing cgroup file (never creates it).

    cgroupfs reports a rejected value as the errno of that single write, so the
    whole value must go out in one call.
    """
    fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC)
    try:
        data = value.encode()
        if posix.write(fd, data) != len(data):
            import errno

            raise OSError(errno.EIO, "short write", path)
    finally:
        posix.close(fd)


def read_keyed(path: str) -> dict[str, str]:
    """`key value` lines (memory.stat, cgroup.events, ...) as a dict of strings."""
    out = {}
    for line in read_text(path).splitlines():
        key, _, value = line.partition(" ")
        if key:
            out[key] = value.strip()
    return out


def write_pid(procs_file: str, pid: int) -> None:
    """Move `pid` into a cgroup. EINVAL can mean the task is still being forked
    (TASK_NEW): retry a few times, as runc does."""
    for attempt in range(5):
        try:
            write_text(procs_file, str(pid))
            return
        except OSError as e:
            if not is_errno(e, "EINVAL") or attempt == 4:
                raise
            time.sleep(0.03)


def read_pids(procs_file: str) -> list[int]:
    """The pids in a cgroup.procs; none when the cgroup is gone, or going: ENODEV is what a read
    gets while the cgroup is removed under it (systemd removes an emptied scope on its own)."""
    try:
        text = read_text(procs_file)
    except OSError as e:
        if is_errno(e, "ENOENT", "ENODEV"):
            return []
        raise
    return [int(x) for x in text.split()]


def walk_pids(directory: str) -> list[int]:
    """Every pid in `directory` and its descendants (cgroup.procs of each)."""
    pids = read_pids(join(directory, "cgroup.procs"))
    try:
        entries = list(posix.scandir(directory))
    except OSError as e:
        if is_errno(e, "ENOENT", "ENODEV"):
            return pids
        raise
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            pids.extend(walk_pids(entry.path))
    return pids


def signal_quietly(pid: int, signal: int) -> None:
    """kill(2) that ignores a process which has already gone."""
    try:
        posix.kill(pid, signal)
    except ProcessLookupError:
        return


def _rmdir_retrying(path: str) -> None:
    # A cgroup whose last task just exited can report EBUSY for a short while
    # (the exiting task is still being released); runc retries with backoff too.
    delay = 0.01
    for attempt in range(8):
        try:
            posix.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if not is_errno(e, "EBUSY") or attempt == 7 or read_pids(join(path, "cgroup.procs")):
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def remove_tree(directory: str) -> None:
    """rmdir a cgroup and all its sub-cgroups, leaves first. Missing (or being removed) is fine.
    The rmdir is tried first, as runc's RemovePath does: a container's cgroup rarely has
    sub-cgroups, and listing each of the 11 v1 hierarchies' directories first cost `delete` about
    0.1 ms (the kernel refuses a cgroup with children with EBUSY; they are then removed first)."""
    try:
        posix.rmdir(directory)
        return
    except FileNotFoundError:
        return
    except OSError as e:
        if not is_errno(e, "EBUSY", "ENOTEMPTY", "ENODEV"):
            raise
    try:
        entries = list(posix.scandir(directory))
    except OSError as e:
        if is_errno(e, "ENOENT", "ENODEV"):
            return
        raise
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            remove_tree(entry.path)
    _rmdir_retrying(directory)


def remove_if_empty(directory: str) -> None:
    """rmdir a parent cgroup we created, unless someone else now uses it."""
    try:
        posix.rmdir(directory)
    except OSError as e:
        if not is_errno(e, "ENOENT", "EBUSY", "ENOTEMPTY"):
            raise


def clean_path(path: str) -> str:
    """runc's CleanPath: normalise without letting `..` climb above the start.

    An absolute path stays absolute; a relative one stays relative but can no
    longer escape the directory it is joined to.
    """
    if not path:
        return ""
    # normpath keeps a leading "//" (POSIX allows it a meaning); cgroupfs does not.
    from pyrunc.paths import normpath

    cleaned = normpath("/" + path).lstrip("/")
    return "/" + cleaned if path.startswith("/") else cleaned


def retry_if_a_parent_vanishes(make, directory: str, attempts: int = 5) -> None:
    """Call make() until it does not raise FileNotFoundError: a parent it was filling in vanished
    under it (another container's destroy removed it as empty just now); make() starts again
    from what exists."""
    for attempt in range(attempts):
        try:
            make()
            return
        except FileNotFoundError as e:
            if attempt == attempts - 1:
                raise CgroupError(f"cannot create cgroup {directory}: {oserror_text(e)}") from None


def oserror_text(e: OSError) -> str:
    return posix.strerror(e.errno) if e.errno else str(e)


def wait_until(predicate, timeout: float, interval: float = 0.002) -> bool:
    """Poll `predicate` with a growing interval; True once it holds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
        interval = min(interval * 2, 0.05)
