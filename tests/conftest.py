"""Fixtures shared by every test: the runtime binary, a busybox rootfs, bundles, and reaping.

PID 1 on these machines does not reap orphans, so the test process is a child subreaper: the
containers' inits that outlive `pyrunc create` are reparented to it, and it reaps them.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import prctl
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYRUNC = os.environ.get("PYRUNC_BIN") or os.path.join(os.path.dirname(sys.executable), "pyrunc")
HELLO_CONFIG = os.path.join(REPO, "oci-bundles", "hello", "config.json")


def pytest_configure(config: pytest.Config) -> None:
    prctl.set_child_subreaper(True)


def reap_orphans() -> list[int]:
    """Reap dead children that nobody waits for (containers' inits reparented to us)."""
    reaped = []
    me = str(os.getpid())
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and fields[1] == me:
            try:
                os.waitpid(int(name), os.WNOHANG)
                reaped.append(int(name))
            except ChildProcessError:
                pass
    return reaped


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox-static rootfs, built once per session by oci-bundles/build."""
    path = str(tmp_path_factory.mktemp("rootfs") / "rootfs")
    subprocess.run([os.path.join(REPO, "oci-bundles", "build"), path], check=True)
    return path


def base_config() -> dict:
    """The hello bundle's config with a short-lived default process."""
    with open(HELLO_CONFIG) as f:
        config = json.load(f)
    config["process"]["args"] = ["true"]
    return config


class Bundle:
    """A bundle directory: config (a dict to edit, written by .write()) and a rootfs."""

    def __init__(self, path: str, config: dict) -> None:
        self.path = path
        self.config = config

    @property
    def rootfs(self) -> str:
        return os.path.join(self.path, "rootfs")

    def write(self) -> Bundle:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)
        return self


@pytest.fixture
def make_bundle(tmp_path, rootfs_template):
    """make_bundle(args=[...], **top-level overrides) -> Bundle (config written)."""
    count = [0]

    def make(args: list[str] | None = None, **overrides) -> Bundle:
        count[0] += 1
        path = str(tmp_path / f"bundle{count[0]}")
        os.mkdir(path)
        shutil.copytree(rootfs_template, os.path.join(path, "rootfs"), symlinks=True)
        config = base_config()
        if args is not None:
            config["process"]["args"] = args
        config.update(copy.deepcopy(overrides))
        return Bundle(path, config).write()

    return make


# Container ids that tests passed to create/run, so leak checks look only at their own cgroups
# (other test sessions may run on the same machine with similar names).
USED_IDS: set[str] = set()


class Runtime:
    """Runs the runtime binary with its own temporary --root."""

    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root

    def cmd(self, *args: str, root: bool = True) -> list[str]:
        return [self.binary, *(["--root", self.root] if root else []), *args]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None, **kw
    ) -> subprocess.CompletedProcess:
        """Run the runtime; stdout and stderr are captured through files, not pipes: a created
        container inherits the runtime's stdio, so a pipe would only close when it exits."""
        if args and args[0] in ("create", "run"):
            USED_IDS.add(args[-1])
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run(
                self.cmd(*args), timeout=timeout, stdout=out, stderr=err, text=True, input=input, **kw
            )
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
        if check and result.returncode != 0:
            command = " ".join(args)
            raise AssertionError(
                f"{command} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def state(self, container_id: str) -> dict:
        return json.loads(self("state", container_id).stdout)

    def status(self, container_id: str) -> str:
        return self.state(container_id)["status"]


@pytest.fixture
def runtime(tmp_path) -> Runtime:
    root = str(tmp_path / "root")
    rt = Runtime(PYRUNC, root)
    yield rt
    # Whatever a test left: force-delete through the runtime itself, then reap. A clean-up that
    # fails is a runtime bug: the test fails with its message.
    failures = []
    if os.path.isdir(root):
        for container_id in os.listdir(root):
            if container_id.startswith("#"):
                continue  # e.g. the seccomp cache
            result = subprocess.run(
                rt.cmd("delete", "--force", container_id), capture_output=True, text=True, timeout=60
            )
            if result.returncode != 0:
                failures.append(f"delete --force {container_id}: {result.stderr.strip()}")
    reap_orphans()
    if failures:
        pytest.fail("; ".join(failures))


@pytest.fixture
def cid() -> str:
    """A unique container id."""
    return f"t-{uuid.uuid4().hex[:12]}"
