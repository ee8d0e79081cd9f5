"""The --root store: one directory per container holding state.json, a lock and exec.fifo.

state.json is written atomically (temp file + rename) and only ever read whole. The status is
derived, never trusted: the init pid must be alive with the start time we recorded (a reused pid
is another process), exec.fifo present means created, a frozen cgroup means paused.
"""

import os

from pyrunc import jsonio
from pyrunc.errors import NotFound, PyruncError, errno_text

DEFAULT_ROOT = "/run/pyrunc"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
FIFO = "exec.fifo"

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id: str) -> None:
    """runc's rule (^[\\w+-\\.]+$, not . or ..): no id can name a path outside --root."""
    if not container_id:
        raise PyruncError("container id cannot be empty")
    if container_id in (".", "..") or not set(container_id) <= _ID_CHARS:
        raise PyruncError(f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-', '.'")
    if len(container_id) > 1024:
        raise PyruncError("invalid container id: longer than 1024 characters")


def _is_valid_id(name: str) -> bool:
    return name not in (".", "..") and set(name) <= _ID_CHARS


def rfc3339_now() -> str:
    import time

    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{stamp}.{frac:09d}Z"


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[19])


class Store:
    """Container directories under an absolute root."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def path(self, container_id: str, name: str = "") -> str:
        check_id(container_id)
        base = os.path.join(self.root, container_id)
        return os.path.join(base, name) if name else base

    def ensure_root(self) -> None:
        try:
            os.makedirs(self.root, mode=0o711, exist_ok=True)
        except OSError as err:
            raise PyruncError(f"cannot create root directory {self.root}: {errno_text(err)}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PyruncError(f"root directory {self.root} is not writable")

    def make_container_dir(self, container_id: str) -> str:
        """Atomically claim the id: exactly one of concurrent creates succeeds."""
        path = self.path(container_id)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise PyruncError(f"container with id {container_id!r} already exists") from None
        except OSError as err:
            raise PyruncError(f"cannot create state directory {path}: {errno_text(err)}") from None
        return path

    def exists(self, container_id: str) -> bool:
        return os.path.isdir(self.path(container_id))

    def lock(self, container_id: str, shared: bool = False, wait: bool = True) -> int | None:
        """flock the container's lock file; returns the fd (close it to unlock), or None when
        `wait` is False and someone else holds it."""
        import fcntl

        path = self.path(container_id, LOCK_FILE)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise NotFound(container_id) from None
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode if wait else mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def read(self, container_id: str) -> dict:
        path = self.path(container_id, STATE_FILE)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if self.exists(container_id):
                return {}
            raise NotFound(container_id) from None
        try:
            state = jsonio.loads(data)
        except ValueError:
            raise PyruncError(f"state of container {container_id!r} is corrupt ({path})") from None
        if not isinstance(state, dict):
            raise PyruncError(f"state of container {container_id!r} is corrupt ({path})")
        return state

    def write(self, container_id: str, state: dict) -> None:
        path = self.path(container_id, STATE_FILE)
        write_atomic(path, jsonio.dumps(state).encode())

    def list_ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        # Only valid ids: the root also holds e.g. "#seccomp-cache", which no id can name.
        return sorted(n for n in names if _is_valid_id(n) and os.path.isdir(os.path.join(self.root, n)))

    def remove(self, container_id: str) -> None:
        path = self.path(container_id)
        for name in (FIFO, STATE_FILE, LOCK_FILE, "config.json", "state.json.tmp"):
            try:
                os.unlink(os.path.join(path, name))
            except FileNotFoundError:
                pass
        try:
            for leftover in os.listdir(path):
                os.unlink(os.path.join(path, leftover))
            os.rmdir(path)
        except FileNotFoundError:
            pass


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write a file so readers see the old content or the new, never a part."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def derive_status(store: Store, container_id: str, state: dict, locked: bool = False) -> str:
    """creating / created / running / paused / stopped, from the kernel's view, not the file's.
    `locked`: the caller holds the container's lock (so no create is under way)."""
    if state.get("creating") or not state:
        # Only while the creating process still holds the lock; a create that was killed
        # mid-way left a container that exists only to be deleted.
        if locked:
            return "stopped"
        fd = store.lock(container_id, shared=True, wait=False)
        if fd is None:
            return "creating"
        os.close(fd)
        return "stopped"
    pid = state.get("pid") or 0
    if pid <= 0:
        return "stopped"
    stat = proc_stat(pid)
    if stat is None or stat[1] != state.get("init_start") or stat[0] in ("Z", "X", "x"):
        return "stopped"
    if os.path.exists(store.path(container_id, FIFO)):
        return "created"
    if state.get("cgroup") and _is_frozen(state["cgroup"]):
        return "paused"
    return "running"


def _is_frozen(cgroup_state: dict) -> bool:
    from pyrunc.freezer import is_frozen

    return is_frozen(cgroup_state)


def oci_state(state: dict, status: str) -> dict:
    """The state JSON of `pyrunc state`: the OCI fields plus runc's rootfs, created and owner,
    in runc's order."""
    out = {
        "ociVersion": state.get("ociVersion", ""),
        "id": state.get("id", ""),
        "pid": state.get("pid", 0) if status != "stopped" else 0,
        "status": status,
        "bundle": state.get("bundle", ""),
        "rootfs": state.get("rootfs", ""),
        "created": state.get("created", ""),
    }
    if state.get("annotations"):
        out["annotations"] = state["annotations"]
    out["owner"] = state.get("owner", "")
    return out
