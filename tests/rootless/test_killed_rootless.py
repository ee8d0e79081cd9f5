"""Issue 13 (reliability): rootless create, start, run -d, exec and delete SIGKILLed mid-way, as
tests/reliability/test_killed.py does for root. After every kill, `state` answers (the truth or a
clear error) and `delete --force`, as the user, leaves nothing: no entry in the user's state root,
no process of the user, no user namespace holder. (A rootless container has no cgroup here and
its mounts live only in its own mount namespace, gone with its processes.)

The moments are fractions of the command's own measured duration, so the kills spread over its
whole run on a fast or a loaded machine alike; nothing is asserted about time.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time

import pytest

from tests.support import reap_orphans, reap_until

from .conftest import User, _user_processes

FRACTIONS = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)
SCENARIOS = {
    # tag: (what must exist first, the command)
    "create": ("", ["create", "--bundle", "{bundle}", "{cid}"]),
    "start": ("created", ["start", "{cid}"]),
    "run-d": ("", ["run", "--detach", "--bundle", "{bundle}", "{cid}"]),
    "exec": ("running", ["exec", "{cid}", "true"]),
    "delete": ("stopped", ["delete", "{cid}"]),
}


def _spawn(user: User, argv: list[str], stderr=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        env=user.env(),
        cwd=user.home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def _prepare(user: User, bundle: str, cid: str, setup: str) -> None:
    if setup in ("created", "running", "stopped"):
        user.pyrunc("create", "--bundle", bundle, cid, check=True)
    if setup in ("running", "stopped"):
        user.pyrunc("start", cid, check=True)
    if setup == "stopped":
        user.pyrunc("kill", cid, "KILL", check=True)
        stopped = reap_until(
            lambda: json.loads(user.pyrunc("state", cid, check=True).stdout)["status"] == "stopped"
        )
        assert stopped, f"{cid} never stopped after SIGKILL"


def _duration(user: User, bundle: str, setup: str, command: list[str]) -> float:
    cid = f"rk-{secrets.token_hex(4)}"
    _prepare(user, bundle, cid, setup)
    argv = [user.binary, *(a.format(bundle=bundle, cid=cid) for a in command)]
    started = time.monotonic()
    proc = _spawn(user, argv)
    assert proc.wait(timeout=60) == 0, argv
    seconds = time.monotonic() - started
    user.pyrunc("delete", "--force", cid)
    reap_orphans()
    return seconds


def _delete_reaping(user: User, cid: str) -> tuple[int, str]:
    """delete --force, reaping meanwhile: a process the killed command left in the container's
    pid namespace is our orphan (we are the subreaper, as a shim or conmon would be), and until
    it is reaped the namespace's init cannot finish exiting."""
    import tempfile

    with tempfile.TemporaryFile() as err:
        proc = _spawn(user, [user.binary, "delete", "--force", cid], stderr=err)
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            assert time.monotonic() < deadline, f"delete --force {cid} still running after 60s"
            reap_orphans(keep=proc.pid)
            time.sleep(0.02)
        err.seek(0)
        return proc.returncode, err.read().decode(errors="replace")


def _settled(user: User, cid: str) -> list[str]:
    """What is wrong after the kill and a delete --force: empty when nothing is left."""
    problems = []
    state = user.pyrunc("state", cid)
    if state.returncode == 0:
        status = json.loads(state.stdout)["status"]
        if status not in ("created", "running", "stopped", "creating"):
            problems.append(f"state says {status!r}")
    elif len(state.stderr.strip().splitlines()) != 1:
        problems.append(f"state fails without one clear line: {state.stderr!r}")
    deleted, err = _delete_reaping(user, cid)
    if deleted != 0 and "does not exist" not in err:
        problems.append(f"delete --force failed: {err.strip()}")
    if not reap_until(lambda: not _user_processes(user.uid)):
        problems.append(f"processes of the user left: {_user_processes(user.uid)}")
    left = [n for n in os.listdir(user.state_root) if not n.startswith("#")]
    if left:
        problems.append(f"left in the state root: {left}")
    return problems


@pytest.mark.parametrize("tag", sorted(SCENARIOS))
def test_rootless_command_killed_midway_leaves_nothing(user: User, rootless_bundle, tag: str) -> None:
    setup, command = SCENARIOS[tag]
    bundle = rootless_bundle(["sleep", "1000"])
    usual = _duration(user, bundle, setup, command)
    failures = []
    for fraction in FRACTIONS:
        cid = f"rk-{secrets.token_hex(4)}"
        _prepare(user, bundle, cid, setup)
        proc = _spawn(user, [user.binary, *(a.format(bundle=bundle, cid=cid) for a in command)])
        time.sleep(usual * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        problems = _settled(user, cid)
        if problems:
            failures.append(f"killed at {fraction:.0%} of {usual * 1000:.0f} ms: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
