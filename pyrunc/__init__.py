"""pyrunc: an OCI runtime with runc's command line, in Python with a C core.

Also the path helpers of the hot verbs (state, start, kill, delete): their modules call `posix`,
the C module `os` re-exports, and these in place of os.path, because `import os` (with
_collections_abc and posixpath) costs 1.1-1.4 ms here, more than `state` or `kill` does itself
(issue 15). Here, in the package every command imports anyway, they cost no module of their own.
"""

__version__ = "0.1.0"
OCI_VERSION = "1.3.0"


def version_text() -> str:
    """`pyrunc --version`. Here, not in commands.py: --version then imports nothing else (os)."""
    try:
        from pyrunc._build_info import COMMIT
    except ImportError:
        COMMIT = "unknown"
    return f"pyrunc version {__version__}\ncommit: {COMMIT}\nspec: {OCI_VERSION}\n"


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


def absolute(path: str) -> str:
    """os.path.abspath; posixpath is imported only for a path that is not already absolute and
    normalised (a --root such as /run/pyrunc is returned as it is)."""
    if path.startswith("/") and all(part not in ("", ".", "..") for part in path[1:].split("/")):
        return path
    import posixpath

    return posixpath.abspath(path)


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


def is_dir(path: str) -> bool:
    """os.path.isdir."""
    import posix
    from _stat import S_ISDIR

    try:
        return S_ISDIR(posix.stat(path).st_mode)
    except (OSError, ValueError):
        return False
