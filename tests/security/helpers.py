"""What the attack tests share: reading the attacker's report, running containers whose output must
outlive the runtime call (detached ones write to a file, not to a pipe the test would wait on),
sharing a pid namespace between containers, and reading a process's mounts from the host."""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from tests import mountinfo
from tests.mountinfo import MountEntry
from tests.support import PYRUNC, REPO, Bundle, Runtime

F_SEAL_WRITE = 0x0008
F_SEAL_SEAL = 0x0001


class Observation:
    """One line of the attacker's report: KIND key=value ..."""

    def __init__(self, line: str) -> None:
        kind, *pairs = line.split()
        self.kind = kind
        self.fields = dict(pair.split("=", 1) for pair in pairs if "=" in pair)

    def __getitem__(self, key: str) -> str:
        return self.fields[key]

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)

    def __repr__(self) -> str:
        return f"{self.kind} {self.fields}"


def report(text: str) -> list[Observation]:
    return [Observation(line) for line in text.splitlines() if line and line.split()[0].isupper()]


def read_text(path: str) -> str:
    with open(path, errors="replace") as f:
        return f.read()


def read_report(path: str) -> list[Observation]:
    return report(read_text(path))


def reported(path: str, *kinds: str) -> bool:
    """Whether the report being written to `path` has a line of one of these kinds yet."""
    return any(o.kind in kinds for o in read_report(path))


# Everything the probe tries on another process (attack.c, probe()).
PROBES = frozenset({"exe", "environ", "mem", "fd", "ptrace"})


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 120) -> object:
    """Poll until `predicate()` is true; the timeout only keeps a broken run from hanging."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_detached(runtime: Runtime, bundle: Bundle, container_id: str, output: str, *extra: str) -> int:
    """`run -d` with the container's stdout and stderr in `output`; returns the init's host pid."""
    with open(output, "ab") as out:
        result = subprocess.run(
            runtime.cmd("run", "-d", "--bundle", bundle.path, *extra, container_id),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            timeout=120,
        )
    assert result.returncode == 0, f"run -d {container_id} failed: {read_text(output)}"
    return runtime.state(container_id)["pid"]


def exec_output(runtime: Runtime, *args: str, stdin: int | None = None) -> tuple[int, str]:
    """`exec ARGS...` in the foreground; returns (status, stdout+stderr). Output goes through a
    file: a process the exec leaves behind would hold a pipe open."""
    import tempfile

    with tempfile.TemporaryFile("w+b") as out:
        proc = subprocess.run(
            runtime.cmd("exec", *args),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            timeout=120,
        )
        out.seek(0)
        return proc.returncode, out.read().decode(errors="replace")


def join_pid_namespace(bundle: Bundle, host_pid: int) -> None:
    """The bundle's container joins the pid namespace of `host_pid` (a pod sharing one namespace)."""
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == "pid":
            ns["path"] = f"/proc/{host_pid}/ns/pid"
    bundle.write()


def ns_pid(host_pid: int) -> int:
    """The pid of a host process in its innermost pid namespace."""
    with open(f"/proc/{host_pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError(f"no NSpid for {host_pid}")


def status(runtime: Runtime, container_id: str) -> str:
    result = runtime("state", container_id, check=False)
    return json.loads(result.stdout)["status"] if result.returncode == 0 else "gone"


def mounts(pid: int | str) -> list[MountEntry]:
    return mountinfo.mounts(pid)


def host_mount_points() -> set[str]:
    return {m.point for m in mounts("self")}


def touched(path: str) -> bool:
    """Whether anything exists at `path` (a file, a directory, a dangling symlink)."""
    return os.path.lexists(path)


def map_host_root(config: dict) -> None:
    """A user namespace whose root is the host's (0 -> 0, 65536 ids): the worst mapping, owner of
    the host's device nodes; the host's mounts are locked in it."""
    linux = config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]


def plant(rootfs: str, source: str, name: str = "attack") -> str:
    """Copy an executable into the container's rootfs; returns its path inside the container."""
    dest = os.path.join(rootfs, name)
    shutil.copy(source, dest)
    os.chmod(dest, 0o755)
    return "/" + name


def plant_script(rootfs: str, name: str, text: str) -> str:
    dest = os.path.join(rootfs, name)
    with open(dest, "w") as f:
        f.write(text)
    os.chmod(dest, 0o755)
    return "/" + name


def runtime_packages() -> list[str]:
    """The pyrunc package directories of the runtime under test: this checkout's, and those its
    launcher (`python -m pyrunc.launcher`) puts on sys.path (PYRUNC_BIN may be another build)."""
    roots = [REPO]
    try:
        with open(PYRUNC) as f:
            for line in f:
                # Today's launcher appends (`sys.path += [...]`); older ones prepended.
                if line.startswith(("sys.path += ", "sys.path[0:0] = ")):
                    roots += ast.literal_eval(line.split("=", 1)[1].strip())
    except (OSError, UnicodeDecodeError, ValueError, SyntaxError):
        pass
    return list(
        dict.fromkeys(os.path.join(r, "pyrunc") for r in roots if os.path.isdir(os.path.join(r, "pyrunc")))
    )


def host_binaries() -> list[str]:
    """The host files a container must never reach: the interpreter the runtime runs on, the
    runtime's entry script, the init helper on disk and the compiled core."""
    files = [os.path.realpath(sys.executable), os.path.realpath(PYRUNC)]
    for pkg in runtime_packages():
        files += [os.path.join(pkg, "pyrunc-init"), *glob.glob(os.path.join(pkg, "_core*.so"))]
    return sorted({f for f in files if os.path.isfile(f)})
