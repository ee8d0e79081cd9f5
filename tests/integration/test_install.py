"""However pyrunc is installed, the `pyrunc` command starts the interpreter with -I -S: no `site`,
no .pth hook, no `re` (pyrunc/launcher.py). A wheel is built from this checkout (as pip does for
`pip install .` and for an sdist), installed into a fresh venv, and its command traced."""

import glob
import os
import shutil
import stat
import subprocess
import sys

import pytest

from tests.support import REPO

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    wheels = tmp_path_factory.mktemp("wheel") / "dist"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), REPO], check=True, capture_output=True)
    (built,) = wheels.glob("pyrunc-*.whl")
    return str(built)


def install(wheel: str, top) -> str:
    """A fresh venv with the wheel installed; the path of its `pyrunc` command."""
    venv = top / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "-q", "--disable-pip-version-check", "install", wheel],
        check=True,
        capture_output=True,
    )
    return str(venv / "bin/pyrunc")


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> str:
    """The installed command, once run: its first command writes the bundle of hot modules
    (test_the_installed_command_writes_its_bundle_once...), the others are as timed."""
    command = install(wheel, tmp_path_factory.mktemp("installed"))
    subprocess.run([command, "--version"], check=True, capture_output=True)
    return command


def traced(command: list[str], tmp_path) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "strace.txt"
    done = subprocess.run(
        ["strace", "-f", "-qq", "-s", "300", "-e", "trace=execve,openat", "-o", str(log), *command],
        capture_output=True,
        text=True,
    )
    return done, log.read_text()


def assert_fast_start(trace: str, venv_python: str) -> None:
    interpreters = [line for line in trace.splitlines() if "execve(" in line and "python" in line]
    assert interpreters, trace
    assert all('"-I", "-S"' in line for line in interpreters), interpreters
    assert venv_python in interpreters[0], interpreters
    opened = [line for line in trace.splitlines() if "openat(" in line and "ENOENT" not in line]
    assert not [line for line in opened if ".pth" in line or "/site.py" in line], opened
    assert not [line for line in opened if "/re/" in line], opened


def test_the_installed_command_skips_site(installed, tmp_path):
    done, trace = traced([installed, "--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pyrunc version ")
    assert_fast_start(trace, os.path.join(os.path.dirname(installed), "python3"))
    # A program (pyrunc/csrc/command.c), not a script: no shell started in between.
    with open(installed, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    execs = [line for line in trace.splitlines() if "execve(" in line]
    assert len(execs) == 2 and "_wheel_command.py" in execs[1], execs
    # A real command runs from the wheel's files, not from this checkout.
    done, trace = traced([installed, "--root", str(tmp_path / "root"), "state", "nosuch"], tmp_path)
    assert done.returncode == 1
    assert "does not exist" in done.stderr
    assert os.path.join(REPO, "pyrunc") not in trace
    assert "site-packages/pyrunc/" in trace


def test_a_symlink_to_the_installed_command_is_fast_too(installed, tmp_path):
    link = tmp_path / "bin" / "runc"  # podman knows runtimes by basename: pyrunc installed as runc
    link.parent.mkdir()
    link.symlink_to(installed)
    done, trace = traced([str(link), "--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert_fast_start(trace, os.path.join(os.path.dirname(installed), "python3"))


def test_the_installed_command_moved_elsewhere_finds_pyrunc_through_python3_on_path(installed, tmp_path):
    """Not where pip put it (no python3 beside it, no site-packages above it), the command leaves
    the finding to python3 on PATH, with site, as for any package."""
    moved = tmp_path / "elsewhere" / "pyrunc"
    moved.parent.mkdir()
    shutil.copy2(installed, moved)
    on_path = tmp_path / "path"
    on_path.mkdir()
    (on_path / "python3").symlink_to(os.path.join(os.path.dirname(installed), "python3"))
    done = subprocess.run(
        [str(moved), "--root", str(tmp_path / "root"), "state", "nosuch"],
        capture_output=True,
        text=True,
        env={"PATH": str(on_path)},
    )
    assert done.returncode == 1 and "container 'nosuch' does not exist" in done.stderr, done.stderr


@pytest.mark.skipif(not shutil.which("readelf"), reason="readelf (binutils) is not installed")
def test_the_command_and_the_shims_script_look_for_pyrunc_in_the_same_places():
    """pip's layout under PREFIX is written twice, in C for `pyrunc` (pyrunc/csrc/command.c SITES)
    and in the shim's script (pyrunc/launcher.py SITE_DIRS): the same directories, in one order."""
    import re

    from pyrunc import launcher

    with open(os.path.join(REPO, "pyrunc", "csrc", "command.c")) as f:
        array = f.read().split("SITES[] = {", 1)[1].split("};", 1)[0]
    in_c = [
        f"{lib}/{{python}}/{name}" for lib, name in re.findall(r'"/(\w+)/" PYTHON_DIR "/([\w-]+)"', array)
    ]
    assert in_c == list(launcher.SITE_DIRS), (in_c, launcher.SITE_DIRS)
    assert f"SITE_DIRS = {launcher.SITE_DIRS!r}" in launcher.script_text()


def test_the_c_parts_are_built_hardened():
    """setup.py's flags took: relro and bind-now on the extensions, the stack protector and
    FORTIFY_SOURCE's checked calls in _core, relro on the static init helper."""

    def readelf(*args: str) -> str:
        return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, check=True).stdout

    pkg = os.path.join(REPO, "pyrunc")
    for ext in glob.glob(os.path.join(pkg, "_core.*.so")) + glob.glob(os.path.join(pkg, "_seccomp.*.so")):
        assert "GNU_RELRO" in readelf("-l", ext), ext
        assert "BIND_NOW" in readelf("-d", ext), ext
    core = glob.glob(os.path.join(pkg, "_core.*.so"))[0]
    symbols = readelf("--dyn-syms", core)
    assert "__stack_chk_fail" in symbols and "__snprintf_chk" in symbols
    assert "GNU_RELRO" in readelf("-l", os.path.join(pkg, "pyrunc-init"))


def test_the_wheel_installs_the_containerd_shim_with_its_protobuf_modules(installed, tmp_path):
    """containerd-shim-pyrunc-v1 comes with the wheel, starts as fast as pyrunc, and the protobuf
    modules setup.py generated at build time are in the package (they are not in git)."""
    shim = os.path.join(os.path.dirname(installed), "containerd-shim-pyrunc-v1")
    done, trace = traced([shim, "-v"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("containerd-shim-pyrunc-v1:\npyrunc version "), done.stdout
    assert_fast_start(trace, os.path.join(os.path.dirname(installed), "python3"))
    python = os.path.join(os.path.dirname(installed), "python3")
    check = "from pyrunc.shim.proto import shim_pb2; print(shim_pb2.__file__)"
    done = subprocess.run([python, "-c", check], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "site-packages/pyrunc/shim/proto/shim_pb2.py" in done.stdout


def bundle_of(command: str) -> str:
    site = glob.glob(
        os.path.join(os.path.dirname(os.path.dirname(command)), "lib", "python3*", "site-packages")
    )
    return os.path.join(site[0], "pyrunc", "__pycache__", f"hot.{sys.implementation.cache_tag}.bundle")


def imported_by_importlib(command: str, *args: str) -> set[str]:
    """The modules importlib imported for the command (-X importtime lists them), started as the
    command starts it (pyrunc/csrc/command.c), with -X importtime."""
    python = os.path.join(os.path.dirname(command), "python3")
    entry = os.path.join(os.path.dirname(os.path.dirname(bundle_of(command))), "_wheel_command.py")
    done = subprocess.run(
        [python, "-I", "-S", "-X", "importtime", entry, *args], capture_output=True, text=True
    )
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_the_installed_command_writes_its_bundle_once_and_serves_its_hot_modules_from_it(installed, tmp_path):
    """The wheel holds an empty bundle (setup.py); the first command that may write it writes it,
    0644 whatever its umask, and the next commands import the hot verbs' modules from it, not
    through importlib (issue 15: every install fast)."""
    bundle = bundle_of(installed)
    with open(bundle, "wb"):
        pass  # the placeholder as installed (an earlier test's command may have written it)
    root = str(tmp_path / "root")
    assert "pyrunc.main" in imported_by_importlib(installed, "--root", root, "state", "nosuch")
    os.truncate(bundle, 0)  # that run, the first, wrote it: the placeholder again
    done = subprocess.run(
        ["sh", "-c", 'umask 0; exec "$@"', "sh", installed, "--root", root, "state", "nosuch"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "does not exist" in done.stderr, done.stderr
    st = os.stat(bundle)
    assert st.st_size > 0 and stat.S_IMODE(st.st_mode) == 0o644
    assert not [name for name in os.listdir(os.path.dirname(bundle)) if ".tmp" in name]
    imported = imported_by_importlib(installed, "--root", root, "state", "nosuch")
    assert not {name for name in imported if name.startswith("pyrunc")}, sorted(imported)
    assert os.stat(bundle).st_mtime_ns == st.st_mtime_ns  # written once


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_command_that_cannot_write_the_bundle_runs_without_it(installed, tmp_path):
    """Without the right to write pyrunc/__pycache__ (here: root without CAP_DAC_OVERRIDE, the
    directory 0555), the command runs as before and the placeholder stays empty."""
    bundle = bundle_of(installed)
    with open(bundle, "wb"):
        pass
    cache = os.path.dirname(bundle)
    os.chmod(cache, 0o555)
    try:
        drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
        done = subprocess.run(
            [*drop, installed, "--root", str(tmp_path / "root"), "state", "nosuch"],
            capture_output=True,
            text=True,
        )
    finally:
        os.chmod(cache, 0o755)
    assert done.returncode == 1 and "does not exist" in done.stderr, done.stderr
    assert os.path.getsize(bundle) == 0
    assert not [name for name in os.listdir(cache) if ".tmp" in name]


def test_uninstalling_removes_the_written_bundle(wheel, tmp_path):
    """The bundle is the wheel's file (in pip's RECORD): pip's uninstall takes it with the package."""
    command = install(wheel, tmp_path)
    done = subprocess.run([command, "--version"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bundle = bundle_of(command)
    assert os.path.getsize(bundle) > 0
    python = os.path.join(os.path.dirname(command), "python")
    subprocess.run([python, "-m", "pip", "-q", "uninstall", "-y", "pyrunc"], check=True, capture_output=True)
    assert not os.path.exists(os.path.dirname(os.path.dirname(bundle)))
