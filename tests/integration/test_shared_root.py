"""A --root shared with runc, as dockerd 20.10 does (every runtime gets `runtime-runc/moby`): pyrunc
never takes runc's containers for its own (state, kill, delete, exec refuse them in one line naming
runc; list leaves them out), and nothing pyrunc keeps in the root makes runc's `list` complain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from pyrunc.store import LEGACY_SECCOMP_CACHE, SECCOMP_CACHE_PREFIX

RUNC = shutil.which("runc") or "/usr/sbin/runc"
pytestmark = pytest.mark.skipif(not os.access(RUNC, os.X_OK), reason="runc is not installed")


@pytest.fixture
def runc(runtime):
    """runc on the pyrunc runtime's --root; every container it ran is force-deleted after."""
    ran = []

    def call(*args: str) -> subprocess.CompletedProcess:
        if args[:1] == ("run",):
            ran.append(args[-1])
        # Output through files: a detached container inherits them and would hold a pipe open.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run(
                [RUNC, "--root", runtime.root, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=60,
            )
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())

    yield call
    for container_id in ran:
        call("delete", "--force", container_id)


def test_runcs_containers_are_not_taken_for_ours(runtime, runc, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=["sleep", "infinity"])
    theirs = f"{cid}-runc"
    started = runc("run", "-d", "--bundle", bundle.path, theirs)
    assert started.returncode == 0, started.stderr
    runtime("run", "-d", "--bundle", bundle.path, cid)
    pid = json.loads(runc("state", theirs).stdout)["pid"]
    for args in (["state"], ["kill"], ["kill", "--all"], ["delete"], ["delete", "--force"], ["pause"]):
        result = runtime(*args, theirs, *(["KILL"] if args[0] == "kill" else []), check=False)
        assert result.returncode == 1, (args, result)
        assert result.stderr.count("\n") == 1, (args, result.stderr)
        assert f"container '{theirs}' is not pyrunc's" in result.stderr and "runc's state" in result.stderr
    result = runtime("exec", theirs, "true", check=False)
    assert result.returncode == 255 and "is not pyrunc's" in result.stderr, result
    mine = json.loads(runtime("list", "--format", "json").stdout)
    assert [entry["id"] for entry in mine] == [cid], "list shows only pyrunc's containers"
    assert runtime("list", "-q").stdout.split() == [cid]
    assert json.loads(runc("state", theirs).stdout)["status"] == "running", "runc's container untouched"
    assert os.path.exists(f"/proc/{pid}")
    runtime("delete", "--force", cid)


def test_crun_like_state_is_not_taken_for_ours(runtime):
    """crun keeps `status` (and no state.json, no lock) in its container's directory."""
    theirs = os.path.join(runtime.root, "t-crun-like")
    os.makedirs(theirs)
    with open(os.path.join(theirs, "status"), "w") as f:
        json.dump({"pid": 1, "bundle": "/nonexistent"}, f)
    for args in (["state"], ["delete", "--force"]):
        result = runtime(*args, "t-crun-like", check=False)
        assert result.returncode == 1 and "crun's state" in result.stderr, (args, result)
    assert os.path.exists(os.path.join(theirs, "status")), "delete --force removed crun's state"
    assert runtime("list", "-q").stdout == ""
    os.unlink(os.path.join(theirs, "status"))
    os.rmdir(theirs)


def test_the_seccomp_cache_is_no_container_for_runc(runtime, runc, make_bundle, cid):
    """pyrunc's compiled-seccomp cache stays in the root as files, which runc's list skips (it
    warned "invalid container ID format" about the "#seccomp-cache" directory of old)."""
    bundle = make_bundle(args=["true"])
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
    }
    bundle.write()
    os.makedirs(os.path.join(runtime.root, LEGACY_SECCOMP_CACHE))  # what an earlier version left
    runtime("run", "--bundle", bundle.path, cid)
    entries = os.listdir(runtime.root)
    assert len(entries) == 1 and entries[0].startswith(SECCOMP_CACHE_PREFIX), entries
    assert os.path.isfile(os.path.join(runtime.root, entries[0]))
    listed = runc("list")
    assert (listed.returncode, listed.stderr) == (0, ""), listed
    assert runtime("list", "-q").stdout == ""
