"""The rootfs containerd gives in Create (its snapshotter's mounts: overlay, or a bind for the native
one), mounted at BUNDLE/rootfs before the container is made, and unmounted at Delete."""

from __future__ import annotations

import errno
import os

from pyrunc import libc
from pyrunc import linux as L
from pyrunc.errors import PyruncError, errno_text


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    try:
        libc.mount(source, target, fstype, flags, data)
    except OSError as err:
        raise PyruncError(f"mount {fstype} {source} at {target}: {errno_text(err)}") from None


def mount_all(mounts: list, target: str) -> None:
    """Each of containerd's Mount messages (type, source, options) at `target`, in order; on failure
    what was mounted is undone."""
    from pyrunc.mounts import parse_options

    os.makedirs(target, exist_ok=True)
    done = 0
    try:
        for m in mounts:
            flags, propagation, data = parse_options(list(m.options))
            fstype = m.type
            if fstype == "bind":
                flags |= L.MS_BIND
            readonly = flags & L.MS_RDONLY
            _mount(
                m.source, target, fstype, flags & ~(L.MS_RDONLY if flags & L.MS_BIND else 0), ",".join(data)
            )
            done += 1
            if flags & L.MS_BIND and readonly:
                _mount("", target, "", flags | L.MS_REMOUNT | L.MS_RDONLY, "")
            if propagation:
                _mount("", target, "", propagation, "")
    except BaseException:
        if done:
            unmount_all(target)
        raise


def unmount_all(target: str) -> None:
    """Everything mounted at `target` (detached: a process still holding it does not block us)."""
    for _ in range(64):
        try:
            libc.umount2(target, L.MNT_DETACH)
        except OSError as err:
            if err.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise PyruncError(f"unmount {target}: {err.strerror}") from None
