"""What makes and mends the container directories of a --root store: the directory a create
claims, the state it writes, and what killed commands leave behind (claims of dead processes, a
directory without its lock file). pyrunc/store.py reads, locks and removes them: that is all the
hot verbs (state, start, kill, delete) load, and this module's code is a third of what the store
was (issue 15: each line of a module a verb loads is paid by every call).
"""

import marshal  # loaded by the interpreter's start already
import posix

from pyrunc.errors import NotFound, PyruncError, errno_text, is_errno
from pyrunc.paths import is_dir, join, lexists
from pyrunc.store import (
    CLAIM_PREFIX,
    LEGACY_SECCOMP_CACHE,
    LOCK_FILE,
    STATE_CACHE,
    STATE_FILE,
    Store,
    claim_suffix,
    remove_tree_quietly,
)


def rfc3339_now() -> str:
    import time

    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{stamp}.{frac:09d}Z"


def ensure_root(store: Store) -> None:
    try:
        # A rootless caller's root is its own alone: other users cannot even list it.
        from pyrunc.rootless import rootless

        mode = 0o700 if rootless() else 0o711
        try:
            posix.mkdir(store.root, mode)
        except FileExistsError:  # as every time but the first (os.makedirs's import spared)
            if not is_dir(store.root):
                raise
        except FileNotFoundError:
            import os

            os.makedirs(store.root, mode=mode, exist_ok=True)
    except OSError as err:
        raise PyruncError(f"cannot create root directory {store.root}: {errno_text(err)}") from None
    if not posix.access(store.root, posix.W_OK | posix.X_OK):
        raise PyruncError(f"root directory {store.root} is not writable")
    legacy = join(store.root, LEGACY_SECCOMP_CACHE)
    if is_dir(legacy):
        remove_tree_quietly(legacy)


def claim(store: Store, container_id: str) -> int:
    """Make the container's directory, holding its lock from the start; returns the lock fd.

    The directory is built under a name no id can have, with its lock file flocked, then
    renamed into place without replacing anything: no other command can see the id before
    its lock is held, of concurrent creates exactly one rename succeeds, and none takes over
    the empty directory of a delete that is finishing."""
    import fcntl

    from pyrunc import _core

    path = store.path(container_id)
    if lexists(path):
        raise PyruncError(f"container with id {container_id!r} already exists")
    tmp = store.own_claim(container_id)
    fd = -1
    try:
        posix.mkdir(tmp, 0o711)
        fd = posix.open(
            join(tmp, LOCK_FILE), posix.O_RDWR | posix.O_CREAT | posix.O_EXCL | posix.O_CLOEXEC, 0o600
        )
        fcntl.flock(fd, fcntl.LOCK_EX)
        _core.rename_noreplace(tmp, path)
    except OSError as err:
        if fd >= 0:
            posix.close(fd)
        remove_tree_quietly(tmp)
        if is_errno(err, "EEXIST", "ENOTEMPTY", "EISDIR"):
            raise PyruncError(f"container with id {container_id!r} already exists") from None
        raise PyruncError(f"cannot create state directory {path}: {errno_text(err)}") from None
    return fd


def claims_of(names: list[str], container_id: str) -> list[tuple[str, int]]:
    """The claim names of the id among `names` (a store root's entries), each with the pid it
    names: "#claim-<pid>" and the id's claim_suffix, nothing else between (the claims of an id
    that ends with this one's, "x-c" for "c", are not this id's)."""
    suffix = claim_suffix(container_id)
    found = []
    for name in names:
        pid = name[len(CLAIM_PREFIX) : -len(suffix)]
        if name.startswith(CLAIM_PREFIX) and name.endswith(suffix) and pid.isdigit():
            found.append((name, int(pid)))
    return found


def remove_dead_claims(store: Store, container_id: str) -> None:
    """Remove the directories of claims of the id whose process is gone: what a create killed
    between its mkdir and its rename, or a remove killed before its rmdir, leaves (the claim
    is then nobody's)."""
    try:
        names = posix.listdir(store.root)
    except OSError:
        return
    for name, pid in claims_of(names, container_id):
        # Only for a claim: containerd's `shim delete` comes here after every shim's exit, and
        # almost always finds none (so it does not load the container's module).
        from pyrunc.container.base import process_gone

        if process_gone(pid):
            remove_tree_quietly(join(store.root, name))


def lock_lockless(store: Store, container_id: str) -> int | None:
    """Lock a container directory that has no lock file, by giving it one; None when there is
    no directory. One that has a lock file again (claimed anew meanwhile) is locked as usual.
    Only a directory that already had no lock can get one here (O_EXCL): a claim's directory
    has its lock before it has its name. Another runtime's directory (runc and crun keep no
    lock file) is refused, not given one."""
    store.refuse_foreign(container_id)
    try:
        posix.close(
            posix.open(
                store.path(container_id, LOCK_FILE),
                posix.O_RDWR | posix.O_CREAT | posix.O_EXCL | posix.O_CLOEXEC,
                0o600,
            )
        )
    except FileNotFoundError:
        return None
    except FileExistsError:
        pass
    except OSError as err:
        raise PyruncError(f"cannot lock container {container_id!r}: {errno_text(err)}") from None
    try:
        return store.lock(container_id)
    except NotFound:
        return None


def write(store: Store, container_id: str, state: dict) -> None:
    from pyrunc import jsonio

    path = store.path(container_id, STATE_FILE)
    text = jsonio.dumps(state).encode()
    try:
        write_atomic(path, text)
        # After state.json: a read between the two finds the old cache, not of this text.
        cache = marshal.dumps((text, jsonio.loads(text)))  # what the JSON reads as, exactly
        write_atomic(store.path(container_id, STATE_CACHE), cache)
    except OSError as err:
        raise PyruncError(f"cannot write state of {container_id!r}: {errno_text(err)}") from None


def write_file(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write a whole file in one write; a short write (a full filesystem) is ENOSPC."""
    fd = posix.open(path, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, mode)
    try:
        if posix.write(fd, data) != len(data):
            import errno

            raise OSError(errno.ENOSPC, posix.strerror(errno.ENOSPC))
    finally:
        posix.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write a file so readers see the old content or the new, never a part."""
    tmp = f"{path}.tmp{posix.getpid()}"
    try:
        write_file(tmp, data, mode)
        posix.rename(tmp, path)
    except OSError:
        try:
            posix.unlink(tmp)
        except OSError:
            pass
        raise
