"""A private containerd that runs tasks with containerd-shim-pyrunc-v1 (runtime io.containerd.pyrunc.v1).

It is tests/daemons' Containerd (own root, state, sockets, namespace, reaper, leak checks), started
with the project's .venv/bin first on its PATH -- where containerd looks the shim up -- and the
shim's state root (PYRUNC_SHIM_ROOT) and zygote directory (PYRUNC_SHIM_ZYGOTE_DIR) inside its
directory, which the teardown checks too: it stops the zygote it used (`zygote-stop`) and fails on
any zygote process of its directory still running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrunc.shim.main import socket_path, work_dir
from tests.daemons import conftest as daemons
from tests.daemons.conftest import private_dir, require_root_and, serving
from tests.daemons.daemons import CONTAINERD, CTR, Containerd
from tests.daemons.test_containerd import Ctr

# tests/daemons' session fixtures, shared as they are (one image build per session).
runtime_bin = daemons.runtime_bin
token = daemons.token
image_tar = daemons.image_tar

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / ".venv" / "bin" / "containerd-shim-pyrunc-v1"
RUNTIME = "io.containerd.pyrunc.v1"


class ShimContainerd(Containerd):
    """containerd whose `ctr run --runtime io.containerd.pyrunc.v1` finds our shim."""

    def __init__(self, workdir: Path, runtime_bin: str, token: str, zygote: bool = True) -> None:
        super().__init__(workdir, runtime_bin, token)
        self.shim_root = workdir / "pyrunc-root"
        self.zygote_dir = workdir / "zygote"
        self.zygote = zygote  # False: PYRUNC_SHIM_ZYGOTE=0, every shim a fork of its `start`
        self.extra_env: dict[str, str] = {}
        self.task_ids: set[str] = set()  # every id a test used (its shim socket is named after it)

    # containerd's debug log carries each shim call's duration (docs/SHIM.md).
    log_level = "debug"

    def daemon_env(self) -> dict[str, str] | None:
        """.venv/bin first on the PATH, where containerd looks the shim up by its runtime's name, and
        the shim's state root inside this containerd's directory. The shim hands out its sockets in
        /run/containerd/s, as containerd's own shims do."""
        path = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        return {
            **os.environ,
            "PATH": f"{SHIM.parent}:{path}",
            "PYRUNC_SHIM_ROOT": str(self.shim_root),
            "PYRUNC_SHIM_ZYGOTE_DIR": str(self.zygote_dir),
            "PYRUNC_SHIM_ZYGOTE": "1" if self.zygote else "0",
            **self.extra_env,
        }

    def zygote_env(self) -> dict[str, str]:
        return {**os.environ, "PYRUNC_SHIM_ZYGOTE_DIR": str(self.zygote_dir)}

    def zygote_pids(self) -> list[int]:
        """The zygotes serving from this containerd's zygote directory (their command line names
        their socket there)."""
        return processes_naming(str(self.zygote_dir), b"zygote")

    def stop_zygotes(self) -> list[str]:
        """`containerd-shim-pyrunc-v1 zygote-stop` for our zygote directory; what it could not stop."""
        import subprocess

        done = subprocess.run(
            [str(SHIM), "zygote-stop"], env=self.zygote_env(), capture_output=True, text=True, timeout=60
        )
        problems = [f"zygote-stop: {line}" for line in done.stderr.splitlines()]
        if done.returncode != 0 and not problems:
            problems.append(f"zygote-stop exited {done.returncode}")
        problems += [f"zygote {pid} still running after zygote-stop" for pid in self.zygote_pids()]
        return problems

    def shim_pids(self) -> list[int]:
        """Our shims: their command line names this containerd's namespace."""
        return processes_naming(self.namespace, "containerd-shim-pyrunc-v1")

    def cleanup_objects(self) -> list[str]:
        """After the tasks: a shim answers its last Shutdown, then sends its last events and exits
        (bounded by 5 s each); give it that time before containerd goes."""
        import time

        problems = super().cleanup_objects()
        deadline = time.monotonic() + 15
        while (left := self.shim_pids()) and time.monotonic() < deadline:
            time.sleep(0.1)
        problems += [f"shim {pid} still running 15 s after its last task" for pid in left]
        return problems + self.stop_zygotes()

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
        sockets = sorted(str(p) for p in self.zygote_dir.glob("*.sock")) if self.zygote_dir.exists() else []
        if sockets:
            problems.append(f"zygote socket left: {sockets}")
        if self.shim_root.exists():
            states = [str(p) for p in self.shim_root.glob("*/*")]
            if states:
                problems.append(f"shim state left in {self.shim_root}: {states}")
        for cid in sorted(self.task_ids):
            workdir = work_dir(socket_path(str(self.address), self.namespace, cid))
            if os.path.exists(workdir):
                problems.append(f"shim work dir left: {workdir}")
        return problems


def processes_naming(*words: bytes | str) -> list[int]:
    """Pids whose command line has each of `words` in one of its arguments."""
    wanted = [w.encode() if isinstance(w, str) else w for w in words]
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(any(w in arg for arg in argv) for w in wanted):
            pids.append(int(entry))
    return pids


@pytest.fixture(scope="module")
def containerd(runtime_bin: str, token: str, image_tar: Path) -> Iterator[ShimContainerd]:
    require_root_and(CONTAINERD, CTR)
    if not os.access(SHIM, os.X_OK):
        pytest.fail(f"{SHIM} is missing: run tools/install")
    daemon = ShimContainerd(private_dir("shim-"), runtime_bin, token)
    yield from serving(daemon, image_tar)


class ShimCtr(Ctr):
    """ctr whose ids are also the shim's tasks, for the containerd's leak check."""

    def new_id(self, label: str = "c") -> str:
        cid = super().new_id(label)
        self.daemon.task_ids.add(cid)  # type: ignore[attr-defined]  # a ShimContainerd
        return cid


@pytest.fixture
def ctr(containerd: ShimContainerd, request: pytest.FixtureRequest) -> Iterator[ShimCtr]:
    """ctr on the module's containerd (this one, or the one a module defines), its ids cleaned up."""
    client = ShimCtr(containerd, request.node.name)
    try:
        yield client
    finally:
        client.cleanup()
