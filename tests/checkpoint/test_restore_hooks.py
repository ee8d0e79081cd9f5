"""The action script restore gives CRIU (pyrunc/restore-hooks, pyrunc/container/restore_hooks.py),
run as CRIU runs it (executed with no arguments, CRIU's environment plus the step in
CRTOOLS_SCRIPT_ACTION): on any host, without CRIU. The whole restore
with hooks runs in the guest (test_checkpoint.py)."""

from __future__ import annotations

import json
import os
import subprocess

from pyrunc.container import restore_hooks

CONFIG_STATE = {"ociVersion": "1.3.0", "id": "c1", "bundle": "/b", "annotations": {"a": "b"}}


def recording_hook(path, point: str, order) -> dict:
    return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {path}; echo {point} >> {order}"]}


def run_script(script: tuple[str, dict[str, str]], action: str, pid: int) -> subprocess.CompletedProcess:
    path, extra = script
    env = dict(os.environ, **extra, CRTOOLS_SCRIPT_ACTION=action, CRTOOLS_INIT_PID=str(pid))
    # As CRIU runs it: stdin closed, stdout and stderr on its log.
    return subprocess.run(
        ["sh", "-c", 'exec 0<&- "$0"', path], env=env, capture_output=True, text=True, timeout=60
    )


def test_hooks_run_at_setup_namespaces_only_with_the_inits_pid(tmp_path):
    order = tmp_path / "order"
    config = {
        "hooks": {
            "prestart": [recording_hook(tmp_path / "prestart.json", "prestart", order)],
            "createRuntime": [recording_hook(tmp_path / "createRuntime.json", "createRuntime", order)],
            "poststart": [recording_hook(tmp_path / "poststart.json", "poststart", order)],
        }
    }
    assert restore_hooks.wanted(config) and not restore_hooks.wanted({"hooks": {"poststart": [{}]}})
    path = str(tmp_path / "in.json")
    restore_hooks.write_input(path, config, CONFIG_STATE)
    script = restore_hooks.action_script(path)
    for action in ("pre-restore", "post-setup-namespaces", "post-restore", "post-resume"):
        result = run_script(script, action, 4242)
        assert result.returncode == 0, result.stderr
    assert not order.exists(), "no hook runs at another step"

    result = run_script(script, "setup-namespaces", 4242)
    assert result.returncode == 0, result.stderr
    assert order.read_text().split() == ["prestart", "createRuntime"], "poststart is not a restore hook"
    for point in ("prestart", "createRuntime"):
        state = json.loads((tmp_path / f"{point}.json").read_text())
        assert state == {**CONFIG_STATE, "status": "creating", "pid": 4242}
    assert restore_hooks.failure(path) is None


def test_a_failing_hook_fails_the_script_and_says_which(tmp_path):
    config = {
        "hooks": {
            "prestart": [{"path": "/bin/true"}],
            "createRuntime": [{"path": "/bin/true"}, {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
        }
    }
    path = str(tmp_path / "in.json")
    restore_hooks.write_input(path, config, CONFIG_STATE)
    result = run_script(restore_hooks.action_script(path), "setup-namespaces", 4242)
    assert result.returncode == 1
    assert result.stdout == result.stderr == "", "nothing on CRIU's stdio: they are the container's"
    failed = restore_hooks.failure(path)
    assert failed is not None and failed.startswith("createRuntime hook #1 failed"), failed


def test_an_unreadable_input_fails_the_script(tmp_path):
    path = str(tmp_path / "missing.json")
    result = run_script(restore_hooks.action_script(path), "setup-namespaces", 1)
    assert result.returncode == 1
    assert "missing.json" in (restore_hooks.failure(path) or "")
