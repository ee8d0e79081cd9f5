"""Issue 13: rootless podman (as the session's test user) with pyrunc as its runtime, end to end:
run, run -d, exec, stop, rm. podman makes its own user namespace from the user's /etc/subuid
range (newuidmap) and runs pyrunc as root inside it, which pyrunc must detect as rootless: no
cgroup (podman's cgroupfs manager on cgroup v1 gives a rootless container none), devices bound,
state under $XDG_RUNTIME_DIR/pyrunc."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support import REPO, reap_orphans

from .conftest import User

IMAGE = "localhost/pyrunc-busybox:latest"
PODMAN = shutil.which("podman") or "/usr/bin/podman"


class RootlessPodman:
    def __init__(self, user: User) -> None:
        self.user = user
        self.home = user.home
        self.conf = os.path.join(user.home, "pyrunc-containers.conf")

    def argv(self, *args: str) -> list[str]:
        return [
            PODMAN,
            "--root", os.path.join(self.home, "podman-storage"),
            "--runroot", os.path.join(self.user.runtime_dir, "podman-run"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
            "--runtime", self.user.binary,
            *args,
        ]  # fmt: skip

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        env = self.user.env(CONTAINERS_CONF=self.conf, CONTAINERS_REGISTRIES_CONF=self.conf + ".reg")
        return self.user.run(self.argv(*args), check=check, timeout=timeout, env=env)

    def stop_pause_process(self) -> None:
        """Rootless podman keeps a process holding its user namespace: not ours to leave."""
        path = os.path.join(self.user.runtime_dir, "libpod", "tmp", "pause.pid")
        try:
            with open(path) as f:
                pid = int(f.read().strip())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            return
        # It was reparented to us (the tests' subreaper): reap it, waiting a bounded while.
        for _ in range(100):
            reap_orphans()
            if not os.path.exists(f"/proc/{pid}"):
                return
            time.sleep(0.05)
        raise AssertionError(f"podman's pause process {pid} still exists 5s after SIGKILL")


@pytest.fixture(scope="module")
def image_tar(rootless_user: User) -> str:
    path = os.path.join(rootless_user.home, "busybox-image.tar")
    build = os.path.join(REPO, "oci-bundles", "build-image")
    subprocess.run([build, path, IMAGE], check=True, capture_output=True)
    os.chmod(path, 0o644)
    return path


@pytest.fixture
def podman(user: User, image_tar: str) -> Iterator[RootlessPodman]:
    if not (os.access(PODMAN, os.X_OK) and shutil.which("conmon")):
        pytest.skip("podman and conmon are not installed (apt-get install podman)")
    engine = RootlessPodman(user)
    with open(engine.conf, "w") as f:
        # No network: slirp4netns would want a network; this VM's nofile hard limit is lower
        # than podman's default ulimit.
        f.write('[containers]\nnetns = "none"\ndefault_ulimits = ["nofile=1024:1024"]\n')
    with open(engine.conf + ".reg", "w") as f:
        f.write("unqualified-search-registries = []\n")
    engine("load", "-i", image_tar)
    try:
        yield engine
    finally:
        engine("rm", "--all", "--force", "--time", "0", check=False)
        engine.stop_pause_process()


def test_podman_run_exec_stop_rm_as_an_ordinary_user(user: User, podman: RootlessPodman) -> None:
    out = podman("run", "--rm", IMAGE, "sh", "-c", "id -u; cat /proc/self/uid_map").stdout.split()
    # Root in the container is the user; the rest of its ids come from its /etc/subuid range.
    assert out == ["0", "0", str(user.uid), "1", "1", str(user.subid_start), "65536"]

    podman("run", "-d", "--name", "rl-pod", IMAGE, "sleep", "1000")
    assert podman("exec", "rl-pod", "echo", "exec-ok").stdout == "exec-ok\n"
    # pyrunc ran as root in podman's user namespace, yet kept its state in the user's own root.
    listed = os.listdir(user.state_root)
    assert len([name for name in listed if not name.startswith("#")]) == 1, listed
    podman("stop", "--time", "1", "rl-pod")
    assert podman("inspect", "-f", "{{.State.Status}}", "rl-pod").stdout.strip() == "exited"
    podman("rm", "rl-pod")
    assert [name for name in os.listdir(user.state_root) if not name.startswith("#")] == []


def test_podman_runs_a_process_as_a_subordinate_id(podman: RootlessPodman) -> None:
    """--user 1000: the init runs as an id of the user's subuid range, which cannot enter the
    user's 0700 state root, yet reaches exec.fifo (held open by pyrunc) and starts."""
    assert podman("run", "--rm", "--user", "1000:1000", IMAGE, "id", "-u").stdout.strip() == "1000"
