"""oci-bundles/docker-seccomp-to-oci: Docker's profile format -> OCI linux.seccomp, and the
committed oci-bundles/seccomp bundle that uses it (also run with runc)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from sandbox import BUNDLE, CONVERTER, DOCKER_PROFILE, REPO

from pyrunc import seccomp

SYNTHETIC = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "always", "includes": {}, "excludes": {}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
        {
            "names": ["chroot"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "errno": "EPERM",
            "excludes": {"caps": ["CAP_SYS_CHROOT", "CAP_SYS_ADMIN"]},
        },
        {"names": ["newer"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
        {"names": ["older"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "5.8"}},
        {
            "name": "personality",
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
        },
    ],
}


def convert(*args: str, profile: dict | None = None, tmp_path=None) -> subprocess.CompletedProcess:
    argv = [CONVERTER, *args]
    if profile is not None:
        path = tmp_path / "profile.json"
        path.write_text(json.dumps(profile))
        argv += ["--profile", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def names(seccomp_object: dict) -> list[str]:
    return [name for rule in seccomp_object["syscalls"] for name in rule["names"]]


def test_x86_64_without_caps(tmp_path):
    result = convert(
        "--arch", "x86_64", "--caps", "", "--kernel", "6.1.0-56-amd64", profile=SYNTHETIC, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["defaultAction"] == "SCMP_ACT_ERRNO"
    assert out["defaultErrnoRet"] == 1
    assert out["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert names(out) == ["read", "arch_prctl", "ptrace", "chroot", "newer", "personality"]
    chroot = out["syscalls"][3]
    assert chroot == {
        "names": ["chroot"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 1,
    }  # no errno/comment/includes
    assert out["syscalls"][-1]["args"] == [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]


def test_aarch64_with_sys_admin_on_an_old_kernel(tmp_path):
    result = convert(
        "--arch",
        "aarch64",
        "--caps",
        "CAP_SYS_ADMIN",
        "--kernel",
        "5.4.0",
        profile=SYNTHETIC,
        tmp_path=tmp_path,
    )
    out = json.loads(result.stdout)
    assert out["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    # mount: its one cap is there; bpf: CAP_BPF missing; chroot: an excluded cap is there.
    assert names(out) == ["read", "arm_fadvise64_64", "mount", "older", "personality"]


def test_arch_without_an_arch_map_entry_leaves_architectures_out(tmp_path):
    out = json.loads(convert("--arch", "riscv64", "--caps", "", profile=SYNTHETIC, tmp_path=tmp_path).stdout)
    assert "architectures" not in out


def test_caps_come_from_the_bundle_by_default(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(
        json.dumps({"process": {"capabilities": {"bounding": ["CAP_SYS_CHROOT"]}}})
    )
    out = json.loads(
        convert("--bundle", str(bundle), "--kernel", "6.1", profile=SYNTHETIC, tmp_path=tmp_path).stdout
    )
    assert "chroot" not in names(out)


def test_write_stores_linux_seccomp_in_the_bundle(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = {
        "ociVersion": "1.2.0",
        "process": {"capabilities": {"bounding": []}},
        "linux": {"namespaces": []},
    }
    (bundle / "config.json").write_text(json.dumps(config))
    result = convert(
        "--bundle", str(bundle), "--write", "--kernel", "6.1", profile=SYNTHETIC, tmp_path=tmp_path
    )
    assert (result.returncode, result.stdout) == (0, "")
    written = json.loads((bundle / "config.json").read_text())
    assert written["linux"]["namespaces"] == []
    assert names(written["linux"]["seccomp"])[:2] == ["read", "arch_prctl"]
    assert sorted(os.listdir(bundle)) == ["config.json"]


@pytest.mark.parametrize(
    ("args", "profile", "message"),
    [
        (["--arch", "vax"], SYNTHETIC, "unknown architecture 'vax'"),
        ([], {**SYNTHETIC, "architectures": ["SCMP_ARCH_X86_64"]}, "both 'architectures' and 'archMap'"),
        ([], {"syscalls": []}, "no defaultAction"),
        ([], {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]}, "has no action"),
        (
            ["--kernel", "banana"],
            {**SYNTHETIC, "syscalls": SYNTHETIC["syscalls"][-3:]},
            "cannot read kernel version",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, args, profile, message):
    result = convert("--caps", "", *args, profile=profile, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("docker-seccomp-to-oci: ")
    assert message in result.stderr


def test_missing_profile(tmp_path):
    result = convert("--caps", "", "--profile", str(tmp_path / "nope.json"))
    assert result.returncode == 1
    assert "No such file" in result.stderr


# --- the committed bundle ----------------------------------------------------------------------


@pytest.mark.skipif(
    not os.path.exists(DOCKER_PROFILE), reason="golang-github-containers-common not installed"
)
def test_committed_bundle_is_what_the_converter_makes_today():
    result = convert("--bundle", BUNDLE)
    assert result.returncode == 0, result.stderr
    with open(os.path.join(BUNDLE, "config.json")) as f:
        committed = json.load(f)["linux"]["seccomp"]
    assert json.loads(result.stdout) == committed


def test_committed_bundle_profile_compiles(docker_profile):
    program = seccomp.compile_profile(docker_profile)
    assert program.flags == 0
    assert program.listener_path is None


@pytest.fixture
def runc_bundle(tmp_path):
    """A copy of oci-bundles/seccomp with a fresh rootfs, and a private runc --root."""
    if shutil.which("runc") is None:
        pytest.skip("runc not installed")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(os.path.join(BUNDLE, "config.json"), bundle / "config.json")
    subprocess.run([os.path.join(REPO, "oci-bundles", "build"), str(bundle / "rootfs")], check=True)
    root = tmp_path / "runc-root"
    container_id = f"pyrunc-seccomp-{os.getpid()}"
    try:
        yield bundle, root, container_id
    finally:
        subprocess.run(["runc", "--root", str(root), "delete", "--force", container_id], capture_output=True)


def test_runc_runs_the_bundle(runc_bundle):
    bundle, root, container_id = runc_bundle
    result = subprocess.run(
        ["runc", "--root", str(root), "run", "--bundle", str(bundle), container_id],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Docker default seccomp profile: Seccomp: 2 (2 = filter mode)"
    assert "  tmpfs write/read: written-to-tmpfs" in lines
    assert "  uname: Linux x86_64" in lines
    assert "  hostname -> hostname: sethostname: Operation not permitted" in lines
