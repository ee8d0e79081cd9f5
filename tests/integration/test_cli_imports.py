"""The hot verbs import only what they need (issue 15): containerd calls state, start, kill and
delete for every container, and each module they load is paid on every call.

Each verb runs through pyrunc.main as the installed command does (-I -S, our paths after the
standard library's), against a real container; `_exit` is replaced to record sys.modules at the
moment the command is done. Checked by names, never by time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import time

from pyrunc.launcher import launcher_body, launcher_text, precompiled, serve_text, write_bundle
from tests.support import REPO, USED_IDS

_RUN_MAIN = """
import sys
at_start = set(sys.modules)
sys.path += [sys.argv[1], sys.argv[2]]
record, argv = sys.argv[3], sys.argv[4:]
{serve}
from pyrunc import main as entry

def _loader(name):
    if name in at_start:
        return "start"  # loaded by the interpreter before any of pyrunc's
    module = sys.modules[name]
    if getattr(getattr(module, "__spec__", None), "loader_state", None) == "bundle":
        return "bundle"
    return type(getattr(module, "__loader__", None)).__name__

def _exit(code):
    with open(record, "w") as f:
        f.write("\\n".join(f"{{name}} {{_loader(name)}}" for name in sorted(sys.modules)))
    import gc
    with open(record + ".gc", "w") as f:
        f.write("on" if gc.isenabled() else "off")
    classes = {{
        f"{{value.__module__}}.{{value.__qualname__}}"
        for name, module in list(sys.modules.items()) if name.startswith("pyrunc")
        for value in list(vars(module).values())
        if isinstance(value, type) and value.__module__ == name
    }}
    with open(record + ".classes", "w") as f:
        f.write("\\n".join(sorted(classes)))
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
    return set(loaders_of(runtime, tmp_path, *args))


def loaders_of(runtime, tmp_path, *args: str, bundle: str | None = None) -> dict[str, str]:
    """{module: its loader's class name} once the command is done; with `bundle`, the modules
    are served from it as the installed launcher does (pyrunc/launcher.py)."""
    record = tmp_path / "modules"
    record.unlink(missing_ok=True)
    if args[0] in ("create", "run"):
        USED_IDS.add(args[-1])  # for the leak check
    site = sysconfig.get_paths()["purelib"]
    argv = [*(["--root", runtime.root] if args != ("--version",) else []), *args]
    script = _RUN_MAIN.format(serve=serve_text(bundle) if bundle else "")
    # Files, not pipes: a created container inherits the runtime's stdio.
    with open(tmp_path / "stderr", "w+") as err:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", script, REPO, site, str(record), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            timeout=60,
        )
        err.seek(0)
        assert done.returncode == 0, f"pyrunc {' '.join(args)}: {err.read()}"
    return dict(line.split(" ", 1) for line in record.read_text().splitlines())


# `os` itself (with _collections_abc and posixpath) costs more than state's or kill's own work:
# the hot verbs call `posix`, the C module under it (pyrunc/store.py's docstring).
NOT_OS = {"os", "posixpath", "_collections_abc"}


def assert_light(loaded: set[str], also_forbidden: set[str] = frozenset()) -> None:
    assert loaded & (HEAVY | also_forbidden) == set()


def test_state_start_kill_import_only_what_they_need(runtime, make_bundle, cid, tmp_path):
    runtime("create", "--bundle", make_bundle(args=["sleep", "infinity"]).path, cid)
    # no _json either: the state is read through its cache (pyrunc/store.py STATE_CACHE), and
    # `state` writes its plain values itself (pyrunc/jsonio.py _leaf)
    # nor pyrunc/store_write.py: what makes a container's directory and writes its state is create's
    light = {"pyrunc.cgroups", "_json", "pyrunc.store_write", *NOT_OS}
    assert_light(modules_of(runtime, tmp_path, "state", cid), {*light, "fcntl", "errno"})
    # nor pyrunc/jsonio.py, which only `state` needs (to print)
    assert_light(modules_of(runtime, tmp_path, "start", cid), {*light, "errno", "pyrunc.jsonio"})
    assert runtime.status(cid) == "running"
    assert_light(modules_of(runtime, tmp_path, "state", cid), {*light, "fcntl", "errno"})
    # kill needs signal names (pyrunc/signals.py), not linux.py's other tables
    kill_light = {*light, "pyrunc.linux", "pyrunc.jsonio"}
    assert_light(modules_of(runtime, tmp_path, "kill", cid, "0"), {*kill_light, "errno"})
    assert_light(modules_of(runtime, tmp_path, "kill", cid, "9"), kill_light)
    runtime("delete", "--force", cid)


def test_delete_of_a_stopped_container_imports_only_what_it_needs(runtime, make_bundle, cid, tmp_path):
    runtime("create", "--bundle", make_bundle(args=["true"]).path, cid)
    runtime("start", cid)
    deadline = time.monotonic() + 10
    while runtime.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    loaded = modules_of(runtime, tmp_path, "delete", cid)
    assert "pyrunc.container.delete" in loaded  # it did run the verb
    assert "pyrunc.cgroups.stored" in loaded  # and removed the cgroup, without os either
    # nor a manager, nor the cgroupfs helpers (pyrunc/cgroups/stored.py: its rmdirs succeed), nor
    # _json (pyrunc/store.py STATE_CACHE), nor errno (pyrunc/errors.py is_errno)
    managers = {"pyrunc.cgroups.manager", "pyrunc.cgroups.v1", "pyrunc.cgroups.v2", "pyrunc.cgroups._fs"}
    assert_light(loaded, {*NOT_OS, "_json", "pyrunc.jsonio", "pyrunc.store_write", "errno", *managers})
    assert runtime("state", cid, check=False).returncode != 0


def collector_of(tmp_path) -> str:
    """Whether the last command of loaders_of ended with the cyclic collector "on" or "off"."""
    return (tmp_path / "modules.gc").read_text()


def test_the_hot_verbs_run_without_the_collector_and_run_keeps_it(runtime, make_bundle, cid, tmp_path):
    """pyrunc/main.py WITHOUT_COLLECTOR: create, start, state, kill and delete end soon and turn the
    cyclic garbage collector off; `run`, which waits on its container as long as it lives, keeps it."""
    modules_of(runtime, tmp_path, "create", "--bundle", make_bundle(args=["sleep", "infinity"]).path, cid)
    assert collector_of(tmp_path) == "off"
    for args in (("start", cid), ("state", cid), ("kill", cid, "9")):
        modules_of(runtime, tmp_path, *args)
        assert collector_of(tmp_path) == "off", args
    deadline = time.monotonic() + 10
    while runtime.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    modules_of(runtime, tmp_path, "delete", cid)
    assert collector_of(tmp_path) == "off"
    ran = f"{cid}-run"
    USED_IDS.add(ran)  # for the leak check
    modules_of(runtime, tmp_path, "run", "--bundle", make_bundle(args=["true"]).path, ran)
    assert collector_of(tmp_path) == "on"
    assert runtime("state", ran, check=False).returncode != 0  # run deleted it


def classes_of(tmp_path) -> set[str]:
    """The classes pyrunc's modules had defined when the last command of loaders_of ended."""
    return set((tmp_path / "modules.classes").read_text().split())


# Each class statement costs a hot verb 15-25 us cold (pyrunc/errors.py): these are the ones they
# may need (the errors they raise, the store, the container); config.json's ConfigError and the
# init's ChildError are create's.
HOT_CLASSES = {
    "pyrunc.errors.PyruncError",
    "pyrunc.errors.NotFound",
    "pyrunc.store.Store",
    "pyrunc.store.ForeignContainer",
    "pyrunc.store.CorruptState",
    "pyrunc.container.base.Container",
    "pyrunc.jsonio.DecodeError",  # state's: pyrunc/jsonio.py prints the state
}


def test_the_hot_verbs_define_only_the_classes_they_use(runtime, make_bundle, cid, tmp_path):
    modules_of(runtime, tmp_path, "create", "--bundle", make_bundle(args=["sleep", "infinity"]).path, cid)
    assert "pyrunc.config.ConfigError" in classes_of(tmp_path)  # the record sees classes
    for args in (("start", cid), ("state", cid), ("kill", cid, "9")):
        modules_of(runtime, tmp_path, *args)
        assert classes_of(tmp_path) <= HOT_CLASSES, args
    deadline = time.monotonic() + 10
    while runtime.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    modules_of(runtime, tmp_path, "delete", cid)
    assert "pyrunc.container.base.Container" in classes_of(tmp_path) <= HOT_CLASSES


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


def _seccomp_profile() -> dict:
    """oci-bundles/seccomp's profile: Docker's default, as containerd's and dockerd's containers
    have one."""
    import json

    with open(os.path.join(REPO, "oci-bundles", "seccomp", "config.json")) as f:
        return json.load(f)["linux"]["seccomp"]


def test_create_run_and_exec_do_without_os(runtime, make_bundle, cid, tmp_path):
    """`import os` (with _collections_abc and posixpath) is 2 ms of create's time here: create, run
    and exec call posix and pyrunc/paths.py instead, a seccomp profile (compiled, then from the
    cache) included; copy.deepcopy (weakref, _collections_abc) neither."""
    forbidden = {*NOT_OS, "copy", "weakref"}
    sleeping = make_bundle(args=["sleep", "infinity"])
    sleeping.config["linux"]["seccomp"] = _seccomp_profile()
    sleeping.write()
    for attempt in ("compiled", "cached"):
        name = f"{cid}-{attempt}"
        loaded = modules_of(runtime, tmp_path, "create", "--bundle", sleeping.path, name)
        assert "pyrunc.container.create" in loaded
        if attempt == "cached":
            assert loaded & forbidden == set(), attempt
        runtime("start", name)
    loaded = modules_of(runtime, tmp_path, "exec", f"{cid}-cached", "true")
    assert "pyrunc.container.exec" in loaded and loaded & forbidden == set()
    for attempt in ("compiled", "cached"):
        runtime("delete", "--force", f"{cid}-{attempt}")
    loaded = modules_of(runtime, tmp_path, "run", "--bundle", make_bundle(args=["true"]).path, f"{cid}-run")
    assert "pyrunc.container.run" in loaded and loaded & forbidden == set()


def served(loaders: dict[str, str]) -> set[str]:
    """The modules served from the bundle; none was found on sys.path instead."""
    found = {
        name for name, loader in loaders.items() if loader in ("SourceFileLoader", "ExtensionFileLoader")
    }
    assert found == set(), "not from the bundle: add them to pyrunc/launcher.py HOT_MODULES"
    return {name for name, loader in loaders.items() if loader == "bundle"}


def test_the_launcher_serves_every_module_of_the_hot_verbs_and_create_from_its_bundle(
    runtime, make_bundle, cid, tmp_path
):
    """pyrunc/launcher.py HOT_MODULES: whatever these verbs (and exec) import, of pyrunc and of the standard
    library that is neither built in nor frozen, comes from the one file (a module added to their path without
    being added there would be imported as usual, from sys.path)."""
    bundle = str(tmp_path / "hot.bundle")
    write_bundle(bundle, REPO)
    # What `python -m pyrunc.launcher` writes runs these lines, compiled.
    assert serve_text(bundle) in launcher_body(bundle=bundle)
    assert launcher_text(bundle=bundle).endswith(precompiled(launcher_body(bundle=bundle), "launcher_body"))
    created = loaders_of(
        runtime,
        tmp_path,
        "create",
        "--bundle",
        make_bundle(args=["sleep", "infinity"]).path,
        cid,
        bundle=bundle,
    )
    assert {"pyrunc.container.create", "pyrunc._core", "struct"} <= served(created)
    for args in (("state", cid), ("start", cid), ("exec", cid, "true"), ("kill", cid, "9")):
        loaders = loaders_of(runtime, tmp_path, *args, bundle=bundle)
        assert {"pyrunc.main", "pyrunc.commands"} <= served(loaders)
        if args[0] == "exec":
            assert "pyrunc.container.exec" in served(loaders)
    deadline = time.monotonic() + 10
    while runtime.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "pyrunc.container.delete" in served(loaders_of(runtime, tmp_path, "delete", cid, bundle=bundle))
    assert runtime("state", cid, check=False).returncode != 0


def _serve_and_import(bundle: str, top: str) -> list[str]:
    """A fresh interpreter that serves `bundle` as the launcher does and imports hotpkg.mod from
    `top`: [its VALUE, its loader's class name, whether `bundle` is still open]."""
    script = (
        f"import sys\nsys.path.insert(0, {top!r})\n{serve_text(bundle)}"
        "import hotpkg.mod, posix\n"
        "open_files = []\n"
        "for fd in posix.listdir('/proc/self/fd'):\n"
        "    try:\n"
        "        open_files.append(posix.readlink(f'/proc/self/fd/{fd}'))\n"
        "    except OSError:\n"
        "        pass  # listdir's own\n"
        "served = hotpkg.mod.__spec__.loader_state == 'bundle'\n"
        "loader = 'bundle' if served else type(hotpkg.mod.__loader__).__name__\n"
        "import importlib.util\n"
        "assert hotpkg.mod.__cached__ == importlib.util.cache_from_source(hotpkg.mod.__file__)\n"
        "assert hotpkg.__path__ == [sys.path[0] + '/hotpkg'], hotpkg.__path__\n"
        "print(hotpkg.mod.VALUE, loader, sys.argv[1] in open_files)\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, bundle], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_module_whose_source_changed_is_not_served_from_the_bundle(tmp_path):
    """The bundle records each source's size and mtime: an edited module (even to the same size)
    is imported from its source, the others still from the bundle; a bundle of another Python
    version (its magic number) or a damaged one is not used at all."""
    package = tmp_path / "hotpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    mod = package / "mod.py"
    mod.write_text("VALUE = 1\n")
    bundle = str(tmp_path / "hot.bundle")
    write_bundle(bundle, str(tmp_path), ("hotpkg", "hotpkg.mod"))
    assert _serve_and_import(bundle, str(tmp_path)) == ["1", "bundle", "True"]

    stat = mod.stat()
    mod.write_text("VALUE = 2\n")  # same size
    os.utime(mod, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert _serve_and_import(bundle, str(tmp_path)) == ["2", "SourceFileLoader", "True"]
    mod.write_text("VALUE = 33\n")
    os.utime(mod, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime, another size
    assert _serve_and_import(bundle, str(tmp_path)) == ["33", "SourceFileLoader", "True"]

    write_bundle(bundle, str(tmp_path), ("hotpkg", "hotpkg.mod"))
    assert _serve_and_import(bundle, str(tmp_path)) == ["33", "bundle", "True"]
    path = tmp_path / "hot.bundle"
    data = path.read_bytes()
    path.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # another Python's magic number
    assert _serve_and_import(bundle, str(tmp_path)) == ["33", "SourceFileLoader", "False"]
    path.write_bytes(data[:100])  # cut short
    assert _serve_and_import(bundle, str(tmp_path)) == ["33", "SourceFileLoader", "False"]
    path.write_bytes(b"")
    assert _serve_and_import(bundle, str(tmp_path)) == ["33", "SourceFileLoader", "False"]
    os.unlink(bundle)
    assert _serve_and_import(bundle, str(tmp_path)) == ["33", "SourceFileLoader", "False"]


def test_the_import_statement_takes_bundled_modules_without_importlib(tmp_path):
    """serve_hot_modules' own import for the statement: a bundled module is made and run without
    importlib's machinery (-X importtime, which times importlib's, does not list it), with the
    attributes importlib gives; `from package import module` takes the submodule from the bundle
    too; a module that raises is not left half-made in sys.modules; a bundled extension module is
    loaded as its loader would, with its attributes, not through importlib either, and so is a
    built-in one; a module outside the bundle still comes through importlib."""
    package = tmp_path / "hotpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("VALUE = 1\n")
    (package / "uses.py").write_text("from hotpkg import mod\nDOUBLE = mod.VALUE * 2\n")
    (package / "bad.py").write_text("raise ValueError('bad module')\n")
    (package / "outside.py").write_text("")
    bundle = str(tmp_path / "hot.bundle")
    modules = ("hotpkg", "hotpkg.mod", "hotpkg.uses", "hotpkg.bad", "_json", "fcntl")
    write_bundle(bundle, str(tmp_path), modules)
    script = (
        f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\n{serve_text(bundle)}"
        "import hotpkg.uses, importlib.util\n"
        "from hotpkg import mod\n"
        "assert hotpkg.uses.DOUBLE == 2 and hotpkg.mod is mod is sys.modules['hotpkg.mod']\n"
        "assert mod.__spec__.loader_state == 'bundle' and mod.__loader__ is mod.__spec__.loader\n"
        "assert mod.__file__ == mod.__spec__.origin and mod.__package__ == 'hotpkg'\n"
        "assert mod.__cached__ == importlib.util.cache_from_source(mod.__file__)\n"
        "assert hotpkg.__package__ == 'hotpkg' and hotpkg.__path__ == [sys.path[0] + '/hotpkg']\n"
        "for attempt in (1, 2):\n"
        "    try:\n"
        "        import hotpkg.bad\n"
        "    except ValueError as err:\n"
        "        assert str(err) == 'bad module' and 'hotpkg.bad' not in sys.modules\n"
        "    else:\n"
        "        raise AssertionError('hotpkg.bad imported')\n"
        "import hotpkg.outside, _json\n"
        "assert hotpkg.outside.__spec__.loader_state != 'bundle'\n"
        "assert _json.__spec__.loader_state == 'bundle' and _json.__file__ == _json.__spec__.origin\n"
        "assert type(_json.__loader__).__name__ == 'ExtensionFileLoader' and _json.__package__ == ''\n"
        "assert _json.encode_basestring_ascii('x') == '\"x\"'\n"
        "import fcntl\n"
        "assert fcntl.__spec__.loader_state == 'bundle' and fcntl.__spec__.origin == 'built-in'\n"
        "assert fcntl.__loader__ is sys.modules['_frozen_importlib'].BuiltinImporter\n"
        "assert fcntl.__package__ == '' and not hasattr(fcntl, '__file__') and fcntl.LOCK_EX == 2\n"
        "print('ok')\n"
    )
    argv = [sys.executable, "-I", "-S", "-X", "importtime", "-c", script]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
    timed = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "hotpkg.outside" in timed  # through importlib
    assert not set(modules) & timed, sorted(timed)


def test_the_bundle_compiles_pyrunc_s_modules_without_docstrings_and_evaluated_annotations(tmp_path):
    """compile_own_module, for the modules under the package root: each def's annotations are kept
    as strings (not evaluated: a name that does not exist is no error), the docstrings are gone
    (a module's own `from __future__` import, first after its docstring, still compiles), asserts
    stay, and a traceback names the source's own lines; a module of the standard library in the
    same bundle is compiled as it is."""
    package = tmp_path / "hotpkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""The package."""\n')
    (package / "future.py").write_text('"""The module."""\nfrom __future__ import annotations\n')
    (package / "mod.py").write_text(
        '"""The module."""\n'
        "import sys\n"
        "\n"
        "def only_a_docstring(x: Undefined) -> None | int:\n"
        '    """Its docstring."""\n'
        "\n"
        "class Thing:\n"
        '    """Its docstring."""\n'
        "    def method(self, flag: bool = True) -> str:\n"
        '        """Its docstring."""\n'
        "        assert flag, 'asserted'\n"
        "        raise ValueError('line 12')\n"
    )
    bundle = str(tmp_path / "hot.bundle")
    write_bundle(bundle, str(tmp_path), ("hotpkg", "hotpkg.mod", "hotpkg.future", "copy"))
    script = (
        f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\n{serve_text(bundle)}"
        "import hotpkg.mod as mod, hotpkg.future as future, copy\n"
        "assert mod.__spec__.loader_state == copy.__spec__.loader_state == 'bundle'\n"
        "assert future.__spec__.loader_state == 'bundle' and future.__doc__ is None\n"
        "assert mod.__doc__ is None and sys.modules['hotpkg'].__doc__ is None and mod.Thing.__doc__ is None\n"
        "assert mod.only_a_docstring.__doc__ is None and mod.only_a_docstring(1) is None\n"
        "assert mod.only_a_docstring.__annotations__ == {'x': 'Undefined', 'return': 'None | int'}\n"
        "assert mod.Thing.method.__annotations__ == {'flag': 'bool', 'return': 'str'}\n"
        "assert copy.__doc__ and copy.deepcopy.__doc__\n"
        "try:\n"
        "    mod.Thing().method(False)\n"
        "except AssertionError as err:\n"
        "    assert str(err) == 'asserted' and err.__traceback__.tb_next.tb_lineno == 11\n"
        "try:\n"
        "    mod.Thing().method()\n"
        "except ValueError as err:\n"
        "    assert err.__traceback__.tb_next.tb_lineno == 12\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
