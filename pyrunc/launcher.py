"""The `pyrunc` command: how the interpreter is started for every runtime command.

`site` processes every .pth file of the environment (setuptools' distutils hook, the editable-install
finder) and pip's console-script wrapper imports `re`, before pyrunc runs a line: about twice the cost
of the bare interpreter, paid by every command containerd issues. The launchers below start the
interpreter with -I -S instead and put on sys.path only where pyrunc and its dependencies live. -I also
ignores PYTHON* variables and the user's site, which a runtime started by daemons should not depend on.

- `launcher_text()`: for a checkout installed in place (`pip install -e .`), whose package root is not
  in site-packages; tools/install writes .venv/bin/pyrunc with it:
      python -m pyrunc.launcher PATH
- `pyrunc` as a wheel (or `pip install .`, or an sdist) installs it: pip rewrites only a `#!python`
  first line and drops its arguments, so it is a static program (pyrunc/csrc/command.c) that execs
  the interpreter beside it with -I -S on pyrunc/_wheel_command.py (`wheel_command_text()`).
- `script_text()`: containerd's shim as a wheel installs it: a script that starts as sh, which execs
  the interpreter beside it with -I -S on the same file; Python reads the sh part as a string.

The first two serve the modules of the hot verbs and of create from one file (the bundle:
write_bundle, serve_hot_modules), in place of a search of sys.path and a .pyc per module. The first's
is written with it; the wheel's is an empty file in the wheel, written by the first command that may
(write_installed_bundle), as a .pyc is.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # mypy takes it as true
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any


def launcher_text(entry: str = "pyrunc.main", bundle: str | None = None) -> str:
    """`bundle`: a file of write_bundle's whose modules the command imports from it. The script is
    its first line and one statement: launcher_body's lines, compiled (precompiled)."""
    return (
        f"#!{sys.executable} -IS\n"
        "# Written by `python -m pyrunc.launcher`: pyrunc without site (see pyrunc/launcher.py).\n"
        f"{precompiled(launcher_body(entry, bundle), 'launcher_body')}"
    )


def launcher_body(entry: str = "pyrunc.main", bundle: str | None = None) -> str:
    """What launcher_text's script runs: this checkout and its site-packages on sys.path, the hot
    modules from `bundle`, then `entry`'s main()."""
    import sysconfig

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    site_packages = sysconfig.get_paths()["purelib"]
    paths = [package_root] + ([site_packages] if site_packages != package_root else [])
    return (
        "import sys\n"
        # After the standard library, as `site` would place them: stdlib imports then never
        # search these directories first.
        f"sys.path += {paths!r}\n"
        f"{serve_text(bundle) if bundle else ''}"
        f"from {entry} import main\n"
        "main()\n"
    )


def serve_text(bundle: str) -> str:
    """The lines that import the hot modules from `bundle` (see serve_hot_modules), as source."""
    return f"_bundle_file = {bundle!r}\n{serve_lines()}"


def precompiled(lines: str, name: str) -> str:
    """A statement that runs `lines`, compiled now by this interpreter (the one the command starts:
    the launcher's first line, or the wheel's, whose tag names its Python). The interpreter
    compiles a script on every run (a script has no .pyc), and a constant costs its compiler
    nothing: serve_lines' sixteen lines as source cost every command 0.15 ms (`pyrunc state`, 800
    paired runs against them), and the six lines around them 0.07-0.1 ms more (4 x 500 paired
    runs; the code they run is the same). `name`: the function of this file that wrote `lines`,
    for tracebacks."""
    import marshal

    code = compile(lines, f"<pyrunc/launcher.py {name}>", "exec", dont_inherit=True)
    return f"exec(__import__('marshal').loads({marshal.dumps(code)!r}))  # {name}(), compiled\n"


def serve_lines(unwritten: str = "") -> str:
    """serve_text's lines for the path in `_bundle_file`; `unwritten` runs when the file is there
    but empty (the wheel's placeholder, see wheel_command_text)."""
    return (
        "try:  # pyrunc's hot modules from one file (serve_hot_modules in pyrunc/launcher.py)\n"
        "    import posix\n"
        "    _bundle = posix.open(_bundle_file, posix.O_RDONLY | posix.O_CLOEXEC)\n"
        "except OSError:\n"
        "    pass\n"
        "else:\n"
        "    _head = None\n"
        "    try:\n"
        "        _head = posix.read(_bundle, 8)\n"
        "        if _head[:4] != sys.modules['_frozen_importlib_external'].MAGIC_NUMBER:\n"
        "            raise ValueError('another Python version, or not written yet')\n"
        "        _size = int.from_bytes(_head[4:], 'little')\n"
        "        _serve = __import__('marshal').loads(posix.read(_bundle, _size))\n"
        "        exec(_serve, {'sys': sys, 'bundle': _bundle})\n"
        "    except (OSError, ValueError, EOFError, TypeError):\n"
        "        posix.close(_bundle)\n"
        f"{unwritten}"
    )


# The modules of the hot verbs (state, start, kill, delete) and of create, which every container
# pays for (issue 15): the launcher serves them from one file, the bundle, written beside their
# bytecode (pyrunc/__pycache__/hot.<tag>.bundle) when the launcher is. Importing them one by one,
# importlib walks sys.path's finders, stats, opens, reads and validates each module's .pyc: about
# 0.1 ms a module, more than `pyrunc state` does itself. tests/integration/test_cli_imports.py checks
# that every module the hot verbs and create load from sys.path is in this list (none is found there),
# and that a changed source is not served.
HOT_MODULES = (
    # The standard library's that are not frozen (os, stat, posixpath are, and their importer is
    # first): found and loaded as sys.path would, or made as the built-in ones are (the
    # interpreter's own list decides which are, when the bundle is written).
    "errno",
    "gc",
    "fcntl",
    "select",
    "itertools",
    "_stat",
    "_struct",
    "_json",
    "struct",
    "__future__",
    "copy",
    "copyreg",
    "types",
    "weakref",
    "_weakrefset",
    "pyrunc",
    "pyrunc._core",
    "pyrunc.main",
    "pyrunc._cli_table",
    "pyrunc.fastcli",
    "pyrunc.commands",
    "pyrunc.commands.launch",
    "pyrunc.log",
    "pyrunc.errors",
    "pyrunc.jsonio",
    "pyrunc.paths",
    "pyrunc.store",
    "pyrunc.linux",
    "pyrunc.signals",
    "pyrunc.freezer",
    "pyrunc.rootless",
    "pyrunc.container",
    "pyrunc.container.base",
    "pyrunc.container.query",
    "pyrunc.container.start",
    "pyrunc.container.kill",
    "pyrunc.container.delete",
    "pyrunc.cgroups",
    "pyrunc.cgroups._fs",
    "pyrunc.cgroups.stored",
    "pyrunc.cgroups.manager",
    "pyrunc.cgroups.v1",
    "pyrunc.cgroups.v2",
    # create's
    "pyrunc.store_write",
    "pyrunc.container.create",
    "pyrunc.container.launch",
    "pyrunc.container.stdio",
    "pyrunc.config",
    "pyrunc.config._fastcheck",
    "pyrunc.config.load",
    "pyrunc.config.semantic",
    "pyrunc.config.validate",
    "pyrunc.plan",
    "pyrunc.hooks",
    "pyrunc.lsm",
    "pyrunc.mounts",
    "pyrunc.mountinfo",
    "pyrunc.cpulist",
    "pyrunc.cgroups.devices",
    "pyrunc.cgroups.discovery",
    "pyrunc.cgroups.mount_plan",
    "pyrunc.cgroups.resources",
    "pyrunc.cgroups.resources.common",
    "pyrunc.cgroups.resources.transaction",
    "pyrunc.cgroups.resources.v1",
    "pyrunc.cgroups.resources.v2",
    "pyrunc.cgroups.resources.values",
    # create's with a seccomp profile (containerd's and docker's configs have one)
    "pyrunc._seccomp",
    "pyrunc.seccomp",
    "pyrunc.seccomp.cache",
    "pyrunc.seccomp.enosys",
    "pyrunc.seccomp.profile",
    # run's and exec's (exec: every probe of a kubelet)
    "pyrunc.container.run",
    "pyrunc.container.exec",
)


def bundle_path(package_root: str) -> str:
    """Where the bundle of `package_root`'s pyrunc is written for this interpreter: with the
    bytecode, tagged as a .pyc is (another Python version has its own, or none)."""
    return os.path.join(package_root, "pyrunc", "__pycache__", f"hot.{sys.implementation.cache_tag}.bundle")


def write_bundle(
    path: str, package_root: str, modules: tuple[str, ...] = HOT_MODULES, in_process: bool = False
) -> None:
    """The bundle: importlib's MAGIC_NUMBER (4 bytes), the length of the header (4 bytes,
    little-endian), the header: the code of serve_hot_modules and its call with the index, then
    each module's code object, marshalled, at its offset. Each module is found as the command's
    interpreter would find it (-I -S, `package_root` after the standard library; `in_process`: this
    process is that interpreter, started by the command) and compiled from its source as it is
    now; an extension module (a .so) is recorded by its path, a built-in one by its name; a frozen
    module (served by the interpreter's own importer first), or one not found (not generated
    here), is left out.
    Only a file's size and mtime are checked when it is served: a new file that would shadow a
    bundled one on sys.path (a package directory or a .so of the same name beside it) is not
    noticed until the bundle is written again. The modules found under `package_root` (pyrunc's
    own) are compiled by compile_own_module."""
    import __future__

    import inspect
    import marshal
    from importlib.machinery import ExtensionFileLoader, PathFinder, SourceFileLoader
    from importlib.util import MAGIC_NUMBER, cache_from_source

    paths, built_in, frozen = _own_view(modules) if in_process else _interpreter_view(modules)
    search = {"": [*paths, package_root]}
    entries: list[tuple[str, str, str | None, int, int, str, bytes]] = []
    for name in modules:
        parent = name.rpartition(".")[0]
        if name in built_in:
            entries.append((name, "built-in", None, 0, 0, "built-in", b""))
            continue
        if name in frozen or parent not in search:
            continue
        spec = PathFinder.find_spec(name, search[parent])
        if spec is None or spec.origin is None:
            continue
        if spec.submodule_search_locations is not None:
            search[name] = list(spec.submodule_search_locations)
        st = os.stat(spec.origin)
        if isinstance(spec.loader, ExtensionFileLoader):
            entries.append((name, spec.origin, None, st.st_mtime_ns, st.st_size, "extension", b""))
        elif isinstance(spec.loader, SourceFileLoader):
            with open(spec.origin, "rb") as f:
                text = f.read()
            if os.stat(spec.origin).st_mtime_ns != st.st_mtime_ns:
                raise RuntimeError(f"{spec.origin} changed while the bundle was written: write it again")
            if spec.origin.startswith(os.path.join(package_root, "")):
                code = marshal.dumps(compile_own_module(text, spec.origin))
            else:
                # dont_inherit: none of this module's own __future__ flags in the code compiled here.
                code = marshal.dumps(compile(text, spec.origin, "exec", dont_inherit=True))
            kind = "package" if name in search else "module"
            entries.append(
                (name, spec.origin, cache_from_source(spec.origin), st.st_mtime_ns, st.st_size, kind, code)
            )

    def header(start: int) -> bytes:
        index, offset = {}, start
        for name, origin, cached, mtime_ns, size, kind, code in entries:
            index[name] = (origin, cached, mtime_ns, size, kind, offset, len(code))
            offset += len(code)
        lines, first = inspect.getsourcelines(serve_hot_modules)
        # At its own line numbers in this file (for tracebacks), its annotations left unevaluated.
        text = "\n" * (first - 1) + "".join(lines) + f"\nserve_hot_modules(bundle, {index!r})\n"
        flags = __future__.annotations.compiler_flag
        # optimize=2: without its docstring (only the modules' code keeps theirs).
        return marshal.dumps(compile(text, __file__, "exec", flags=flags, dont_inherit=True, optimize=2))

    # The header holds the offsets, which depend on its length: until the two agree.
    head = header(8)
    for _ in range(16):
        again = header(8 + len(head))
        if len(again) == len(head):
            break
        head = again
    else:
        raise RuntimeError(f"{path}: the bundle's header does not settle to one length")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    # 0644 whatever the umask (a daemon's may be 0): code every later command runs.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    with open(fd, "wb") as out:
        os.fchmod(fd, 0o644)
        out.write(MAGIC_NUMBER + len(again).to_bytes(4, "little") + again + b"".join(e[-1] for e in entries))
    os.replace(tmp, path)


def compile_own_module(source: bytes, origin: str) -> CodeType:
    """One of pyrunc's modules for the bundle, compiled as `from __future__ import annotations`
    would compile it (each def keeps its annotations as strings instead of evaluating them, the
    `X | None` unions included), and without its docstrings (each statement keeps its line, so
    tracebacks show the source's line numbers; asserts stay, unlike -OO). Nothing pyrunc runs
    reads an annotation or a __doc__ (click's help comes from pyrunc/cli.py, which is not bundled).
    Measured in `pyrunc state` (callgrind): 0.25 M instructions fewer, about 0.1-0.15 ms.
    The source itself does not say `from __future__ import annotations`: that statement imports
    the __future__ module at run time, which costs as much again."""
    import __future__

    import ast

    flags = __future__.annotations.compiler_flag
    tree = compile(source, origin, "exec", flags=flags | ast.PyCF_ONLY_AST, dont_inherit=True)
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, scopes) and ast.get_docstring(node, clean=False) is not None:
            docstring = node.body.pop(0)
            if not node.body and not isinstance(node, ast.Module):
                node.body.append(ast.copy_location(ast.Pass(), docstring))
    return compile(tree, origin, "exec", flags=flags, dont_inherit=True)


def _interpreter_view(modules: tuple[str, ...]) -> tuple[list[str], set[str], set[str]]:
    """The command's interpreter (-I -S): its sys.path, and which of `modules` it has built in, and
    which frozen (those its own importers serve before any path is searched)."""
    import subprocess

    probe = (
        "import sys, _imp\n"
        "print(*sys.path, sep=chr(0))\n"
        "print(*[n for n in sys.argv[1:] if n in sys.builtin_module_names])\n"
        "print(*[n for n in sys.argv[1:] if _imp.is_frozen(n)])\n"
    )
    where = [sys.executable, "-I", "-S", "-c", probe, *modules]
    paths, built_in, frozen = subprocess.run(where, capture_output=True, text=True, check=True).stdout.split(
        "\n"
    )[:3]
    return paths.split("\0"), set(built_in.split()), set(frozen.split())


def _own_view(modules: tuple[str, ...]) -> tuple[list[str], set[str], set[str]]:
    """_interpreter_view's answer from this process, when it is the command's interpreter."""
    import _imp

    built_in = {n for n in modules if n in sys.builtin_module_names}
    return list(sys.path), built_in, {n for n in modules if _imp.is_frozen(n)}


def write_installed_bundle(path: str, package_root: str) -> None:
    """The bundle of a wheel's install, written by the first command that finds the wheel's empty
    placeholder at `path` and may write there, as the interpreter writes a .pyc on first import (pip
    runs nothing of ours at install; the placeholder is in the wheel's RECORD, so an upgrade or an
    uninstall replaces or removes what is written here). It is a cache: if it cannot be written,
    the command runs as it would have, its modules imported one by one."""
    try:
        write_bundle(path, package_root, in_process=True)
    except Exception:  # any failure leaves the placeholder, and nothing else
        try:
            os.unlink(f"{path}.tmp{os.getpid()}")
        except OSError:
            pass


def serve_hot_modules(bundle: int, index: dict[str, tuple[str, str | None, int, int, str, int, int]]) -> None:
    """Import the modules of `index` {name: (file, __cached__, the file's st_mtime_ns and size,
    "module", "package", "extension" or "built-in", offset, length)} from `bundle` (an fd, kept
    open), each read and unmarshalled when imported (an extension loaded from its recorded file, a
    built-in module made by the interpreter, both as their importers would, without importlib's
    steps around them): one open for all of them, no search of sys.path, no .pyc to stat, open and
    validate. Runs from the bundle's header (pyrunc is not importable before it runs), so it uses
    only what the interpreter has loaded at start, and defines no class (each costs more than a
    module's import here). A module whose file no longer has the size and mtime recorded (edited,
    reinstalled, removed) is imported as usual, as is everything when the bundle is absent,
    unreadable or from another Python version: never stale code."""
    import marshal
    import posix

    external = sys.modules["_frozen_importlib_external"]
    ModuleSpec = sys.modules["_frozen_importlib"].ModuleSpec
    BuiltinImporter = sys.modules["_frozen_importlib"].BuiltinImporter

    def find_spec(fullname: str, path: object = None, target: object = None) -> object:
        entry = index.get(fullname)
        if entry is None:
            return None
        origin, cached, mtime_ns, size, kind, offset, length = entry
        if kind == "built-in":
            spec = ModuleSpec(fullname, BuiltinImporter, origin=origin)
            spec.loader_state = "bundle"  # for the tests: served from here
            return spec
        try:
            st = posix.stat(origin)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None
        if kind == "extension":
            spec = ModuleSpec(fullname, external.ExtensionFileLoader(fullname, origin), origin=origin)
        else:
            # importlib's own loader for the file (get_source, get_data, ... as usual), its code
            # from here: exec_module calls self.get_code, found on the instance first.
            loader = external.SourceFileLoader(fullname, origin)
            loader.get_code = lambda name: marshal.loads(posix.pread(bundle, length, offset))
            spec = ModuleSpec(fullname, loader, origin=origin)
            spec.cached = cached
        spec.has_location = True
        spec.loader_state = "bundle"  # for the tests: served from here
        if kind == "package":
            spec.submodule_search_locations = [origin.rpartition("/")[0]]
        return spec

    finder = type(sys)("pyrunc's hot modules")  # a module: an object to hold find_spec, no class
    finder.find_spec = find_spec  # type: ignore[attr-defined]
    # Where sys.path's own finder is: built-in and frozen modules are served first, as always.
    sys.meta_path.insert(sys.meta_path.index(external.PathFinder), finder)

    # The import statement's own way in, for the bundle's source modules: importlib's machinery
    # (module locks, three finders asked in turn, a dozen attribute checks) costs more per module
    # than unmarshalling and running it, 20-110 us against 10-90 (measured in `pyrunc state`).
    # A bundled module the statement names is made here as importlib would make it (the same spec,
    # loader and attributes) and run, an extension module loaded as its loader would; importlib then
    # finds it in sys.modules and does the rest (a `from` list, what `import a.b` returns). Everything
    # else -- modules not in the bundle or changed since, importlib.import_module -- goes through
    # importlib as before.
    # The command runs on one thread (the shim, which has threads, has no bundle).
    import builtins
    from _imp import create_builtin, create_dynamic, exec_builtin, exec_dynamic

    modules = sys.modules
    importer = builtins.__import__

    def load(fullname: str) -> bool:
        spec: Any = find_spec(fullname)
        if spec is None:
            return False
        parent, _, child = fullname.rpartition(".")
        kind = index[fullname][4]
        if kind in ("extension", "built-in"):
            # What ExtensionFileLoader (dlopen and the module's init) or BuiltinImporter does,
            # without importlib's steps around it: 80 us of _json's 250 here, 30 of fcntl's 60.
            extension = kind == "extension"
            module = create_dynamic(spec) if extension else create_builtin(spec)
            attributes = [("__spec__", spec), ("__loader__", spec.loader)]
            if extension:
                attributes.append(("__file__", spec.origin))
            for name, value in attributes:
                if getattr(module, name, None) is None:
                    setattr(module, name, value)
            if getattr(module, "__package__", None) is None:
                module.__package__ = parent
            modules[fullname] = module
            try:
                if extension:
                    exec_dynamic(module)
                else:
                    exec_builtin(module)
            except BaseException:
                modules.pop(fullname, None)
                raise
        else:
            module = type(sys)(fullname)
            names = vars(module)
            names.update(__spec__=spec, __loader__=spec.loader, __file__=spec.origin, __cached__=spec.cached)
            if spec.submodule_search_locations is not None:
                names.update(__path__=spec.submodule_search_locations, __package__=fullname)
            else:
                names["__package__"] = parent
            modules[fullname] = module
            try:
                exec(spec.loader.get_code(fullname), module.__dict__)
            except BaseException:
                modules.pop(fullname, None)
                raise
        if parent:
            setattr(modules[parent], child, modules[fullname])
        return True

    def fast_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0:
            if name not in modules:
                part = ""
                for word in name.split("."):
                    part = f"{part}.{word}" if part else word
                    if part not in modules and (part not in index or not load(part)):
                        break
            if fromlist and name in index:
                package = modules.get(name)
                if package is not None and hasattr(package, "__path__"):
                    for item in fromlist:
                        sub = f"{name}.{item}"
                        if sub in index and sub not in modules:
                            load(sub)
        return importer(name, globals, locals, fromlist, level)

    builtins.__import__ = fast_import


# containerd's shim as a wheel installs it (`pyrunc` itself is a static program instead,
# pyrunc/csrc/command.c, which saves sh's start on every command, and runs wheel_command_text's
# file). sh: the interpreter beside the script (a venv's bin/), else beside the file a symlink names
# (a `ln -s .venv/bin/... /usr/local/bin/`), else python3 with site (slow, but right). Python: the
# site-packages of that interpreter's prefix, found from the script's own place as pip lays it out
# (PREFIX/bin/..., PREFIX/lib/pythonX.Y/site-packages); if pyrunc is not there, start again with site.
# Where pip puts packages under PREFIX, in the order they are tried: pyrunc/csrc/command.c's SITES
# has the same (tests/integration/test_install.py holds them together).
SITE_DIRS = (
    "lib/{python}/site-packages",
    "lib64/{python}/site-packages",
    "lib/{python}/dist-packages",
    "lib64/{python}/dist-packages",
)
SCRIPT = """#!/bin/sh
''':'
# containerd's shim as pip installs it: see pyrunc/launcher.py (sh runs this part, Python skips it).
[ -x "${0%/*}/python3" ] && exec "${0%/*}/python3" -I -S "$0" "$@"
p=$(readlink -f -- "$0")
[ -x "${p%/*}/python3" ] && exec "${p%/*}/python3" -I -S "$p" "$@"
exec python3 "$0" "$@"
'''
import sys


def site_packages():
    import os

    prefix = os.path.dirname(os.path.dirname(os.path.realpath(sys.argv[0])))
    python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for site in SITE_DIRS:
        path = os.path.join(prefix, site.format(python=python))
        if os.path.exists(os.path.join(path, "pyrunc", "main.py")):
            return path
    return None


if sys.flags.no_site:
    path = site_packages()
    if path is None:
        os = sys.modules.get("os") or __import__("os")
        os.execv(sys.executable, [sys.executable, sys.argv[0], *sys.argv[1:]])
    sys.path.append(path)
from pyrunc.shim.main import main

main()
"""
# The wheel's placeholder (empty) is written once, by a command that may write its directory.
WRITE_PLACEHOLDER = (
    "        if _head == b'' and posix.access(_bundle_file.rpartition('/')[0], posix.W_OK):\n"
    "            __import__('pyrunc.launcher').launcher.write_installed_bundle(_bundle_file, path)\n"
)


def script_text() -> str:
    """The wheel's script for containerd's shim (no bundle: the shim has threads, which
    serve_hot_modules' import does not allow for)."""
    return SCRIPT.replace("import sys\n", f"import sys\n\nSITE_DIRS = {SITE_DIRS!r}\n", 1)


def wheel_command_text() -> str:
    """pyrunc/_wheel_command.py, written into the wheel by setup.py: what the wheel's `pyrunc`
    (pyrunc/csrc/command.c) runs with -I -S, as PREFIX/.../site-packages/pyrunc/_wheel_command.py:
    wheel_command_body compiled (precompiled)."""
    return (
        "# GENERATED by setup.py from pyrunc/launcher.py wheel_command_text: the wheel's `pyrunc`.\n"
        f"{precompiled(wheel_command_body(), 'wheel_command_body')}"
    )


def wheel_command_body() -> str:
    """Its site-packages on sys.path, the hot modules from the bundle (the wheel holds an empty
    one, written by the first command that may: write_installed_bundle), then the command."""
    return (
        "import sys\n"
        "path = sys.argv[0].rpartition('/')[0].rpartition('/')[0]\n"
        "sys.path.append(path)\n"
        "_bundle_file = path + '/pyrunc/__pycache__/hot.' + sys.implementation.cache_tag + '.bundle'\n"
        f"{serve_lines(WRITE_PLACEHOLDER)}"
        "from pyrunc.main import main\n"
        "main()\n"
    )


def write(path: str, text: str | None = None, entry: str = "pyrunc.main") -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text(entry) if text is None else text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


SHIM = "containerd-shim-pyrunc-v1"


if __name__ == "__main__":
    # python -m pyrunc.launcher PATH [MODULE]: MODULE's main() (default pyrunc.main). Writing the
    # `pyrunc` command also writes containerd's shim beside it (entry pyrunc.shim.main): an editable
    # install's `pip install -e` leaves both as the wheel's scripts, which find no package in
    # site-packages and start again with `site`.
    if len(sys.argv) == 2:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        bundle = bundle_path(root)
        write_bundle(bundle, root)
        write(sys.argv[1], launcher_text(bundle=bundle))
        write(os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), SHIM), entry="pyrunc.shim.main")
    else:
        write(sys.argv[1], entry=sys.argv[2])
