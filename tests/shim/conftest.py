"""A private containerd that runs tasks with containerd-shim-pyrunc-v1 (runtime io.containerd.pyrunc.v1).

It is tests/daemons' Containerd (own root, state, sockets, namespace, reaper, leak checks), started
with the project's .venv/bin first on its PATH -- where containerd looks the shim up -- and the
shim's state root (PYRUNC_SHIM_ROOT) inside its directory, which the teardown checks too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrunc.shim.main import socket_path, work_dir
from tests.daemons import conftest as daemons
from tests.daemons.conftest import private_dir, require_root_and, stopped_cleanly
from tests.daemons.daemons import CONTAINERD, CTR, Containerd

# tests/daemons' session fixtures, shared as they are (one image build per session).
runtime_bin = daemons.runtime_bin
token = daemons.token
image_tar = daemons.image_tar

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / ".venv" / "bin" / "containerd-shim-pyrunc-v1"
RUNTIME = "io.containerd.pyrunc.v1"


class ShimContainerd(Containerd):
    """containerd whose `ctr run --runtime io.containerd.pyrunc.v1` finds our shim."""

    def __init__(self, workdir: Path, runtime_bin: str, token: str) -> None:
        super().__init__(workdir, runtime_bin, token)
        self.shim_root = workdir / "pyrunc-root"
        self.task_ids: set[str] = set()  # every id a test used (its shim socket is named after it)

    # containerd's debug log carries each shim call's duration (docs/SHIM.md).
    log_level = "debug"

    def daemon_env(self) -> dict[str, str] | None:
        """.venv/bin first on the PATH, where containerd looks the shim up by its runtime's name, and
        the shim's state root inside this containerd's directory. The shim hands out its sockets in
        /run/containerd/s, as containerd's own shims do."""
        path = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        return {**os.environ, "PATH": f"{SHIM.parent}:{path}", "PYRUNC_SHIM_ROOT": str(self.shim_root)}

    def shim_pids(self) -> list[int]:
        """Our shims: their command line names this containerd's namespace."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ours = self.namespace.encode() in argv
            if ours and any(a.endswith(b"containerd-shim-pyrunc-v1") for a in argv[:3]):
                pids.append(int(entry))
        return pids

    def cleanup_objects(self) -> list[str]:
        """After the tasks: a shim answers its last Shutdown, then sends its last events and exits
        (bounded by 5 s each); give it that time before containerd goes."""
        import time

        problems = super().cleanup_objects()
        deadline = time.monotonic() + 15
        while (left := self.shim_pids()) and time.monotonic() < deadline:
            time.sleep(0.1)
        problems += [f"shim {pid} still running 15 s after its last task" for pid in left]
        return problems

    def run_flags(self) -> list[str]:
        return ["--runtime", RUNTIME]

    def extra_leaks(self) -> list[str]:
        # Other sessions on this machine make shim sockets in /run/containerd/s meanwhile: of the
        # new ones, only those named after our tasks are ours.
        ours = {os.path.basename(socket_path(str(self.address), self.namespace, i)) for i in self.task_ids}
        problems = [
            p
            for p in super().extra_leaks()
            if not p.startswith("shim socket left: ") or p.removeprefix("shim socket left: ") in ours
        ]
        if self.shim_root.exists():
            states = [str(p) for p in self.shim_root.glob("*/*")]
            if states:
                problems.append(f"shim state left in {self.shim_root}: {states}")
        for cid in sorted(self.task_ids):
            workdir = work_dir(socket_path(str(self.address), self.namespace, cid))
            if os.path.exists(workdir):
                problems.append(f"shim work dir left: {workdir}")
        return problems


@pytest.fixture(scope="module")
def containerd(runtime_bin: str, token: str, image_tar: Path) -> Iterator[ShimContainerd]:
    require_root_and(CONTAINERD, CTR)
    if not os.access(SHIM, os.X_OK):
        pytest.fail(f"{SHIM} is missing: run tools/install")
    daemon = ShimContainerd(private_dir("shim-"), runtime_bin, token)
    try:
        daemon.start()
        daemon.ctr("image", "import", str(image_tar))
        yield daemon
    finally:
        stopped_cleanly(daemon)
