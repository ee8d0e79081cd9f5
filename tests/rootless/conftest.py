"""Fixtures of the rootless tests: a real unprivileged user made for the session (unique name,
/etc/subuid and /etc/subgid ranges of its own), removed at the end with its ranges, even when a
test fails; bundles in its home; the runtime run as that user.

The runtime under test is PYRUNC_BIN (default the venv's pyrunc): the user must be able to run it,
so the fixture checks that it can and says why not.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.support import PYRUNC, reap_orphans

SUBID_FILES = ("/etc/subuid", "/etc/subgid")
SUBID_COUNT = 65536


def _require(*binaries: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("the rootless tests make a test user: run them as root")
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (apt-get install passwd uidmap)")


def _free_subid_start() -> int:
    """A range above every one in /etc/subuid and /etc/subgid (and above 100000)."""
    top = 100000
    for path in SUBID_FILES:
        try:
            with open(path) as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        top = max(top, int(parts[1]) + int(parts[2]))
        except FileNotFoundError:
            pass
    return top + SUBID_COUNT


def _drop_subid_lines(name: str) -> None:
    """userdel removes them too on Debian; this makes sure, whatever userdel did."""
    for path in SUBID_FILES:
        try:
            with open(path) as f:
                lines = f.readlines()
        except FileNotFoundError:
            continue
        kept = [line for line in lines if line.split(":", 1)[0] != name]
        if kept != lines:
            with open(path, "w") as f:
                f.writelines(kept)


@dataclass
class User:
    """The test user and how to run commands as it."""

    name: str
    uid: int
    gid: int
    home: str
    subid_start: int
    runtime_dir: str
    binary: str = PYRUNC
    extra_env: dict = field(default_factory=dict)

    def env(self, **extra: str) -> dict:
        return {
            "HOME": self.home,
            "USER": self.name,
            "LOGNAME": self.name,
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "XDG_RUNTIME_DIR": self.runtime_dir,
            **self.extra_env,
            **extra,
        }

    def run(
        self, argv: list[str], *, check: bool = False, timeout: float = 60, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        """Run as the user. Output goes through files, not pipes: a container's init made by
        create or run -d keeps its stdio, and a pipe would not reach EOF while it lives."""
        import tempfile

        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            done = subprocess.run(
                argv,
                user=self.uid,
                group=self.gid,
                extra_groups=[],
                env=env or self.env(),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=timeout,
            )
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(
                argv,
                done.returncode,
                out.read().decode(errors="replace"),
                err.read().decode(errors="replace"),
            )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
        return result

    def pyrunc(self, *args: str, **kw) -> subprocess.CompletedProcess:
        """The runtime as the user, with its default --root ($XDG_RUNTIME_DIR/pyrunc)."""
        return self.run([self.binary, *args], **kw)

    @property
    def state_root(self) -> str:
        return os.path.join(self.runtime_dir, "pyrunc")

    def chown(self, path: str) -> None:
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", path], check=True)


@pytest.fixture(scope="session")
def rootless_user() -> Iterator[User]:
    _require("useradd", "userdel", "newuidmap", "newgidmap")
    name = f"prl{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True)
    try:
        # One known range per file (useradd may have added one of its own, per login.defs).
        _drop_subid_lines(name)
        start = _free_subid_start()
        for path in SUBID_FILES:
            with open(path, "a") as f:
                f.write(f"{name}:{start}:{SUBID_COUNT}\n")
        entry = pwd.getpwnam(name)
        runtime_dir = os.path.join(entry.pw_dir, "run")
        os.mkdir(runtime_dir, 0o700)
        os.chown(runtime_dir, entry.pw_uid, entry.pw_gid)
        user = User(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, start, runtime_dir)
        check = user.run([PYRUNC, "--version"])
        if check.returncode != 0:
            pytest.fail(
                f"the test user cannot run {PYRUNC} (every directory above it must be searchable "
                f"by others): {check.stderr.strip()}"
            )
        yield user
    finally:
        try:
            _kill_user_processes(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
        subprocess.run(["userdel", "--remove", "--force", name], capture_output=True)
        _drop_subid_lines(name)


def _kill_user_processes(uid: int) -> None:
    """Anything the test user still runs (a test that failed half-way), by pid, before userdel."""
    import signal

    for pid in _user_processes(uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap_orphans()


@pytest.fixture
def user(rootless_user: User) -> Iterator[User]:
    """The session's user, with the test's containers force-deleted and its state root checked
    empty after each test: nothing may be left behind."""
    yield rootless_user
    root = rootless_user.state_root
    left = []
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name.startswith("#"):
                continue
            rootless_user.pyrunc("delete", "--force", name)
            left.append(name)
    reap_orphans()
    assert not left, f"containers left in {root}: {left}"
    left_running = _user_processes(rootless_user.uid)
    assert not left_running, f"processes of the test user left running: {_cmdlines(left_running)}"


def _user_processes(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                with open(f"/proc/{entry}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        pids.append(int(entry))
        except OSError:
            continue
    return pids


def _cmdlines(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                words = f.read().split(b"\0")
            out.append(f"{pid}: {b' '.join(words).decode(errors='replace').strip()}")
        except OSError:
            out.append(f"{pid}: (gone)")
    return out


@pytest.fixture(scope="session")
def rootless_rootfs(rootless_user: User, rootfs_template: str) -> str:
    """A busybox rootfs in the user's home (the user's bundles must be readable by it): a copy
    of the session's (building one forks a process per applet: minutes in an emulated guest)."""
    path = os.path.join(rootless_user.home, "rootfs-template")
    shutil.copytree(rootfs_template, path, symlinks=True)
    return path


@pytest.fixture
def rootless_bundle(user: User, rootless_rootfs: str, request) -> Iterator:
    """make(args, edit=callable(config)) -> bundle dir with a rootless config (runc's spec
    --rootless made by pyrunc as the user, without a terminal), owned by the user."""
    made = []

    def make(args: list[str], edit=None) -> str:
        path = os.path.join(user.home, f"bundle-{secrets.token_hex(4)}")
        os.mkdir(path)
        shutil.copytree(rootless_rootfs, os.path.join(path, "rootfs"), symlinks=True)
        user.chown(path)
        made.append(path)
        spec = user.pyrunc("spec", "--rootless", "--bundle", path, check=True)
        assert spec.returncode == 0
        with open(os.path.join(path, "config.json")) as f:
            config = json.load(f)
        config["process"]["terminal"] = False
        config["process"]["args"] = args
        config["root"]["readonly"] = False
        if edit is not None:
            edit(config)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)
