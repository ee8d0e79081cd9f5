"""Hand a seccomp user-notification fd to `linux.seccomp.listenerPath`, as the runtime-spec says:
one message on an AF_UNIX stream socket, the container process state as JSON, the fd in
SCM_RIGHTS."""

import os

from pyrunc import OCI_VERSION, jsonio
from pyrunc.errors import PyruncError, errno_text


def listener_message(pid: int, metadata: str, state: dict) -> bytes:
    doc = {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": pid, "metadata": metadata, "state": state}
    return jsonio.dumps(doc).encode()


def take_and_send(pid: int, remote_fd: int, listener_path: str, metadata: str, state: dict) -> None:
    """Copy the listener fd out of the process that loaded the filter (pidfd_getfd: the init,
    or the process of an exec) and send it to the listener."""
    from pyrunc import _core

    try:
        pidfd = _core.pidfd_open(pid)
        try:
            fd = _core.pidfd_getfd(pidfd, remote_fd)
        finally:
            os.close(pidfd)
    except OSError as err:
        raise PyruncError(f"take the seccomp listener fd from pid {pid}: {errno_text(err)}") from None
    try:
        sock = _core.connect_unix(listener_path)
    except OSError as err:
        os.close(fd)
        raise PyruncError(f"linux.seccomp.listenerPath {listener_path}: {errno_text(err)}") from None
    try:
        _core.send_with_fd(sock, listener_message(pid, metadata, state), fd)
    except OSError as err:
        raise PyruncError(f"send the seccomp fd to {listener_path}: {errno_text(err)}") from None
    finally:
        os.close(sock)
        os.close(fd)
