"""The --root store: one directory per container holding state.json, a lock and exec.fifo.
Here: reading, locking and removing them; making one (the claim) and writing its state is
pyrunc/store_write.py's, which only create and the recovery of killed commands load.

state.json is written atomically (temp file + rename) and only ever read whole. The store keeps
files; what a container's status is (from /proc, exec.fifo and the freezer) is the container's
business: pyrunc/container/base.py.

Without `import os`, as every module of the hot verbs: see pyrunc/paths.py.
"""

import marshal  # loaded by the interpreter's start already
import posix

from pyrunc.errors import NotFound, PyruncError, errno_text, is_errno
from pyrunc.paths import absolute, is_dir, is_dir_mode, join, path_exists, read_bytes

TYPE_CHECKING = False  # mypy takes it as true
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/pyrunc"  # root's; see pyrunc/rootless.py default_root() for everyone
STATE_FILE = "state.json"
# state.json's text and the value it reads as, marshalled: read() takes the value from there when
# the text is state.json's, which spares the hot verbs loading _json (an extension module: 0.15-0.2
# ms of each). state.json stays the record: a cache that is not of its text is ignored.
STATE_CACHE = "state.marshal"
LOCK_FILE = "lock"
FIFO = "exec.fifo"
# Compiled seccomp programs are cached as files in the root itself, "#seccomp-<key>": '#' is in no
# container id, and runc's and crun's `list`, which read every directory of a root they may share
# with us (dockerd 20.10 gives every runtime the same one), skip files. A directory there, such as
# the "#seccomp-cache" of earlier versions, makes runc's list warn ("invalid container ID format").
SECCOMP_CACHE_PREFIX = "#seccomp-"
LEGACY_SECCOMP_CACHE = SECCOMP_CACHE_PREFIX + "cache"  # the directory of earlier versions

# "#claim-<pid>-<id>": an id being claimed (store_write.claim) or removed (Store.remove) by process pid
CLAIM_PREFIX = "#claim-"
_NAME_MAX = 255
_PID_DIGITS = 10  # the most a pid takes (pid_max is at most 2^22): a claim name's room for it

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id: str) -> None:
    """runc's rule (^[\\w+-\\.]+$, not . or ..): no id can name a path outside --root."""
    if not container_id:
        raise PyruncError("container id cannot be empty")
    if container_id in (".", "..") or not set(container_id) <= _ID_CHARS:
        raise PyruncError(f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-', '.'")
    if len(container_id) > 255:
        raise PyruncError("invalid container id: longer than 255 characters (the longest file name)")


def claim_suffix(container_id: str) -> str:
    """How the claim names of the id end ("#claim-<pid>" then this): "-<id>", or, for an id too
    long to fit in a file name beside the prefix and a pid, "-~" and a hash of it (no id has a
    "~": it names no other id's claim). Without it, an id of 240 characters could not be created."""
    if len(CLAIM_PREFIX) + _PID_DIGITS + 1 + len(container_id) <= _NAME_MAX:
        return f"-{container_id}"
    import hashlib

    return f"-~{hashlib.sha256(container_id.encode()).hexdigest()}"


def _is_valid_id(name: str) -> bool:
    return name not in (".", "..") and set(name) <= _ID_CHARS


class Store:
    """Container directories under an absolute root."""

    def __init__(self, root: str) -> None:
        self.root = absolute(root)

    @property
    def seccomp_cache(self) -> str:
        """Where compiled seccomp programs are cached: a path prefix, one file per program."""
        return join(self.root, SECCOMP_CACHE_PREFIX)

    def path(self, container_id: str, name: str = "") -> str:
        check_id(container_id)
        base = join(self.root, container_id)
        return join(base, name) if name else base

    def own_claim(self, container_id: str) -> str:
        """This process's claim name for the id (CLAIM_PREFIX): where claim builds the directory
        and remove empties it."""
        return join(self.root, f"{CLAIM_PREFIX}{posix.getpid()}{claim_suffix(container_id)}")

    def exists(self, container_id: str) -> bool:
        path = self.path(container_id)
        try:
            return is_dir_mode(posix.stat(path).st_mode)
        except PermissionError:
            # Another user's root (rootless: 0700): say so, rather than "does not exist".
            raise PyruncError(f"cannot read {path}: permission denied") from None
        except OSError:
            return False

    def owner_uid(self, container_id: str) -> int:
        """The uid owning the container's directory (NotFound once it is gone)."""
        try:
            return posix.stat(self.path(container_id)).st_uid
        except FileNotFoundError:
            raise NotFound(container_id) from None

    def lock(self, container_id: str, shared: bool = False, timeout: float = 10.0) -> int:
        """flock the container's lock file, waiting for it; returns the fd (close it to unlock)."""
        fd = self._lock(container_id, shared, True, timeout)
        assert fd is not None  # waiting, it gets the lock or raises
        return fd

    def try_lock(self, container_id: str, shared: bool = False) -> int | None:
        """As lock, but None at once when someone else holds it."""
        return self._lock(container_id, shared, False, 0.0)

    def _lock(self, container_id: str, shared: bool, wait: bool, timeout: float) -> int | None:
        """flock the container's lock file; returns the fd, or None when `wait` is False and
        someone else holds it. Never creates the lock file (only claim does),
        and checks after locking that the path still names the locked file: a delete may have
        removed the container meanwhile. A lock held longer than `timeout` is an error naming
        its holder."""
        import fcntl

        path = self.path(container_id, LOCK_FILE)
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        for _ in range(5):
            try:
                fd = posix.open(path, posix.O_RDWR | posix.O_CLOEXEC)
            except FileNotFoundError:
                self.refuse_foreign(container_id)  # runc and crun keep no lock file
                raise NotFound(container_id) from None
            except OSError as err:
                raise PyruncError(f"cannot lock container {container_id!r}: {errno_text(err)}") from None
            try:
                if not self._flock(fd, mode, wait, timeout):
                    if not wait:
                        posix.close(fd)
                        return None
                    holder = _lock_holder(fd)
                    raise PyruncError(f"container {container_id!r} is busy: {holder} holds its lock")
                locked, now = posix.fstat(fd), posix.stat(path)
            except FileNotFoundError:
                posix.close(fd)
                raise NotFound(container_id) from None  # removed by the delete we waited for
            except PyruncError:
                posix.close(fd)
                raise
            if (locked.st_dev, locked.st_ino) == (now.st_dev, now.st_ino):
                return fd
            # The container we waited for was deleted and a new one of the same id claimed its
            # place meanwhile: lock that one (never take its directory for a damaged leftover).
            posix.close(fd)
        raise PyruncError(f"container {container_id!r} keeps being replaced while it is locked")

    @staticmethod
    def _flock(fd: int, mode: int, wait: bool, timeout: float) -> bool:
        import fcntl
        import time

        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if not wait or time.monotonic() >= deadline:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def read(self, container_id: str) -> dict:
        """state.json ({} for a directory without one); ForeignContainer when the directory holds
        another runtime's state."""
        path = self.path(container_id, STATE_FILE)
        try:
            data = read_bytes(path)
        except FileNotFoundError:
            if self.exists(container_id):
                runtime = foreign_runtime(self.path(container_id), None)
                if runtime is not None:
                    raise ForeignContainer(container_id, self.path(container_id), runtime) from None
                return {}
            raise NotFound(container_id) from None
        state = _cached_value(self.path(container_id, STATE_CACHE), data)
        if state is None:
            # Only here: start, kill and delete need nothing else of jsonio (its import cost each
            # of them 0.06-0.12 ms; `state` loads it to print).
            from pyrunc import jsonio

            try:
                state = jsonio.loads(data)
            except ValueError:
                raise CorruptState(container_id, path, "not valid JSON") from None
        runtime = foreign_runtime(path, state)
        if runtime is not None:
            raise ForeignContainer(container_id, self.path(container_id), runtime)
        problem = _shape_problem(state)
        if problem:
            raise CorruptState(container_id, path, problem)
        return state

    def refuse_foreign(self, container_id: str) -> None:
        """Raise ForeignContainer if the container's directory holds another runtime's state."""
        try:
            self.read(container_id)
        except (NotFound, CorruptState):
            pass

    def list_ids(self) -> list[str]:
        try:
            names = posix.listdir(self.root)
        except FileNotFoundError:
            return []
        # Only directories with valid ids: the root also holds the seccomp cache's files.
        return sorted(n for n in names if _is_valid_id(n) and is_dir(join(self.root, n)))

    def remove(self, container_id: str) -> None:
        """Remove the container's directory. It leaves the id's place in one step, renamed to a
        claim name of this process, and is emptied there: a command that finds the id finds it
        whole, lock file and all. Emptied in place, it was for a moment a directory without its
        lock, which a racing `delete --force` took for a killed delete's leftover and removed,
        with the cgroup of the create that had just claimed the id again (test_races' mixed race).
        A remove killed before the end leaves the claim name, which remove_dead_claims clears."""
        path = self.path(container_id)
        gone = self.own_claim(container_id)
        for _ in range(2):
            try:
                posix.rename(path, gone)
                break
            except FileNotFoundError:
                return
            except OSError as err:
                if not is_errno(err, "ENOTEMPTY", "EEXIST"):
                    raise PyruncError(f"cannot remove {path}: {errno_text(err)}") from None
                remove_tree_quietly(gone)  # a claim of a dead process that had this pid
        else:
            raise PyruncError(f"cannot remove {path}: {gone} is in the way")
        for _ in range(3):  # a command that opened a file before the rename may still add one
            try:
                remove_flat_directory(gone)
                return
            except FileNotFoundError:
                return
            except OSError as err:
                if not is_errno(err, "ENOTEMPTY"):
                    raise PyruncError(f"cannot remove {path}: {errno_text(err)}") from None
        raise PyruncError(f"cannot remove {path}: something keeps writing into it")


class ForeignContainer(PyruncError):
    """The id names another runtime's container in a --root shared with it: pyrunc reads and
    changes nothing of it (`list` leaves it out)."""

    def __init__(self, container_id: str, directory: str, runtime: str) -> None:
        owner = runtime or "another runtime"
        hint = f" (use {runtime} --root {directory.rpartition('/')[0] or '/'})" if runtime else ""
        super().__init__(
            f"container {container_id!r} is not pyrunc's: {directory} holds {owner}'s state{hint}"
        )


def foreign_runtime(path: str, state: object) -> str | None:
    """Whose container this is when it is not pyrunc's: 'runc', 'crun', '' (another runtime), or
    None for pyrunc's own. `state`: the parsed state.json at `path`, or None (then `path` is the
    container's directory, which has none). Every state.json pyrunc writes has init_start;
    runc's (libcontainer's) has init_process_pid; crun keeps a `status` file instead."""
    if state is None:
        return "crun" if path_exists(join(path, "status")) else None
    if not isinstance(state, dict) or "init_start" in state:
        return None  # ours, or too damaged to say: CorruptState then
    return "runc" if "init_process_pid" in state else ""


class CorruptState(PyruncError):
    """state.json cannot be used; `delete --force` still removes what it can find."""

    def __init__(self, container_id: str, path: str, problem: str) -> None:
        super().__init__(f"state of container {container_id!r} is corrupt ({path}: {problem})")


# The fields pyrunc reads from state.json and the types they must have.
_STATE_FIELDS = {
    "pid": int,
    "init_start": int,
    "bundle": str,
    "rootfs": str,
    "created": str,
    "owner": str,
    "ociVersion": str,
    "id": str,
    "creating": bool,
    "terminal": bool,
    "pid_ns": int,
    "annotations": dict,
    "hooks": dict,
    "cgroup": dict,
}


def _shape_problem(state: object) -> str:
    if not isinstance(state, dict):
        return "not a JSON object"
    for name, kind in _STATE_FIELDS.items():
        value = state.get(name)
        if (value is not None and not isinstance(value, kind)) or (kind is int and isinstance(value, bool)):
            return f"{name} is not a {kind.__name__}"
    return _cgroup_shape_problem(state.get("cgroup"))


def _cgroup_shape_problem(cgroup: dict | None) -> str:
    """The shapes pyrunc.cgroups' managers write with to_state()."""
    if not cgroup:
        return ""
    version = cgroup.get("version")
    if not isinstance(cgroup.get("created") or [], list):
        return "cgroup.created is not a list"
    if version == 1:
        paths = cgroup.get("paths")
        good = isinstance(paths, dict) and all(isinstance(p, str) for p in paths.values())
        return "" if good else "cgroup.paths is not a map of controller to path"
    systemd_names = (cgroup.get("unit"), cgroup.get("slice"))
    if cgroup.get("driver") == "systemd" and not all(isinstance(name, str) for name in systemd_names):
        return "cgroup.unit or cgroup.slice is not a string"
    if version == 2:
        return "" if isinstance(cgroup.get("path"), str) else "cgroup.path is not a string"
    return f"cgroup.version {version!r} is neither 1 nor 2"


def _cached_value(path: str, text: bytes) -> "Any":
    """The value of STATE_CACHE at `path` when it is of `text` (state.json's), else None."""
    try:
        cached = marshal.loads(read_bytes(path))
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if type(cached) is tuple and len(cached) == 2 and cached[0] == text:
        return cached[1]
    return None


def remove_flat_directory(path: str) -> None:
    """Unlink the files of `path` (a container's directory holds no directory), then rmdir it."""
    for name in posix.listdir(path):
        posix.unlink(join(path, name))
    posix.rmdir(path)


def remove_tree_quietly(path: str) -> None:
    try:
        remove_flat_directory(path)
    except OSError:
        pass


def _lock_holder(fd: int) -> str:
    """Who holds the flock on this file, from /proc/locks ("pid N"), for the busy message."""
    try:
        st = posix.fstat(fd)
        needle = f":{st.st_ino} "
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(needle.strip()):
                    return f"pid {fields[4]}"
    except OSError:
        pass
    return "another command"
