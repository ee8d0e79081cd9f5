"""Hooks (issue 3, item 7): the six points, each at its moment and in the namespaces the spec gives,
with the state JSON on stdin, its own path, args and env, its timeout enforced, and the failure
semantics of runtime-spec 1.3 (create-time hooks fail create and clean up, startContainer fails
start, poststart fails the container, poststop only warns).

Every hook is busybox's shell (the host's for the runtime-namespace hooks, the rootfs's for
startContainer, whose path resolves in the container): it records its stdin, command line,
environment, namespaces and the order in which the points ran into a log directory, which is bound
into the container at /hooklog."""

from __future__ import annotations

import json
import os

import pytest

from pyrunc import OCI_VERSION

from .helpers import assert_nothing_left, fails, ns_link

POINTS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
RUNTIME_NAMESPACE = ("prestart", "createRuntime", "poststart", "poststop")
CONTAINER_LOG = "/hooklog"
RECORD = (
    'p=$1; cat > "$LOG/$p.json";'
    # `read` is a builtin: /proc/self is the hook's own shell (its NULs are dropped).
    '{ read -r c < /proc/self/cmdline; echo "$c"; env | sort | tr "\\n" " "; echo;'
    " for ns in mnt net pid; do readlink /proc/self/ns/$ns; done;"
    ' } > "$LOG/$p.info"; echo "$p" >> "$LOG/order"'
)
PROCESS = f"echo process >> {CONTAINER_LOG}/order; exec sleep infinity"
# Something of the runtime's own environment that no hook may inherit.
LEAK_MARKER = "PYRUNC_HOOK_TEST_LEAK=1"


def hook(point: str, log: str, script: str = RECORD, **extra) -> dict:
    """A busybox sh hook; startContainer's path and log are the container's."""
    inside = point == "startContainer"
    return {
        "path": "/bin/busybox",
        "args": ["sh", "-c", script, "hook", point],
        "env": [f"LOG={CONTAINER_LOG if inside else log}", "HOOKVAR=hook value"],
        **extra,
    }


@pytest.fixture
def hook_log(host_dir):
    log = host_dir("hooklog")
    os.chmod(log, 0o777)
    return log


def hooked_bundle(make_bundle, log: str, hooks: dict):
    bundle = make_bundle(args=["sh", "-c", PROCESS])
    bundle.config["mounts"].append(
        {"destination": CONTAINER_LOG, "type": "bind", "source": log, "options": ["rbind"]}
    )
    bundle.config["hooks"] = hooks
    return bundle.write()


def order(log: str) -> list[str]:
    try:
        with open(os.path.join(log, "order")) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def recorded(log: str, point: str) -> tuple[dict, list[str]]:
    """(state JSON the hook read, [command line, environment, mnt ns, net ns, pid ns])."""
    with open(os.path.join(log, f"{point}.json")) as f:
        state = json.load(f)
    with open(os.path.join(log, f"{point}.info")) as f:
        info = f.read().splitlines()
    return state, info


def process_gone(pid: int) -> bool:
    """Exited: no longer there, or a zombie waiting for us (its subreaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def leaky_env() -> dict:
    key, value = LEAK_MARKER.split("=")
    return {**os.environ, key: value}


def test_six_points_in_order_namespaces_and_states(runtime, make_bundle, cid, hook_log):
    bundle = hooked_bundle(make_bundle, hook_log, {point: [hook(point, hook_log)] for point in POINTS})
    runtime("create", "--bundle", bundle.path, cid, env=leaky_env())
    try:
        assert order(hook_log) == ["prestart", "createRuntime", "createContainer"]
        pid = runtime.state(cid)["pid"]
        runtime("start", cid, env=leaky_env())
        started = order(hook_log)
        assert started[3] == "startContainer", started
        assert sorted(started[4:]) == ["poststart", "process"], started  # the spec orders neither
        namespaces = {
            "runtime": [ns_link("self", name) for name in ("mnt", "net", "pid")],
            "container": [ns_link(pid, name) for name in ("mnt", "net", "pid")],
        }
    finally:
        runtime("delete", "--force", cid, env=leaky_env())
    assert order(hook_log)[-1] == "poststop"

    statuses = {
        "prestart": "creating",
        "createRuntime": "creating",
        "createContainer": "creating",
        "startContainer": "created",
        "poststart": "running",
        "poststop": "stopped",
    }
    for point in POINTS:
        state, (cmdline, env, *links) = recorded(hook_log, point)
        assert state["id"] == cid and state["bundle"] == bundle.path, (point, state)
        assert state["status"] == statuses[point], (point, state)
        assert state["ociVersion"] == OCI_VERSION, (point, state)  # the runtime's, as runc says
        if point != "poststop":
            assert state["pid"] == pid, (point, state)
        assert cmdline.startswith("sh-c"), f"{point}: args[0] is the program's argv[0]: {cmdline!r}"
        assert "HOOKVAR=hook value" in env, (point, env)
        assert "PYRUNC_HOOK_TEST_LEAK" not in env, f"{point} inherited the runtime's environment"
        where = "runtime" if point in RUNTIME_NAMESPACE else "container"
        assert links == namespaces[where], f"{point} should run in the {where} namespaces"


def test_timeout_is_enforced(runtime, make_bundle, cid, hook_log):
    slow = hook("createRuntime", hook_log, script="sleep 60", timeout=1)
    bundle = hooked_bundle(make_bundle, hook_log, {"createRuntime": [slow]})
    fails(runtime, "create", "--bundle", bundle.path, cid, message=("createRuntime", "timed out"), timeout=30)


FAIL = 'echo "hook $1 says no" >&2; exit 3'


@pytest.mark.parametrize("point", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_create_time_hook_fails_create_and_cleans_up(runtime, make_bundle, cid, hook_log, point):
    bundle = hooked_bundle(make_bundle, hook_log, {point: [hook(point, hook_log, script=FAIL)]})
    fails(runtime, "create", "--bundle", bundle.path, cid, message=(point, f"hook {point} says no"))
    assert "process" not in order(hook_log)


def test_a_failing_start_container_hook_fails_start(runtime, make_bundle, cid, hook_log):
    bundle = hooked_bundle(
        make_bundle, hook_log, {"startContainer": [hook("startContainer", hook_log, script=FAIL)]}
    )
    runtime("create", "--bundle", bundle.path, cid)
    result = runtime("start", cid, check=False)
    assert result.returncode == 1, result
    assert "startContainer" in result.stderr and "says no" in result.stderr, result.stderr
    assert runtime.status(cid) == "stopped"
    assert "process" not in order(hook_log), "the process must not run after a failed startContainer hook"
    runtime("delete", cid)
    assert_nothing_left(runtime)


def test_a_failing_poststart_hook_fails_the_container(runtime, make_bundle, cid, hook_log):
    """runtime-spec 1.3: the runtime logs the error, stops the container and fails start."""
    bundle = hooked_bundle(make_bundle, hook_log, {"poststart": [hook("poststart", hook_log, script=FAIL)]})
    runtime("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    result = runtime("start", cid, check=False)
    assert result.returncode == 1, result
    assert "poststart" in result.stderr and "says no" in result.stderr, result.stderr
    assert runtime.status(cid) == "stopped"
    assert process_gone(pid), "the container's process must be stopped"
    runtime("delete", cid)
    assert_nothing_left(runtime)


def test_a_failing_poststop_hook_is_a_warning_and_delete_goes_on(runtime, make_bundle, cid, hook_log):
    hooks = {"poststop": [hook("poststop", hook_log, script=FAIL), hook("poststop", hook_log)]}
    bundle = hooked_bundle(make_bundle, hook_log, hooks)
    runtime("run", "-d", "--bundle", bundle.path, cid)
    result = runtime("delete", "--force", cid)
    assert "poststop" in result.stderr and "says no" in result.stderr and "warn" in result.stderr, (
        result.stderr
    )
    assert order(hook_log)[-1] == "poststop", "the next poststop hook still ran"
    assert_nothing_left(runtime)
