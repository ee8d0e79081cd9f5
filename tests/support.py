"""What the test directories share: the runtime binary, bundles, reaping, and the ids tests used.

Imported as `tests.support` everywhere (tests/conftest.py re-exports it), so there is one copy of
each object, USED_IDS included, whichever way a test module reaches it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYRUNC = os.environ.get("PYRUNC_BIN") or os.path.join(os.path.dirname(sys.executable), "pyrunc")
HELLO_CONFIG = os.path.join(REPO, "oci-bundles", "hello", "config.json")


def reap_orphans(keep: int | None = None) -> list[int]:
    """Reap dead children that nobody waits for (containers' inits reparented to us), leaving
    alone `keep`: a child of our own whose status its Popen must collect."""
    reaped = []
    me = str(os.getpid())
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == keep:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and fields[1] == me:
            try:
                os.waitpid(int(name), os.WNOHANG)
                reaped.append(int(name))
            except ChildProcessError:
                pass
    return reaped


def reap_until(done, seconds: float = 4.0) -> bool:
    """Reap orphans (every 20 ms) until done() holds, for at most `seconds`: whether it held."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        reap_orphans()
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def base_config() -> dict:
    """The hello bundle's config with a short-lived default process."""
    with open(HELLO_CONFIG) as f:
        config = json.load(f)
    config["process"]["args"] = ["true"]
    return config


class Bundle:
    """A bundle directory: config (a dict to edit, written by .write()) and a rootfs."""

    def __init__(self, path: str, config: dict) -> None:
        self.path = path
        self.config = config

    @property
    def rootfs(self) -> str:
        return os.path.join(self.path, "rootfs")

    def write(self) -> Bundle:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)
        return self


# Container ids that tests passed to create/run, so leak checks look only at their own cgroups
# (other test sessions may run on the same machine with similar names).
USED_IDS: set[str] = set()


# PYRUNC_TEST_CGROUP_DRIVER=systemd runs every runtime call with --systemd-cgroup (the systemd
# guest runs the cgroup v2 selection so: tests/vm/run-systemd --driver-selection).
CGROUP_DRIVER_FLAGS = ["--systemd-cgroup"] if os.environ.get("PYRUNC_TEST_CGROUP_DRIVER") == "systemd" else []


class Runtime:
    """Runs the runtime binary with its own temporary --root (and the cgroup driver's flag)."""

    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root

    def cmd(self, *args: str, root: bool = True) -> list[str]:
        return [self.binary, *(["--root", self.root] if root else []), *CGROUP_DRIVER_FLAGS, *args]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None, **kw
    ) -> subprocess.CompletedProcess:
        """Run the runtime; stdout and stderr are captured through files, not pipes: a created
        container inherits the runtime's stdio, so a pipe would only close when it exits."""
        if args and args[0] in ("create", "run"):
            USED_IDS.add(args[-1])
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run(
                self.cmd(*args), timeout=timeout, stdout=out, stderr=err, text=True, input=input, **kw
            )
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
        if check and result.returncode != 0:
            command = " ".join(args)
            raise AssertionError(
                f"{command} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def state(self, container_id: str) -> dict:
        return json.loads(self("state", container_id).stdout)

    def status(self, container_id: str) -> str:
        return self.state(container_id)["status"]


def systemd_host_problem() -> str | None:
    """Why this host cannot run the tests marked `systemd` (PID 1 systemd, cgroup v2 unified), or
    None when it can. They run in tests/vm/run-systemd's guest; elsewhere they skip with this."""
    try:
        with open("/proc/1/comm") as f:
            init = f.read().strip()
    except OSError as err:
        return f"cannot read /proc/1/comm: {err}"
    if init != "systemd":
        return f"PID 1 is {init!r}, not systemd: these tests run in tests/vm/run-systemd"
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "cgroup v2 is not unified here: these tests run in tests/vm/run-systemd"
    return None
