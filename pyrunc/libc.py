"""mount(2) and umount2(2), which Python's os module lacks, through the interpreter's own libc.

For the Python-side mounts outside the container's creation (the shim's rootfs from containerd,
restore's bind of the rootfs for CRIU); the container's own mounts are made in C (csrc/rootfs.c).
Errors are OSError with the errno, as os's own calls raise them.
"""

from __future__ import annotations

import ctypes
import os

# ctypes.CDLL(None): the libc already loaded (ctypes.util.find_library would run ldconfig).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _raise(target: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err), target)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2); None (or "") for an argument the call does not need."""
    if _libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    ):
        _raise(target)


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    if _libc.umount2(target.encode(), flags):
        _raise(target)
