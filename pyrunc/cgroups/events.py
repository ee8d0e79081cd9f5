"""Waiting for OOM kills in a container's cgroup (for `pyrunc events`).

    watcher = mgr.oom_events()
    while (n := watcher.wait(timeout=5.0)) is not None:
        if n: print(json of {"type": "oom", "id": ...})
    watcher.close()

`wait` returns the number of new OOM events (0 on timeout) and None once the
cgroup is gone. For a caller's own poll loop, both watchers expose `fileno()`
and `poll_events` (the mask to register: an eventfd is readable, a kernfs file
is always readable and signals a change with POLLPRI), then call `wait(0)`.
- v1: an eventfd registered on memory.oom_control via cgroup.event_control;
  the kernel signals it on every OOM in the cgroup, and when the cgroup is removed.
- v2: memory.events, which the kernel marks modified (POLLPRI) when a counter
  changes; an increase of `oom_kill` is an OOM kill (runc does the same).
"""

from __future__ import annotations

import os
import select

from pyrunc.cgroups._fs import CgroupError, oserror_text, read_keyed, write_text


class V1OomWatcher:
    poll_events = select.POLLIN

    def __init__(self, memory_dir: str) -> None:
        self.directory = memory_dir
        self._control = os.path.join(memory_dir, "memory.oom_control")
        self._efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            self._ofd = os.open(self._control, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            os.close(self._efd)
            raise CgroupError(f"cannot open {self._control}: {oserror_text(e)}") from None
        try:
            write_text(os.path.join(memory_dir, "cgroup.event_control"), f"{self._efd} {self._ofd}")
        except OSError as e:
            self.close()
            raise CgroupError(f"cannot register for OOM events on {memory_dir}: {oserror_text(e)}") from None

    def fileno(self) -> int:
        return self._efd

    def wait(self, timeout: float | None = None) -> int | None:
        poller = select.poll()
        poller.register(self._efd, self.poll_events)
        if not poller.poll(None if timeout is None else int(timeout * 1000)):
            return 0
        try:
            count = os.eventfd_read(self._efd)
        except BlockingIOError:
            return 0
        # Removing the cgroup also fires the eventfd (runc checks the same way).
        if not os.path.exists(os.path.join(self.directory, "cgroup.event_control")):
            return None
        return count

    def oom_kill_count(self) -> int:
        try:
            return int(read_keyed(self._control).get("oom_kill", "0"))
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        for fd in (getattr(self, "_ofd", -1), self._efd):
            if fd >= 0:
                os.close(fd)
        self._ofd = self._efd = -1

    def __enter__(self) -> V1OomWatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class V2OomWatcher:
    poll_events = select.POLLPRI | select.POLLERR

    def __init__(self, cgroup_dir: str) -> None:
        self.directory = cgroup_dir
        self._events = os.path.join(cgroup_dir, "memory.events")
        try:
            self._fd = os.open(self._events, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise CgroupError(f"cannot open {self._events}: {oserror_text(e)}") from None
        self._seen = self.oom_kill_count()

    def fileno(self) -> int:
        return self._fd

    def oom_kill_count(self) -> int:
        try:
            data = os.pread(self._fd, 4096, 0).decode()
        except OSError:
            return 0
        for line in data.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def wait(self, timeout: float | None = None) -> int | None:
        poller = select.poll()
        poller.register(self._fd, self.poll_events)
        # A change may have happened before we polled: compare counters either way.
        poller.poll(None if timeout is None else int(timeout * 1000))
        if not os.path.isdir(self.directory):
            return None
        count = self.oom_kill_count()
        new, self._seen = count - self._seen, count
        return max(new, 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> V2OomWatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
