"""`pause` and `resume`: freeze and thaw the container's cgroup (v1 freezer, v2 cgroup.freeze)."""

import os

from pyrunc.container.base import Container, load
from pyrunc.errors import PyruncError
from pyrunc.store import Store


def _cgroup_of(container: Container):
    cgroup = container.cgroup()
    if cgroup is None:
        raise PyruncError(
            f"container {container.id} has no cgroup to freeze (a rootless container gets one only "
            "where a cgroup is delegated to its user)"
        )
    return cgroup


def pause(store: Store, container_id: str) -> None:
    lock = store.lock(container_id)
    try:
        container = load(store, container_id, locked=True)
        if container.status == "paused":
            raise PyruncError("container already paused")
        if container.status not in ("running", "created"):
            raise PyruncError("container not running")
        _cgroup_of(container).freeze()
    finally:
        os.close(lock)


def resume(store: Store, container_id: str) -> None:
    lock = store.lock(container_id)
    try:
        container = load(store, container_id, locked=True)
        if container.status != "paused":
            raise PyruncError("container not paused")
        _cgroup_of(container).thaw()
    finally:
        os.close(lock)
