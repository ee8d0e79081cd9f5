"""The --root store's lock when a container is deleted and its id claimed again while a command
waits for the old lock (found by tests/reliability/test_races.py: a waiting `delete --force` took
the new container's directory for a damaged leftover and removed it under its create)."""

import os
import threading

from pyrunc import store_write
from pyrunc.errors import NotFound
from pyrunc.store import LOCK_FILE, Store


def test_a_lock_waited_for_across_delete_and_reclaim_is_the_new_containers(tmp_path):
    store = Store(str(tmp_path / "root"))
    store_write.ensure_root(store)
    old = store_write.claim(store, "c")  # container A holds its lock
    got: list = []

    def waiter() -> None:
        try:
            got.append(store.lock("c", timeout=30))
        except Exception as e:  # what the old code raised: NotFound
            got.append(e)

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        while not _waiting_on(store, "c"):
            os.sched_yield()
        store.remove("c")  # A's delete finishes...
        new = store_write.claim(store, "c")  # ...and B claims the id, holding its new lock
        os.close(old)  # the waiter now gets A's (removed) lock file
        # It must not come back with NotFound (then `delete --force` removes B's directory), nor
        # with A's old lock: it waits for B's.
        thread.join(0.5)
        assert thread.is_alive() and not got, got
        os.close(new)
        thread.join(30)
        assert len(got) == 1 and not isinstance(got[0], NotFound), got
        locked, current = os.fstat(got[0]), os.stat(store.path("c", LOCK_FILE))
        assert (locked.st_dev, locked.st_ino) == (current.st_dev, current.st_ino)
        os.close(got[0])
    finally:
        thread.join(30)
        store.remove("c")


def _waiting_on(store: Store, container_id: str) -> bool:
    """True once another thread of ours has the container's lock file open (it polls flock)."""
    target = os.stat(store.path(container_id, LOCK_FILE)).st_ino
    own = os.listdir("/proc/self/fd")
    count = 0
    for fd in own:
        try:
            if os.stat(f"/proc/self/fd/{fd}").st_ino == target:
                count += 1
        except OSError:
            pass
    return count >= 2  # the claim's fd and the waiter's
