"""Read a container's cgroup from the host, on cgroup v1 (this machine) or a unified v2 host."""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def unified() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


class ContainerCgroup:
    """cgroup_path is the container's linux.cgroupsPath as the daemon set it (e.g. /parent/id)."""

    def __init__(self, cgroup_path: str) -> None:
        self.relative = cgroup_path.strip("/")

    def _file(self, v1_controller: str, v1_name: str, v2_name: str) -> Path:
        if unified():
            return CGROUP_ROOT / self.relative / v2_name
        return CGROUP_ROOT / v1_controller / self.relative / v1_name

    def freezer_state(self) -> str:
        """FROZEN or THAWED, as v1 spells it."""
        if unified():
            frozen = (CGROUP_ROOT / self.relative / "cgroup.freeze").read_text().strip() == "1"
            return "FROZEN" if frozen else "THAWED"
        return self._file("freezer", "freezer.state", "").read_text().strip()

    def memory_limit(self) -> int:
        return int(self._file("memory", "memory.limit_in_bytes", "memory.max").read_text())

    def pids_max(self) -> str:
        return self._file("pids", "pids.max", "pids.max").read_text().strip()

    def pids_current(self) -> int:
        return int(self._file("pids", "pids.current", "pids.current").read_text())
