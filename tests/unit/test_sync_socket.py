"""The parent's side of the sync socket (pyrunc/_core.pyx recv) on a real SOCK_SEQPACKET pair.

The init asks for its setup and goes on mounting without waiting for the ack. If a mount fails
before it reads the ack, it sends its error and exits with our ack unread; the kernel then reports
ECONNRESET to our next read, ahead of the error still queued. CI saw `pyrunc run` say "container
init exited with status 1 during setup" instead of the init's own message that way (rootless
test_sys_bound_only_onto_a_real_directory, where /sys is a symlink)."""

from __future__ import annotations

import os

from pyrunc import _core
from pyrunc.container.launch import SYNC_ACK, SYNC_ERROR


def test_the_inits_error_is_read_after_it_died_with_our_ack_unread() -> None:
    ours, inits = _core.sync_socketpair()
    try:
        assert _core.send_msg(ours, SYNC_ACK, b"state")  # queued: the init never reads it
        assert _core.send_msg(inits, SYNC_ERROR, b"/sys is reached through a symlink")
        os.close(inits)
        inits = -1
        assert _core.recv(ours) == (SYNC_ERROR, 0, b"/sys is reached through a symlink")
        assert _core.recv(ours) == (0, 0, b"")  # then end-of-file, without waiting
    finally:
        os.close(ours)
        if inits >= 0:
            os.close(inits)


def test_a_reset_with_nothing_queued_is_end_of_file() -> None:
    ours, inits = _core.sync_socketpair()
    try:
        assert _core.send_msg(ours, SYNC_ACK)
        os.close(inits)
        assert _core.recv(ours) == (0, 0, b"")
    finally:
        os.close(ours)
