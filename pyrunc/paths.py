"""The path, environment and file-reading helpers of pyrunc's commands, in place of os.path,
os.environ and open().

The modules of the commands (the hot verbs, create, run and exec) call `posix`, the C module `os`
re-exports, and these, because `import os` (with _collections_abc and posixpath) costs 1.1-1.4 ms
here, more than `state` or `kill` does itself, and 2 ms of create's (issue 15).
tests/unit/test_paths.py holds each to os's result.
"""


def join(path: str, *names: str) -> str:
    """os.path.join (str only)."""
    for name in names:
        if name.startswith("/"):
            path = name
        elif not path or path.endswith("/"):
            path += name
        else:
            path += "/" + name
    return path


def dirname(path: str) -> str:
    """os.path.dirname (str only)."""
    head = path[: path.rfind("/") + 1]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head


def basename(path: str) -> str:
    """os.path.basename (str only)."""
    return path[path.rfind("/") + 1 :]


def getenv(name: str, default: str | None = None) -> str | None:
    """os.environ.get(name, default): posix.environ holds bytes, decoded as os.environ does."""
    import posix

    value = posix.environ.get(name.encode())
    return default if value is None else value.decode("utf-8", "surrogateescape")


def normpath(path: str) -> str:
    """os.path.normpath (str only): POSIX keeps a leading "//" and folds three or more."""
    if not path:
        return "."
    initial = 1 if path.startswith("/") else 0
    if initial and path.startswith("//") and not path.startswith("///"):
        initial = 2
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != ".." or (not initial and not parts) or (parts and parts[-1] == ".."):
            parts.append(part)
        elif parts:
            parts.pop()
    return "/" * initial + "/".join(parts) or "."


def absolute(path: str) -> str:
    """os.path.abspath (a --root such as /run/pyrunc is returned as it is)."""
    if path.startswith("/") and all(part not in ("", ".", "..") for part in path[1:].split("/")):
        return path
    if not path.startswith("/"):
        import posix

        path = join(posix.getcwd(), path)
    return normpath(path)


def path_exists(path: str) -> bool:
    """os.path.exists."""
    import posix

    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


def lexists(path: str) -> bool:
    """os.path.lexists."""
    import posix

    try:
        posix.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def read_bytes(path: str) -> bytes:
    """open(path, "rb").read(), without the buffered reader around the fd and its checks (fstat,
    isatty, seeks): 4 syscalls instead of 7, about 20 us less a file and 50 us less the command's
    first (measured here). The hot verbs read state.json, /proc/PID/stat and cgroup files so."""
    import posix

    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        chunks = []
        while chunk := posix.read(fd, 65536):
            chunks.append(chunk)
    finally:
        posix.close(fd)
    return b"".join(chunks)


def read_text(path: str) -> str:
    """An ASCII file (a cgroup or /proc file) as text. Read as UTF-8, the codec the interpreter has
    loaded at start: "ascii" would import encodings.ascii, a module file, in every delete and kill."""
    return read_bytes(path).decode("utf-8", "replace")


def read_first_line(path: str) -> str:
    """The first line of read_text(path), stripped."""
    return read_text(path).partition("\n")[0].strip()


def is_dir_mode(mode: int) -> bool:
    """stat.S_ISDIR (S_IFMT, S_IFDIR), without importing _stat: each module imported costs the hot
    verbs about 0.05 ms, and they need this one test alone."""
    return mode & 0o170000 == 0o040000


def is_dir(path: str) -> bool:
    """os.path.isdir."""
    import posix

    try:
        return is_dir_mode(posix.stat(path).st_mode)
    except (OSError, ValueError):
        return False
