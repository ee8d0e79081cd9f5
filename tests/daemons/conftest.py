"""Fixtures for the end-to-end daemon tests (issue 6).

The runtime under test comes from PYRUNC_BIN (default: the project's .venv/bin/pyrunc);
PYRUNC_BIN=/usr/sbin/runc runs the same suite against Debian's runc. Each daemon runs
privately (own dirs, sockets, cgroup parent) under a child subreaper, and its fixture
fails the tests' teardown if anything is left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemons import CONMON, CONTAINERD, CTR, DOCKER, DOCKERD, PODMAN, Containerd, Dockerd, Podman

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RUNTIME = REPO / ".venv" / "bin" / "pyrunc"
IMAGE_REF = "localhost/pyrunc-busybox:latest"
# A pod sandbox image whose default command blocks, as the pause image does.
PAUSE_REF = "localhost/pyrunc-pause:latest"
INSTALL_HINT = "apt-get install containerd docker.io podman conmon busybox-static"


def require_root_and(*binaries: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("the daemon tests run real daemons: they need root")
    missing = [b for b in binaries if not os.access(b, os.X_OK)]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: {INSTALL_HINT}")


@pytest.fixture(scope="session")
def runtime_bin() -> str:
    """The runtime every daemon is pointed at."""
    path = os.environ.get("PYRUNC_BIN") or str(DEFAULT_RUNTIME)
    if not os.access(path, os.X_OK):
        pytest.fail(f"PYRUNC_BIN={path} is not an executable (build pyrunc, or point PYRUNC_BIN at one)")
    return path


def id_prefix(test_name: str) -> str:
    """The start of a test's container ids: containerd's alphabet (alphanumerics joined by single
    separators), short, and distinct per test: a long name cut short gets its hash, so the
    parametrizations of one test never share an id (one's leftover would be the next one's)."""
    name = re.sub(r"[^a-z0-9]+", "-", test_name.removeprefix("test_").lower()).strip("-")
    if len(name) <= 24:
        return name
    return f"{name[:17].strip('-')}-{hashlib.sha1(test_name.encode()).hexdigest()[:6]}"


@pytest.fixture(scope="session")
def token() -> str:
    """Unique per test session: names, namespaces and cgroup parents never collide."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def image_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline busybox image, built once per session by oci-bundles/build-image."""
    out = tmp_path_factory.mktemp("image") / "busybox-image.tar"
    subprocess.run(
        [str(REPO / "oci-bundles" / "build-image"), str(out), IMAGE_REF],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


@pytest.fixture(scope="session")
def pause_image_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pause-image") / "pause-image.tar"
    subprocess.run(
        [str(REPO / "oci-bundles" / "build-image"), str(out), PAUSE_REF, "sleep", "2147483647"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def private_dir(prefix: str) -> Path:
    # Short paths: unix socket addresses are limited to 108 bytes.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def stopped_cleanly(daemon) -> None:
    """Stop a daemon fixture; fail the teardown with everything it left behind."""
    problems = daemon.stop()
    if problems:
        kept = f"\n(its directory {daemon.dir} is kept for a look)"
        pytest.fail(f"{daemon.name} left things behind:\n  " + "\n  ".join(problems) + kept, pytrace=False)
    shutil.rmtree(daemon.dir, ignore_errors=True)


def serving(daemon, *image_tars: Path, namespace: str | None = None):
    """A module's containerd fixture: `daemon` started with the images imported (into `namespace`:
    CRI's is k8s.io), yielded, then stopped with stopped_cleanly's checks (`yield from serving(...)`)."""
    try:
        daemon.start()
        for tar in image_tars:
            daemon.ctr("image", "import", str(tar), namespace=namespace)
        yield daemon
    finally:
        stopped_cleanly(daemon)


@pytest.fixture(scope="module")
def containerd(runtime_bin: str, token: str, image_tar: Path) -> Iterator[Containerd]:
    require_root_and(CONTAINERD, CTR)
    daemon = Containerd(private_dir("ctd-"), runtime_bin, token)
    yield from serving(daemon, image_tar)


@pytest.fixture(scope="module")
def cri_containerd(
    runtime_bin: str, token: str, image_tar: Path, pause_image_tar: Path
) -> Iterator[Containerd]:
    """containerd with its CRI plugin on and a config.toml runtime entry (BinaryName) for the runtime."""
    require_root_and(CONTAINERD, CTR)
    daemon = Containerd(private_dir("cri-"), runtime_bin, token, cri={"sandbox_image": PAUSE_REF})
    yield from serving(daemon, image_tar, pause_image_tar, namespace="k8s.io")


@pytest.fixture(scope="module")
def dockerd(runtime_bin: str, token: str, image_tar: Path) -> Iterator[Dockerd]:
    require_root_and(DOCKERD, DOCKER, CONTAINERD)
    daemon = Dockerd(private_dir("dkd-"), runtime_bin, token)
    try:
        daemon.start()
        daemon.docker("load", "-i", str(image_tar))
        yield daemon
    finally:
        stopped_cleanly(daemon)


@pytest.fixture(scope="module")
def podman(runtime_bin: str, token: str, image_tar: Path) -> Iterator[Podman]:
    require_root_and(PODMAN, CONMON)
    engine = Podman(private_dir("pdm-"), runtime_bin, token)
    try:
        engine.start()
        engine.podman("load", "-i", str(image_tar))
        yield engine
    finally:
        stopped_cleanly(engine)
