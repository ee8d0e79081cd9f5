"""Bad input: a clear error naming the problem, exit status 1, and nothing left behind (the leak
check fixture also verifies no process, mount or cgroup survives)."""

from __future__ import annotations

import json
import os
import threading

import pytest


def assert_nothing_left(runtime) -> None:
    leftovers = os.listdir(runtime.root) if os.path.isdir(runtime.root) else []
    assert leftovers == [], f"state left in --root: {leftovers}"


def fails(runtime, *args, message: str, **kw):
    result = runtime(*args, check=False, **kw)
    assert result.returncode == 1, f"expected exit 1, got {result.returncode}: {result.stderr}"
    # Text log lines quote the message as logrus does (\" for "): compare unescaped.
    stderr = result.stderr.replace('\\"', '"')
    assert message in stderr, f"expected {message!r} in: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def test_missing_bundle(runtime, cid, tmp_path):
    fails(runtime, "create", "--bundle", str(tmp_path / "nope"), cid, message="does not exist")
    assert_nothing_left(runtime)


def test_missing_config(runtime, cid, tmp_path):
    fails(runtime, "create", "--bundle", str(tmp_path), cid, message="config.json not found")
    assert_nothing_left(runtime)


def test_malformed_config(runtime, make_bundle, cid):
    bundle = make_bundle()
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.2.0",\n "process": {')
    fails(runtime, "create", "--bundle", bundle.path, cid, message="not valid JSON")
    assert_nothing_left(runtime)


def test_missing_rootfs(runtime, make_bundle, cid):
    bundle = make_bundle()
    bundle.config["root"]["path"] = "no-such-rootfs"
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message="root.path")
    assert_nothing_left(runtime)


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        (("process", "args"), "sh", "process.args"),
        (("process", "user", "uid"), "root", "process.user.uid"),
        (("hostname",), 7, "hostname"),
        (("linux", "namespaces"), [{"type": "pid"}, {"type": "pid"}, {"type": "mount"}], "linux.namespaces"),
        (("process", "capabilities", "bounding"), ["CAP_NOPE"], "process.capabilities.bounding[0]"),
    ],
)
def test_invalid_field_is_named(runtime, make_bundle, cid, field, value, where):
    bundle = make_bundle()
    target = bundle.config
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message=where)
    assert_nothing_left(runtime)


def test_duplicate_id(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("create", "--bundle", bundle.path, cid)
    first = runtime.state(cid)
    fails(runtime, "create", "--bundle", bundle.path, cid, message="already exists")
    assert runtime.state(cid) == first
    runtime("delete", cid)


@pytest.mark.parametrize("verb", [["start"], ["state"], ["kill"], ["delete"], ["kill", "--all"]])
def test_unknown_id(runtime, verb):
    fails(runtime, *verb, "t-no-such-container", message="does not exist")


def test_delete_force_of_unknown_id_succeeds_like_runc(runtime):
    assert runtime("delete", "--force", "t-no-such-container", check=False).returncode == 0


@pytest.mark.parametrize("bad_id", ["..", ".", "a/b", "../../etc", "x y", "é"])
def test_invalid_ids_never_touch_the_filesystem(runtime, make_bundle, bad_id):
    bundle = make_bundle()
    fails(runtime, "create", "--bundle", bundle.path, bad_id, message="invalid container id")
    assert_nothing_left(runtime)


def test_start_twice(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    fails(runtime, "start", cid, message="cannot start an already running container")
    runtime("delete", "--force", cid)


def test_unknown_signal(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("create", "--bundle", bundle.path, cid)
    fails(runtime, "kill", cid, "SIGNOPE", message="unknown signal")
    fails(runtime, "kill", cid, "99", message="invalid signal")
    assert runtime.status(cid) == "created"
    runtime("delete", cid)


def test_kill_of_a_stopped_container(runtime, make_bundle, cid):
    bundle = make_bundle(args=["true"])
    runtime("run", "--keep", "--bundle", bundle.path, cid)
    fails(runtime, "kill", cid, "KILL", message="container not running")
    runtime("delete", cid)


def test_unwritable_root(make_bundle, cid, runtime):
    bundle = make_bundle()
    result = runtime.__class__(runtime.binary, "/proc/pyrunc-root")(
        "create", "--bundle", bundle.path, cid, check=False
    )
    assert result.returncode == 1
    assert "root directory /proc/pyrunc-root" in result.stderr


def test_exec_of_missing_binary_fails_create(runtime, make_bundle, cid):
    bundle = make_bundle(args=["/nope"])
    fails(runtime, "create", "--bundle", bundle.path, cid, message='exec: "/nope": no such file or directory')
    assert_nothing_left(runtime)
    bundle = make_bundle(args=["nope"])
    fails(
        runtime,
        "create",
        "--bundle",
        bundle.path,
        cid,
        message='exec: "nope": executable file not found in $PATH',
    )
    assert_nothing_left(runtime)


def test_failure_inside_the_child_is_precise(runtime, make_bundle, cid):
    bundle = make_bundle()
    bundle.config["mounts"].append({"destination": "/mnt/x", "type": "nosuchfs", "source": "none"})
    bundle.write()
    fails(runtime, "create", "--bundle", bundle.path, cid, message="mount none onto /mnt/x (type nosuchfs)")
    assert_nothing_left(runtime)


def test_json_log_line(runtime, make_bundle, cid, tmp_path):
    log_file = tmp_path / "log.json"
    result = runtime("--log", str(log_file), "--log-format", "json", "state", cid, check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr  # also plain on stderr, as runc
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert lines[-1]["level"] == "error"
    assert "does not exist" in lines[-1]["msg"]
    assert lines[-1]["time"].endswith("Z")


def test_systemd_cgroup_without_systemd_is_refused_clearly(runtime, make_bundle, cid):
    # The driver itself is tested where systemd is PID 1 (tests/systemd, in tests/vm/run-systemd).
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: the refusal is for hosts without it")
    bundle = make_bundle()
    out = runtime("--systemd-cgroup", "create", "--bundle", bundle.path, cid, check=False)
    assert out.returncode == 1
    assert "systemd is not running on this host" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert_nothing_left(runtime)


def test_concurrent_creates_of_one_id_exactly_one_wins(runtime, make_bundle, cid):
    bundle = make_bundle(args=["sleep", "infinity"])
    results = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        results.append(runtime("create", "--bundle", bundle.path, cid, check=False))

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.returncode == 0]
    losers = [r for r in results if r.returncode != 0]
    assert len(winners) == 1, [r.stderr for r in results]
    assert all("already exists" in r.stderr for r in losers), [r.stderr for r in losers]
    assert runtime.status(cid) == "created"
    runtime("delete", cid)


def test_exec_failures_exit_255_and_usage_errors_1_as_runc(runtime, make_bundle, cid, tmp_path):
    """runc exits 255 when exec fails before the process runs ("exec failed: ..."), so a caller
    can tell the runtime's failure from the process's own status; usage errors stay 1."""
    bundle = make_bundle(args=["sleep", "infinity"])
    runtime("run", "-d", "--bundle", bundle.path, cid)
    assert runtime("exec", cid, "sh", "-c", "exit 1", check=False).returncode == 1
    failures = {
        "missing container": ["t-no-such-container", "true"],
        "pid file in a missing directory": ["--pid-file", str(tmp_path / "no" / "pid"), cid, "true"],
        "missing process file": ["--process", str(tmp_path / "nope.json"), cid],
        "no command": [cid],
        "missing binary": [cid, "/no/such/binary"],
        "cwd that does not exist": ["--cwd", "/no/such/dir", cid, "true"],
    }
    for what, args in failures.items():
        result = runtime("exec", *args, check=False)
        assert result.returncode == 255, (what, result.returncode, result.stderr)
        assert result.stderr.count("\n") == 1 and "exec failed: " in result.stderr, (what, result.stderr)
    for what, args in {"unknown option": ["--no-such-option", cid, "true"], "no id": []}.items():
        result = runtime("exec", *args, check=False)
        assert result.returncode == 1, (what, result.returncode, result.stderr)
    runtime("delete", "--force", cid)


def test_help_is_help_not_an_error(runtime):
    """As runc: `pyrunc` alone, `-h`/`--help` anywhere and `help [COMMAND]` print help on stdout
    and exit 0; an unknown command or a missing argument stays a one-line usage error."""
    from pyrunc._cli_table import TABLE

    asks = [[], ["--debug"], ["-h"], ["--help"], ["help"]]
    asks += [[command, flag] for command in TABLE if command for flag in ("-h", "--help")]
    asks += [["help", command] for command in TABLE if command]
    for argv in asks:
        result = runtime(*argv, check=False)
        assert (result.returncode, result.stderr) == (0, ""), (argv, result)
        assert result.stdout.startswith("Usage: pyrunc"), (argv, result.stdout[:200])
    for argv, message in ((["frobnicate"], "No such command"), (["help", "frobnicate"], "frobnicate")):
        result = fails(runtime, *argv, message=message)
        assert result.stdout == "" and result.stderr.count("\n") == 1, result
