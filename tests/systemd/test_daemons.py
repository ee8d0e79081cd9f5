"""containerd, dockerd and podman drive pyrunc under the systemd cgroup driver (issue 12), in the
systemd guest: each runs a container end to end; while it runs, its scope unit is active in the
slice the daemon asked for (read back with `systemctl show`), and once it is removed no unit and
no cgroup is left.

The daemons are the host tests' private instances (tests/daemons/daemons.py: own directories,
sockets, a call-logging wrapper in front of the runtime, a reaper, a leak check at teardown),
switched to the systemd driver the way a user does it:
- containerd: `ctr run --runc-binary pyrunc --runc-systemd-cgroup` (the runc shim
  io.containerd.runc.v2 with the BinaryName and SystemdCgroup options of its runtime options), with
  a cgroupsPath in the nested-slice form containerd's CRI gives pods;
- dockerd: `--exec-opt native.cgroupdriver=systemd` and its default parent (system.slice); still
  without a bridge or firewall changes (the guest has no network and the tests need none);
- podman: its default cgroup manager (systemd) and parent (machine.slice), `--runtime pyrunc`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemons.daemons import Containerd, Dockerd, Podman
from tests.support import REPO
from tests.systemd.units import MOUNT, cgroup_of, show, units_named

pytestmark = pytest.mark.systemd

RUNTIME = os.path.join(REPO, ".venv", "bin", "pyrunc")
IMAGE_REF = "localhost/pyrunc-busybox:latest"
PAUSE_REF = "localhost/pyrunc-pause:latest"  # a sandbox image whose command blocks, as pause does


def assert_scope_runs(unit: str, slice_name: str, pid: int) -> str:
    """The container's init is in unit, an active scope in slice_name; returns its cgroup."""
    props = show(unit, "ActiveState", "Slice", "Delegate", "ControlGroup")
    assert props["ActiveState"] == "active", props
    assert props["Slice"] == slice_name, props
    assert props["Delegate"] == "yes", props
    assert cgroup_of(pid) == props["ControlGroup"], props
    return props["ControlGroup"]


def assert_nothing_left(fragment: str, cgroup: str) -> None:
    assert units_named(f"*{fragment}*") == [], f"units left for {fragment}"
    assert not os.path.exists(MOUNT + cgroup), f"cgroup left: {cgroup}"


def stopped_cleanly(daemon) -> None:
    problems = daemon.stop()
    assert not problems, f"{daemon.name} left things behind: {problems}"
    shutil.rmtree(daemon.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def image_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("image") / "busybox-image.tar"
    subprocess.run(
        [os.path.join(REPO, "oci-bundles", "build-image"), str(out), IMAGE_REF], check=True, timeout=300
    )
    return out


@pytest.fixture(scope="module")
def pause_image_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pause") / "pause-image.tar"
    build = [os.path.join(REPO, "oci-bundles", "build-image"), str(out), PAUSE_REF, "sleep", "2147483647"]
    subprocess.run(build, check=True, timeout=300)
    return out


@pytest.fixture
def token(cid: str) -> str:
    return cid.removeprefix("t-")


def private_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))  # short: socket paths


def runtime_calls_with_driver(daemon) -> list[str]:
    return [call for call in daemon.runtime_calls() if "--systemd-cgroup" in call.split()]


# ---------------------------------------------------------------- containerd


@contextlib.contextmanager
def ctr_scope(daemon, image_tar: Path, token: str, cid: str, *run_flags: str) -> Iterator[tuple[int, str]]:
    """containerd started, `ctr run --runc-systemd-cgroup` of a sleeping task in a pod slice's
    scope (the nested-slice cgroupsPath containerd's CRI gives pods), checked to run there: yields
    its (pid, cgroup) for the test's own checks, then kills and deletes it and checks that no unit
    and no cgroup is left; containerd is stopped and the test slice too, whatever happens."""
    pod_slice = f"pyrunctest-besteffort-pod{token}.slice"  # as containerd's CRI names pod slices
    unit = f"cri-containerd-{cid}.scope"
    try:
        daemon.start()
        daemon.ctr("image", "import", str(image_tar))
        daemon.ctr(
            "run", "--detach", "--null-io", *daemon.run_flags(), "--runc-systemd-cgroup", *run_flags,
            "--cgroup", f"{pod_slice}:cri-containerd:{cid}", IMAGE_REF, cid, "sleep", "1000",
        )  # fmt: skip
        pid = int(daemon.ctr("task", "ls").stdout.split(cid, 1)[1].split()[0])
        cgroup = assert_scope_runs(unit, pod_slice, pid)
        assert cgroup == f"/pyrunctest.slice/pyrunctest-besteffort.slice/{pod_slice}/{unit}"
        yield pid, cgroup
        daemon.ctr("task", "kill", "--signal", "SIGKILL", cid)
        daemon.ctr("task", "delete", "--force", cid)
        daemon.ctr("container", "delete", cid)
        assert_nothing_left(cid, cgroup)
    finally:
        try:
            stopped_cleanly(daemon)
        finally:
            subprocess.run(["systemctl", "stop", "pyrunctest.slice"], capture_output=True, timeout=60)


def test_containerd_runc_shim_with_systemd_cgroup(image_tar: Path, token: str) -> None:
    daemon = Containerd(private_dir("ctd-"), RUNTIME, token)
    with ctr_scope(daemon, image_tar, token, f"c-{token}"):
        assert runtime_calls_with_driver(daemon), daemon.runtime_calls()


# ---------------------------------------------------------------- dockerd


class SystemdDockerd(Dockerd):
    """The host tests' dockerd with the systemd cgroup driver and its default parent."""

    def start_daemon(self, argv, ready) -> None:
        argv = list(argv)
        argv[argv.index("native.cgroupdriver=cgroupfs")] = "native.cgroupdriver=systemd"
        at = argv.index("--cgroup-parent")
        del argv[at : at + 2]
        super().start_daemon(argv, ready)


def test_dockerd_with_the_systemd_cgroup_driver(image_tar: Path, token: str) -> None:
    daemon = SystemdDockerd(private_dir("dkd-"), RUNTIME, token)
    try:
        daemon.start()
        assert "systemd" in daemon.docker("info", "--format", "{{.CgroupDriver}}").stdout
        daemon.docker("load", "-i", str(image_tar))
        full = daemon.docker("run", "-d", "--network", "none", IMAGE_REF, "sleep", "1000").stdout.strip()
        pid = int(daemon.docker("inspect", "--format", "{{.State.Pid}}", full).stdout)
        cgroup = assert_scope_runs(f"docker-{full}.scope", "system.slice", pid)
        assert cgroup == f"/system.slice/docker-{full}.scope"
        assert runtime_calls_with_driver(daemon), daemon.runtime_calls()
        assert daemon.docker("exec", full, "echo", "hi").stdout.strip() == "hi"
        daemon.docker("rm", "-f", full)
        assert_nothing_left(full, cgroup)
    finally:
        stopped_cleanly(daemon)


# ---------------------------------------------------------------- podman


class SystemdPodman(Podman):
    """The host tests' podman with its default cgroup manager (systemd) and parent (machine.slice)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        at = self.global_flags.index("--cgroup-manager")
        del self.global_flags[at : at + 2]

    def start(self) -> None:
        super().start()
        # Its containers.conf without the cgroupfs manager: podman's default is systemd.
        conf = self.dir / "containers.conf"
        conf.write_text(conf.read_text().replace('cgroup_manager = "cgroupfs"\n', ""))

    def run_flags(self) -> list[str]:
        return []


def test_podman_with_its_default_systemd_cgroup_manager(image_tar: Path, token: str) -> None:
    engine = SystemdPodman(private_dir("pdm-"), RUNTIME, token)
    try:
        engine.start()
        assert engine.podman("info", "--format", "{{.Host.CgroupManager}}").stdout.strip() == "systemd"
        engine.podman("load", "-i", str(image_tar))
        full = engine.podman(
            "run", "-d", "--network", "none", IMAGE_REF, "sleep", "1000", runtime="pyrunc"
        ).stdout.strip()
        pid = int(engine.podman("inspect", "--format", "{{.State.Pid}}", full).stdout)
        cgroup = assert_scope_runs(f"libpod-{full}.scope", "machine.slice", pid)
        assert cgroup == f"/machine.slice/libpod-{full}.scope"
        assert runtime_calls_with_driver(engine), engine.runtime_calls()
        assert engine.podman("exec", full, "echo", "hi").stdout.strip() == "hi"
        engine.podman("rm", "-f", "-t", "0", full)
        assert_nothing_left(full, cgroup)
    finally:
        stopped_cleanly(engine)


# ---------------------------------------------------------------- containerd's CRI (Kubernetes)


class SystemdCriContainerd(Containerd):
    """The host tests' CRI containerd, its config.toml runtime entry with SystemdCgroup = true."""

    def cri_toml(self) -> str:
        return super().cri_toml() + "        SystemdCgroup = true\n"  # in the entry's options table


def pod_unit_pid(daemon: Containerd, task_id: str) -> int:
    for line in daemon.ctr("task", "ls", namespace="k8s.io").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == task_id:
            return int(fields[1])
    raise AssertionError(f"no task {task_id} in containerd's k8s.io namespace")


def test_containerd_cri_with_systemd_cgroup_in_its_config(
    image_tar: Path, pause_image_tar: Path, token: str
) -> None:
    from tests.daemons.cri import CriClient, PodConfig

    daemon = SystemdCriContainerd(private_dir("cri-"), RUNTIME, token, cri={"sandbox_image": PAUSE_REF})
    # What a kubelet with the systemd cgroup driver gives a BestEffort pod; containerd makes the
    # cgroupsPath "<pod slice>:cri-containerd:<id>" from it.
    pod_slice = f"pyrunctest-besteffort-pod{token}.slice"
    config = PodConfig("sd", f"sd-{token}", "default", str(daemon.dir / "pods"), pod_slice)
    client = None
    try:
        daemon.start()
        for tar in (image_tar, pause_image_tar):
            daemon.ctr("image", "import", str(tar), namespace="k8s.io")
        client = CriClient(str(daemon.address))
        wait_for_cri(client, daemon)
        sandbox = client.run_pod_sandbox(config, runtime_handler=daemon.runtime_name)
        sandbox_cgroup = assert_scope_runs(
            f"cri-containerd-{sandbox}.scope", pod_slice, pod_unit_pid(daemon, sandbox)
        )
        assert sandbox_cgroup.startswith(f"/pyrunctest.slice/pyrunctest-besteffort.slice/{pod_slice}/")
        work = client.create_container(sandbox, config, "work", IMAGE_REF, ["sleep", "1000"], "work.log")
        client.start_container(work)
        work_cgroup = assert_scope_runs(f"cri-containerd-{work}.scope", pod_slice, pod_unit_pid(daemon, work))
        assert client.exec_sync(work, ["echo", "hi"]).stdout == "hi\n"
        assert runtime_calls_with_driver(daemon), daemon.runtime_calls()
        client.stop_container(work, timeout=0)
        client.remove_container(work)
        client.stop_pod_sandbox(sandbox)
        client.remove_pod_sandbox(sandbox)
        assert_nothing_left(work, work_cgroup)
        assert_nothing_left(sandbox, sandbox_cgroup)
    finally:
        try:
            if client is not None:
                client.close()
            stopped_cleanly(daemon)
        finally:
            subprocess.run(["systemctl", "stop", "pyrunctest.slice"], capture_output=True, timeout=60)


def wait_for_cri(client, daemon: Containerd, timeout: float = 120.0) -> None:
    """The CRI plugin answers some time after containerd answers ctr."""
    import grpc

    deadline = time.monotonic() + timeout
    while True:
        try:
            client.version()
            return
        except grpc.RpcError:
            assert time.monotonic() < deadline, f"the CRI plugin did not answer: {daemon.log_tail(50)}"
            time.sleep(0.5)
