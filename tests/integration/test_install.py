"""However pyrunc is installed, the `pyrunc` command starts the interpreter with -I -S: no `site`,
no .pth hook, no `re` (pyrunc/launcher.py). A wheel is built from this checkout (as pip does for
`pip install .` and for an sdist), installed into a fresh venv, and its command traced."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.support import REPO

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> str:
    top = tmp_path_factory.mktemp("wheel")
    wheels = top / "dist"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), REPO], check=True, capture_output=True)
    (wheel,) = wheels.glob("pyrunc-*.whl")
    venv = top / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "-q", "--disable-pip-version-check", "install", str(wheel)],
        check=True,
        capture_output=True,
    )
    return str(venv / "bin/pyrunc")


def traced(command: list[str], tmp_path) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "strace.txt"
    done = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=execve,openat", "-o", str(log), *command],
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


@pytest.mark.skipif(not shutil.which("readelf"), reason="readelf (binutils) is not installed")
def test_the_c_parts_are_built_hardened():
    """setup.py's flags took: relro and bind-now on the extensions, the stack protector and
    FORTIFY_SOURCE's checked calls in _core, relro on the static init helper."""
    import glob

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
