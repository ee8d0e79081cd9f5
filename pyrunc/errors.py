"""Error types. Every user-facing failure is a PyruncError: one line, exit status 1.

Here only what the hot verbs (state, start, kill, delete) may raise: each class statement costs
them 15-25 us cold. config.json's ConfigError is pyrunc/config/__init__.py's, the init's
ChildError pyrunc/container/launch.py's."""


class PyruncError(Exception):
    """A failure to report to the user as one line, exiting with `exit_code`."""

    exit_code = 1


class NotFound(PyruncError):
    """Unknown container id. containerd matches 'does not exist'."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id!r} does not exist")


def errno_text(err: int | OSError) -> str:
    """strerror as Go (and so runc) spells it: "no such file or directory". Managers match on
    these texts: dockerd maps "no such file or directory" to exit status 127."""
    import posix  # os.strerror, without importing os (see pyrunc/paths.py)

    number = err.errno if isinstance(err, OSError) else err
    text = posix.strerror(number or 0)
    return text[0].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def is_errno(err: OSError, *names: str) -> bool:
    """Is err.errno one of errno's `names`? errno is imported here, when an error is looked at:
    delete's rmdirs and renames, which succeed, need none of it (0.03-0.05 ms to import)."""
    import errno

    return err.errno in [getattr(errno, name) for name in names]
