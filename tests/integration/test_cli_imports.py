"""The hot verbs import only what they need (issue 15): containerd calls state, start, kill and
delete for every container, and each module they load is paid on every call.

Each verb runs through pyrunc.main as the installed command does (-I -S, our paths after the
standard library's), against a real container; `_exit` is replaced to record sys.modules at the
moment the command is done. Checked by names, never by time.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import time

from tests.support import REPO, USED_IDS

_RUN_MAIN = """
import sys
sys.path += [sys.argv[1], sys.argv[2]]
record, argv = sys.argv[3], sys.argv[4:]
from pyrunc import main as entry

def _exit(code):
    with open(record, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
    entry.__dict__["_real_exit"](code)

entry.__dict__["_real_exit"] = entry._exit
entry._exit = _exit
entry.main(argv)
"""

# Never on the hot path: the CLI framework, validation, the C core and the launch plan, and
# standard modules that cost more than a verb's own work.
HEAVY = {
    "click",
    "jsonschema",
    "json",
    "re",
    "typing",
    "enum",
    "signal",
    "subprocess",
    "threading",
    "encodings.ascii",
    "pyrunc.cli",
    "pyrunc._core",
    "pyrunc._seccomp",
    "pyrunc.config",
    "pyrunc.plan",
    "pyrunc.hooks",
    "pyrunc.cgroups.resources",
    # The containerd shim and its protobuf messages: the shim's, never the CLI's.
    "pyrunc.shim",
    "google",
    "google.protobuf",
}


def modules_of(runtime, tmp_path, *args: str) -> set[str]:
    record = tmp_path / "modules"
    record.unlink(missing_ok=True)
    if args[0] == "create":
        USED_IDS.add(args[-1])  # for the leak check
    site = sysconfig.get_paths()["purelib"]
    argv = [*(["--root", runtime.root] if args != ("--version",) else []), *args]
    # Files, not pipes: a created container inherits the runtime's stdio.
    with open(tmp_path / "stderr", "w+") as err:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _RUN_MAIN, REPO, site, str(record), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            timeout=60,
        )
        err.seek(0)
        assert done.returncode == 0, f"pyrunc {' '.join(args)}: {err.read()}"
    return set(record.read_text().split())


def assert_light(loaded: set[str], also_forbidden: set[str] = frozenset()) -> None:
    assert loaded & (HEAVY | also_forbidden) == set()


def test_state_start_kill_import_only_what_they_need(runtime, make_bundle, cid, tmp_path):
    runtime("create", "--bundle", make_bundle(args=["sleep", "infinity"]).path, cid)
    assert_light(modules_of(runtime, tmp_path, "state", cid), {"pyrunc.cgroups", "fcntl"})
    assert_light(modules_of(runtime, tmp_path, "start", cid), {"pyrunc.cgroups"})
    assert runtime.status(cid) == "running"
    assert_light(modules_of(runtime, tmp_path, "kill", cid, "0"), {"pyrunc.cgroups"})
    assert_light(modules_of(runtime, tmp_path, "kill", cid, "9"), {"pyrunc.cgroups"})
    runtime("delete", "--force", cid)


def test_delete_of_a_stopped_container_imports_only_what_it_needs(runtime, make_bundle, cid, tmp_path):
    runtime("create", "--bundle", make_bundle(args=["true"]).path, cid)
    runtime("start", cid)
    deadline = time.monotonic() + 10
    while runtime.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    loaded = modules_of(runtime, tmp_path, "delete", cid)
    assert "pyrunc.container.delete" in loaded  # it did run the verb
    assert_light(loaded)
    assert runtime("state", cid, check=False).returncode != 0


def test_version_imports_nothing_but_the_package(runtime, tmp_path):
    loaded = modules_of(runtime, tmp_path, "--version")
    assert {m for m in loaded if m.startswith("pyrunc")} <= {"pyrunc", "pyrunc.main", "pyrunc._build_info"}
    assert "os" not in loaded


def test_create_imports_no_framework_nor_unused_stdlib(runtime, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=["sleep", "infinity"])
    loaded = modules_of(runtime, tmp_path, "create", "--bundle", bundle.path, cid)
    assert "pyrunc.container.create" in loaded
    # create needs the core, the config and the plan; not click, jsonschema (a valid config takes
    # the generated check), nor `resource` without --preserve-fds.
    light = HEAVY - {
        "pyrunc._core",
        "pyrunc.config",
        "pyrunc.plan",
        "pyrunc.hooks",
        "pyrunc.cgroups.resources",
    }
    assert loaded & (light | {"resource"}) == set()
    assert runtime.status(cid) == "created"
    runtime("delete", "--force", cid)
