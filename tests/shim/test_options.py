"""The runtime options containerd passes in Create, through a real containerd 1.6 and ctr.

Two ways in, as containerd has them: `ctr run --runtime-config-path FILE` (runtimeoptions.v1.Options,
what CRI sends a runtime type of its own: a TOML file of runc's option names) and, for a runtime
entry of runc's type pointed at this shim (CRI's `runtime_type = "io.containerd.runc.v2"` with
`runtime_path`), containerd.runc.v1.Options from ctr's --runc-* flags: here containerd finds this
shim as `containerd-shim-runc-v2` on its PATH. SystemdCgroup needs systemd: tests/shim/test_systemd.py
in tests/vm/run-systemd's guest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemons.conftest import IMAGE_REF, private_dir, serving
from tests.daemons.test_containerd import Ctr

from .conftest import SHIM, ShimContainerd, ShimCtr

pytestmark = pytest.mark.daemons


class RuncNamedShimContainerd(ShimContainerd):
    """containerd whose `io.containerd.runc.v2` runtime is this shim (found as containerd-shim-runc-v2
    first on its PATH), so that ctr's --runc-* flags reach it as containerd.runc.v1.Options."""

    def __init__(self, workdir: Path, runtime_bin: str, token: str) -> None:
        super().__init__(workdir, runtime_bin, token)
        self.alias_dir = workdir / "alias-bin"
        self.alias_dir.mkdir(exist_ok=True)
        (self.alias_dir / "containerd-shim-runc-v2").symlink_to(SHIM)

    def daemon_env(self) -> dict[str, str] | None:
        env = dict(super().daemon_env() or os.environ)
        env["PATH"] = f"{self.alias_dir}:{env['PATH']}"
        return env

    def run_flags(self) -> list[str]:
        return ["--runtime", "io.containerd.runc.v2"]


@pytest.fixture(scope="module")
def runc_named(containerd: ShimContainerd, runtime_bin: str, token: str, image_tar: Path):
    daemon = RuncNamedShimContainerd(private_dir("shim-runc-named-"), runtime_bin, token)
    yield from serving(daemon, image_tar)


@pytest.fixture
def state_root() -> Iterator[Path]:
    """A runtime root of the test's own (the options' Root), checked empty at the end."""
    root = Path(tempfile.mkdtemp(prefix="pyrunc-shim-root-", dir="/run"))
    try:
        yield root
        left = [str(p) for p in root.glob("*/*")]
        assert left == [], f"state left under the options' root: {left}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "shim.toml"
    path.write_text(text)
    return str(path)


def test_config_path_root_io_owner_and_binary_name(
    ctr: Ctr, containerd: ShimContainerd, state_root: Path, tmp_path: Path
) -> None:
    config = _config(
        tmp_path,
        f'Root = "{state_root}"\nIoUid = 4321\nIoGid = 4322\nNoNewKeyring = true\n'
        'BinaryName = "/usr/sbin/runc"\n',
    )
    cid = ctr.new_id()
    # Attached: stdout is containerd's fifo, which options.io_uid/io_gid give to that owner.
    result = ctr.run(
        "--rm",
        "--runtime-config-path",
        config,
        IMAGE_REF,
        cid,
        "stat",
        "-L",
        "-c",
        "%u:%g",
        "/proc/self/fd/1",
    )
    assert result.stdout.strip() == "4321:4322", result
    assert ctr.task_status(cid) == "absent"

    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000", extra=("--runtime-config-path", config))
    ctr.wait_status(cid, "RUNNING")
    # --null-io: /dev/null is no fifo of the task's, and keeps its owner.
    assert (os.stat("/dev/null").st_uid, os.stat("/dev/null").st_gid) == (0, 0)
    # The state is under the options' Root (runc's --root), not the shim's default root.
    assert (state_root / containerd.namespace / cid / "state.json").exists()
    assert not (containerd.shim_root / containerd.namespace / cid).exists()
    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 137
    ctr("container", "delete", cid)
    # BinaryName selects runc's binary in runc's shim: here it is ignored, with a line in the shim's
    # log (which containerd copies into its own).
    assert "options.binary_name '/usr/sbin/runc' ignored" in containerd.daemon_log.read_text(errors="replace")


def test_what_cannot_apply_fails_the_run_naming_the_field(ctr: Ctr, tmp_path: Path) -> None:
    for text, named in (
        ('ShimCgroup = "/shim"\n', "options.shim_cgroup"),
        ("SystemdCgroups = true\n", "SystemdCgroups: not a runc option"),
    ):
        cid = ctr.new_id()
        result = ctr.run(
            "--rm", "--runtime-config-path", _config(tmp_path, text), IMAGE_REF, cid, "true", check=False
        )
        assert result.returncode != 0, result
        assert named in result.stderr, result.stderr
        assert ctr.task_status(cid) == "absent"
        ctr("container", "delete", cid, check=False)


def test_runc_options_from_ctr_reach_the_shim(runc_named: RuncNamedShimContainerd, state_root: Path) -> None:
    client = ShimCtr(runc_named, "runc-options")
    try:
        cid = client.new_id()
        client.start_detached(cid, "sleep", "1000", extra=("--runc-root", str(state_root)))
        client.wait_status(cid, "RUNNING")
        info = client("container", "info", cid).stdout
        assert '"io.containerd.runc.v2"' in info
        # containerd.runc.v1.Options' Root: the state is there, written by this shim (pyrunc's).
        assert (state_root / runc_named.namespace / cid / "state.json").exists()
        assert runc_named.runtime_calls() == []
        client("task", "kill", "--signal", "SIGKILL", cid)
        client.wait_status(cid, "STOPPED")
        assert client.delete_task(cid) == 137
        client("container", "delete", cid)
    finally:
        client.cleanup()


def test_a_pod_shim_keeps_one_root(
    ctr: Ctr, containerd: ShimContainerd, state_root: Path, tmp_path: Path
) -> None:
    """A pod's containers share a shim: a second container asking for another Root is refused
    (naming the field), and the first goes on under its own."""
    pod = ("--annotation", f"io.kubernetes.cri.sandbox-id=pod-{containerd.token}")
    first, second = ctr.new_id("a"), ctr.new_id("b")
    ctr.start_detached(
        first,
        "sleep",
        "1000",
        extra=(*pod, "--runtime-config-path", _config(tmp_path, f'Root = "{state_root}"\n')),
    )
    ctr.wait_status(first, "RUNNING")
    other = tmp_path / "other.toml"
    other.write_text(f'Root = "{state_root}-other"\n')
    result = ctr.run(
        "--detach",
        "--null-io",
        *pod,
        "--runtime-config-path",
        str(other),
        IMAGE_REF,
        second,
        "true",
        check=False,
    )
    assert result.returncode != 0 and "options.root" in result.stderr, result
    assert not Path(f"{state_root}-other").exists()
    assert (state_root / containerd.namespace / first / "state.json").exists()
    ctr("container", "delete", second, check=False)
    ctr("task", "kill", "--signal", "SIGKILL", first)
    ctr.wait_status(first, "STOPPED")
    assert ctr.delete_task(first) == 137
