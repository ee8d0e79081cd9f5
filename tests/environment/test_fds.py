"""File descriptors (issue 3, item 8): --preserve-fds N and LISTEN_FDS pass exactly those fds on,
every other fd of the runtime is closed before execve, and a cwd reached through a leaked fd can
never be outside the container (CVE-2024-21626).

The runtime is started through a small shell that first opens files at fds 3, 4, ... (as systemd
or a shim would hand them over); the container's /proc/PID/fd is then compared as a whole."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

from .helpers import open_fds, read_report, report_then_sleep


@pytest.fixture
def fd_files(host_dir):
    """Three files and a directory, opened by the wrapper at fds 3, 4, 5 and 6."""
    base = host_dir("fds")
    paths = []
    for name in ("alpha", "beta", "gamma"):
        path = os.path.join(base, name)
        with open(path, "w") as f:
            f.write(f"{name}\n")
        paths.append(path)
    os.mkdir(os.path.join(base, "dir"))
    return [*paths, os.path.join(base, "dir")]


def run_with_fds(
    runtime, files: list[str], *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """The runtime with `files` open read-only at fds 3, 4, ...; env entries exported first
    ($$ in a value is the runtime's own pid: the shell execs it)."""
    redirects = " ".join(f'{3 + i}<"${i + 1}"' for i in range(len(files)))
    exports = " ".join(f"{key}={value}" for key, value in (env or {}).items())
    script = f'exec {redirects}; shift {len(files)}; {"export " + exports + ";" if exports else ""} exec "$@"'
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(
            ["/bin/sh", "-c", script, "sh", *files, *runtime.cmd(*args)], stdout=out, stderr=err, timeout=60
        )
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
    assert result.returncode == 0, f"{args} exited {result.returncode}: {result.stderr}"
    return result


def start_with_fds(runtime, bundle, cid, files, *flags, used_ids, env=None) -> int:
    used_ids.add(cid)
    run_with_fds(runtime, files, "run", "-d", *flags, "--bundle", bundle.path, cid, env=env)
    return runtime.state(cid)["pid"]


def test_without_preserve_fds_only_stdio_reaches_the_process(runtime, make_bundle, cid, fd_files, used_ids):
    bundle = report_then_sleep(make_bundle(), "true")
    pid = start_with_fds(runtime, bundle, cid, fd_files, used_ids=used_ids)
    try:
        read_report(pid)  # the shell has exec'd sleep
        assert sorted(open_fds(pid)) == [0, 1, 2], open_fds(pid)
    finally:
        runtime("delete", "--force", cid)


def test_preserve_fds_passes_exactly_n(runtime, make_bundle, cid, fd_files, used_ids):
    bundle = report_then_sleep(make_bundle(), "cat <&3; cat <&4; [ -e /proc/self/fd/5 ] && echo fd5-leaked")
    pid = start_with_fds(runtime, bundle, cid, fd_files, "--preserve-fds", "2", used_ids=used_ids)
    try:
        assert read_report(pid).split() == ["alpha", "beta"]
        fds = open_fds(pid)
        assert sorted(fds) == [0, 1, 2, 3, 4], fds
        assert (fds[3], fds[4]) == (fd_files[0], fd_files[1])
    finally:
        runtime("delete", "--force", cid)


def test_listen_fds_are_passed_on_with_the_preserved_ones(runtime, make_bundle, cid, fd_files, used_ids):
    """systemd socket activation: LISTEN_FDS=2 (for this pid) passes fds 3 and 4, --preserve-fds 1
    the next one; the process is told LISTEN_FDS=2 and LISTEN_PID=1, as runc does."""
    bundle = report_then_sleep(make_bundle(), 'echo "$LISTEN_FDS $LISTEN_PID"')
    listen = {"LISTEN_FDS": "2", "LISTEN_PID": "$$"}
    pid = start_with_fds(runtime, bundle, cid, fd_files, "--preserve-fds", "1", used_ids=used_ids, env=listen)
    try:
        assert read_report(pid).split() == ["2", "1"]
        fds = open_fds(pid)
        assert sorted(fds) == [0, 1, 2, 3, 4, 5], fds
        assert [fds[3], fds[4], fds[5]] == fd_files[:3]
    finally:
        runtime("delete", "--force", cid)


@pytest.mark.parametrize("fd", range(3, 9))
def test_cwd_through_an_inherited_fd_never_escapes(runtime, make_bundle, cid, fd):
    """CVE-2024-21626: process.cwd /proc/self/fd/N must not reach a directory of the host through
    an fd the init still holds when it changes directory: create fails, or the cwd is inside."""
    bundle = make_bundle(args=["sleep", "infinity"])
    bundle.config["process"]["cwd"] = f"/proc/self/fd/{fd}"
    bundle.write()
    result = runtime("create", "--bundle", bundle.path, cid, check=False)
    if result.returncode != 0:
        assert result.returncode == 1 and "cwd" in result.stderr, result.stderr
        return
    try:
        cwd = os.readlink(f"/proc/{runtime.state(cid)['pid']}/cwd")
        assert cwd == bundle.rootfs or cwd.startswith(bundle.rootfs + "/"), (
            f"cwd outside the container: {cwd}"
        )
    finally:
        runtime("delete", "--force", cid)
