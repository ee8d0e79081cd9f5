"""The sample bundles of oci-bundles/ run under pyrunc, and under runc too (when installed): they
are valid OCI bundles, not pyrunc dialect."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.support import REPO, Runtime

BUNDLES = os.path.join(REPO, "oci-bundles")
RUNC = shutil.which("runc")


@pytest.fixture(scope="module", autouse=True)
def built_bundles():
    if not all(os.path.isdir(os.path.join(BUNDLES, b, "rootfs")) for b in ("hello", "sleep", "true", "full")):
        subprocess.run([os.path.join(BUNDLES, "build")], check=True, capture_output=True)


def runtimes(tmp_path) -> list[Runtime]:
    from tests.support import PYRUNC

    found = [Runtime(PYRUNC, str(tmp_path / "pyrunc-root"))]
    if RUNC:
        found.append(Runtime(RUNC, str(tmp_path / "runc-root")))
    return found


def run_bundle(runtime: Runtime, name: str) -> subprocess.CompletedProcess:
    cid = f"t-bundle-{name}-{uuid.uuid4().hex[:6]}"
    return runtime("run", "--bundle", os.path.join(BUNDLES, name), cid)


def test_hello_runs_under_both(tmp_path):
    for runtime in runtimes(tmp_path):
        out = run_bundle(runtime, "hello").stdout
        assert "Hello from inside a pyrunc container!" in out, (runtime.binary, out)
        assert "my pid:   1 " in out


def test_true_runs_under_both(tmp_path):
    for runtime in runtimes(tmp_path):
        assert run_bundle(runtime, "true").returncode == 0


def test_full_bundle_applies_its_fields_under_both(tmp_path):
    expected = {
        "user": "uid=1000 gid=1000 groups=10,20",
        "cwd": "/home/app, umask 0022",
        "env": "GREETING=hello from the full bundle",
        "nofile": "512 (soft)",
        "nnp": "NoNewPrivs:\t1",
        "oom adj": "100",
        "sysctl": "ip_unprivileged_port_start=80",
        "rootfs": "read-only",
        "kcore": "masked",
        "memory.max": "67108864",
    }
    for runtime in runtimes(tmp_path):
        out = run_bundle(runtime, "full").stdout
        report = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        for key, value in expected.items():
            assert report[key].strip() == value, (runtime.binary, key, out)
        assert "fuse" in report["devices"].split()
        if runtime.binary != RUNC:  # runc 1.1.5 ignores domainname
            assert report["hostname"].strip() == "full (example.org)"


def test_sleep_bundle_runs_detached_under_both(tmp_path):
    for runtime in runtimes(tmp_path):
        cid = f"t-bundle-sleep-{uuid.uuid4().hex[:6]}"
        runtime("run", "-d", "--bundle", os.path.join(BUNDLES, "sleep"), cid, stdin=subprocess.DEVNULL)
        try:
            assert json.loads(runtime("state", cid).stdout)["status"] == "running"
        finally:
            runtime("delete", "--force", cid)
