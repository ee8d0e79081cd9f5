"""The compiled-filter cache: one file per compiled profile, named by a SHA-256 over everything the
program depends on: the profile object, this module's format, the libseccomp version and the
running kernel (libseccomp and our flag checks probe it). Entries are trusted only if they are
regular files owned by us and writable by nobody else, so another user cannot plant a weaker
filter."""

from __future__ import annotations

import posix  # os without its import cost (a cache hit): see pyrunc/paths.py
import struct

from pyrunc import _seccomp, log
from pyrunc.seccomp.profile import FLAG_NEW_LISTENER, SeccompProgram

FORMAT = b"pyrunc-seccomp-1\n"
MAX_ENTRIES = 128
FLAGS_RECORD = struct.Struct("=I")


def entry_key(seccomp: dict) -> str:
    try:
        from _sha256 import sha256  # built in on 3.11; hashlib would first load OpenSSL (~7 ms)
    except ImportError:  # Python 3.12+
        from hashlib import sha256
    from pyrunc import jsonio

    uname = posix.uname()
    digest = sha256(FORMAT)
    digest.update(repr((_seccomp.version(), uname.release, uname.version, uname.machine)).encode())
    digest.update(jsonio.dumps(seccomp).encode())
    return digest.hexdigest()


def load_entry(cache: str, key: str, seccomp: dict) -> SeccompProgram | None:
    try:
        fd = posix.open(cache + key, posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = posix.fstat(fd)
        regular = st.st_mode & 0o170000 == 0o100000
        if not (regular and st.st_uid == posix.geteuid() and not st.st_mode & 0o022):
            return None
        data = posix.read(fd, st.st_size + 1)
    finally:
        posix.close(fd)
    header = len(FORMAT) + FLAGS_RECORD.size
    bpf = data[header:]
    if not data.startswith(FORMAT) or not bpf or len(bpf) % _seccomp.BPF_INSN_SIZE:
        return None
    (flags,) = FLAGS_RECORD.unpack_from(data, len(FORMAT))
    if not flags & FLAG_NEW_LISTENER:
        return SeccompProgram(bpf, flags, None, "")
    return SeccompProgram(bpf, flags, seccomp.get("listenerPath"), seccomp.get("listenerMetadata") or "")


def store_entry(cache: str, key: str, program: SeccompProgram) -> None:
    """Best effort: a cache that cannot be written only costs the next create some time."""
    import os  # a miss: libseccomp's compile costs far more

    data = FORMAT + FLAGS_RECORD.pack(program.flags) + program.bpf
    tmp = f"{cache}{key}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
        evict(cache)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, cache + key)
    except OSError as err:
        log.debug(f"seccomp: cannot cache the compiled filter as {cache}{key}: {err}")
        try:  # not contextlib.suppress: contextlib costs ~4 ms of imports on the create path
            os.unlink(tmp)
        except OSError:
            pass


def evict(cache: str) -> None:
    """Keep the cache bounded: past MAX_ENTRIES, drop the older half. Only the files named
    with the cache's prefix count (the directory may be a --root full of containers)."""
    import os

    directory, prefix = os.path.split(cache)
    with os.scandir(directory) as entries:
        files = [e for e in entries if e.name.startswith(prefix) and e.is_file(follow_symlinks=False)]
    if len(files) < MAX_ENTRIES:
        return
    files.sort(key=lambda entry: entry.stat(follow_symlinks=False).st_mtime)
    for entry in files[: len(files) // 2]:
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            pass
