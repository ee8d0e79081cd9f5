"""The rollback transaction: cgroupfs operations run in order, undone newest first on a failure.

Each operation has `field` (the config path it comes from, for errors), `path`, `describe()`,
`run()`, `undo()` (as far as the kernel allows) and `finish()` (release fds, always called).
"""

import errno
import posix  # os without its import cost: see pyrunc/paths.py

from pyrunc.cgroups import devices as dev
from pyrunc.cgroups._fs import CgroupError, oserror_text, read_text, write_text
from pyrunc.paths import join


class Write:
    """Write one value to one cgroup file; undo writes back what was there.

    `key` marks a keyed file (one line per device or interface): the previous
    line for that key is restored, or `reset` when there was none."""

    def __init__(
        self,
        field: str,
        directory: str,
        filename: str,
        value: str,
        *,
        key: str | None = None,
        reset: str | None = None,
        previous_from=None,
        explain=None,
    ) -> None:
        self.field = field
        self.path = join(directory, filename)
        self.value = value
        self.key = key
        self.reset = reset
        self.previous_from = previous_from
        self.explain = explain
        self.previous: str | None = None
        self.written = False

    def describe(self) -> str:
        return f"{self.value!r} to {self.path}"

    def snapshot(self) -> str | None:
        try:
            text = read_text(self.path)
        except OSError:
            return None
        if self.previous_from:
            return self.previous_from(text)
        if self.key is not None:
            for line in text.splitlines():
                if line.split(" ", 1)[0] == self.key:
                    return line
            return self.reset
        lines = text.strip().splitlines()
        return lines[0] if len(lines) == 1 else None

    def run(self) -> None:
        self.previous = self.snapshot()
        write_text(self.path, self.value)
        self.written = True

    def undo(self) -> None:
        if self.written and self.previous is not None and self.previous != self.value:
            write_text(self.path, self.previous)

    def finish(self) -> None:
        pass


class CfsPeriodQuota:
    """v1 cpu.cfs_period_us + cpu.cfs_quota_us. A new period can be refused
    (EINVAL) while the old quota is still set, when their ratio would exceed
    the parent's: then write the quota first and retry the period (crun)."""

    def __init__(self, field: str, directory: str, period: int | None, quota: int | None) -> None:
        self.field = field
        self.period = (
            Write(f"{field}.period", directory, "cpu.cfs_period_us", str(period)) if period else None
        )
        self.quota = Write(f"{field}.quota", directory, "cpu.cfs_quota_us", str(quota)) if quota else None
        self.path = (self.period or self.quota).path  # type: ignore[union-attr]  # one is given
        self.done: list[Write] = []

    def describe(self) -> str:
        return " and ".join(w.describe() for w in (self.period, self.quota) if w)

    def run(self) -> None:
        deferred = None
        if self.period:
            try:
                self.period.run()
                self.done.append(self.period)
            except OSError as e:
                if e.errno != errno.EINVAL or not self.quota:
                    self._fail(self.period)
                    raise
                deferred = self.period
        if self.quota:
            try:
                self.quota.run()
            except OSError:
                self._fail(self.quota)
                raise
            self.done.append(self.quota)
        if deferred:
            try:
                deferred.run()
            except OSError:
                self._fail(deferred)
                raise
            self.done.append(deferred)

    def _fail(self, write: Write) -> None:
        self.field, self.path = write.field, write.path

    def undo(self) -> None:
        for write in reversed(self.done):
            try:
                write.undo()
            except OSError:
                continue

    def finish(self) -> None:
        pass


class V1Devices:
    """Rewrite a v1 devices cgroup to a target state (see devices.v1_transition)."""

    def __init__(self, field: str, directory: str, target: dev.DeviceState) -> None:
        self.field = field
        self.directory = directory
        self.path = join(directory, "devices.list")
        self.target = target
        self.original: dev.DeviceState | None = None

    def describe(self) -> str:
        return f"device rules to {self.directory}/devices.allow and devices.deny"

    def _current(self) -> dev.DeviceState:
        return dev.parse_devices_list(read_text(join(self.directory, "devices.list")))

    def run(self) -> None:
        self.original = self._current()
        for filename, line in dev.v1_transition(self.original, self.target):
            self.path = join(self.directory, filename)
            write_text(self.path, line)

    def undo(self) -> None:
        if self.original is None:
            return
        for filename, line in dev.v1_transition(self._current(), self.original):
            write_text(join(self.directory, filename), line)

    def finish(self) -> None:
        pass


class BpfDevices:
    """Attach a device program to a v2 cgroup, replacing the ones attached before."""

    def __init__(self, field: str, directory: str, target: dev.DeviceState) -> None:
        self.field = field
        self.path = directory
        self.target = target
        self.cgroup_fd = -1
        self.new_fd = -1
        self.old_fds: list[int] = []
        self.attached = False
        self.detached_old: list[int] = []

    def describe(self) -> str:
        return f"a BPF device program ({len(self.target.exceptions)} exceptions) to {self.path}"

    def run(self) -> None:
        from pyrunc.cgroups import bpf

        self.cgroup_fd = posix.open(self.path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        try:
            attached = bpf.attached_program_ids(self.cgroup_fd)
        except OSError:
            if self.target.is_allow_all():
                return  # no bpf(2) here (seccomp, old kernel): allow-all needs none
            raise
        self.old_fds = [bpf.program_fd_by_id(i) for i in attached]
        if not self.target.is_allow_all():
            # Allow-all needs no program: the old ones are just detached.
            self.new_fd = bpf.load_device_program(dev.bpf_program(self.target))
            bpf.attach(self.cgroup_fd, self.new_fd)
            self.attached = True
        for fd in self.old_fds:
            bpf.detach(self.cgroup_fd, fd)
            self.detached_old.append(fd)

    def undo(self) -> None:
        from pyrunc.cgroups import bpf

        for fd in self.detached_old:
            bpf.attach(self.cgroup_fd, fd)
        if self.attached:
            bpf.detach(self.cgroup_fd, self.new_fd)

    def finish(self) -> None:
        for fd in [self.cgroup_fd, self.new_fd, *self.old_fds]:
            if fd >= 0:
                posix.close(fd)
        self.cgroup_fd = self.new_fd = -1
        self.old_fds = []


def commit(ops: list) -> None:
    """Run `ops` in order; on a failure undo the finished ones (newest first)."""
    done: list = []
    try:
        for op in ops:
            try:
                op.run()
            except OSError as e:
                failed_undo = _undo([*done, op])
                detail = op.explain(e) if getattr(op, "explain", None) else oserror_text(e)
                message = f"{op.field}: cannot write {op.describe()}: {detail}"
                if done and not failed_undo:
                    message += f" (the {len(done)} earlier setting(s) were rolled back)"
                elif failed_undo:
                    message += "; could not roll back " + ", ".join(failed_undo)
                raise CgroupError(message) from None
            done.append(op)
    finally:
        for op in ops:
            op.finish()


def _undo(ops: list) -> list[str]:
    failures = []
    for op in reversed(ops):
        try:
            op.undo()
        except OSError as e:
            failures.append(f"{op.path} ({oserror_text(e)})")
    return failures
