"""CVE-2024-21626: a host fd leaks into the container's process, and process.cwd (or exec --cwd)
set to /proc/self/fd/N makes it start in a host directory (runc leaked /sys/fs/cgroup; from there
`../../..` was the host's /).

The attacker's `where` reports the cwd it started in (inside the root or not: walking `..` from
there must reach the container's /) and the fds it holds. Every N the runtime could have open is
tried; each attempt must fail with a clear error or start inside the container, and the process
must hold only 0, 1, 2 and the fds it was given.
"""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from tests.security.helpers import exec_output, plant, read_text, report, reported, wait_until
from tests.support import reap_orphans

# The runtime's own fds are few and low (sync socket, plan, helper, fifo, lock, console): 3..20
# covers every one, with room.
LEAKABLE = range(3, 21)
FD_DIRS = ("/proc/self/fd", "/proc/thread-self/fd")


def where(output: str) -> tuple[str | None, str | None]:
    """(inside|outside, fd list) from the attacker's `where` report, or (None, None)."""
    observations = report(output)
    cwd = [o["where"] for o in observations if o.kind == "CWD"]
    fds = [o.get("list") for o in observations if o.kind == "FDS"]
    return (cwd[0] if cwd else None), (fds[0] if fds else None)


def assert_failed_cleanly_or_inside(code: int, output: str, cwd: str) -> None:
    place, _ = where(output)
    if code == 0:
        assert place == "inside", f"cwd {cwd} started outside the container: {output}"
    else:
        assert place is None, f"cwd {cwd}: the process ran but the runtime failed: {output}"
        assert "cwd" in output, f"cwd {cwd}: the error does not name the cwd: {output}"


@pytest.fixture
def where_bundle(make_bundle, attacker):
    bundle = make_bundle(args=["/attack", "where"])
    plant(bundle.rootfs, attacker)
    return bundle


@pytest.mark.parametrize("fd_dir", FD_DIRS)
def test_process_cwd_on_every_runtime_fd(runtime, where_bundle, cid, fd_dir):
    for n in LEAKABLE:
        cwd = f"{fd_dir}/{n}"
        where_bundle.config["process"]["cwd"] = cwd
        where_bundle.write()
        result = runtime(
            "run", "--bundle", where_bundle.path, f"{cid}-{n}", check=False, stdin=subprocess.DEVNULL
        )
        assert_failed_cleanly_or_inside(result.returncode, result.stdout + result.stderr, cwd)


@pytest.mark.parametrize("fd_dir", FD_DIRS)
def test_exec_cwd_on_every_runtime_fd(runtime, make_bundle, cid, attacker, fd_dir):
    bundle = make_bundle(args=["sleep", "1000"])
    plant(bundle.rootfs, attacker)
    runtime("run", "-d", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    for n in LEAKABLE:
        cwd = f"{fd_dir}/{n}"
        code, output = exec_output(runtime, "--cwd", cwd, cid, "/attack", "where")
        assert_failed_cleanly_or_inside(code, output, cwd)


def test_only_stdio_reaches_the_container_process(runtime, where_bundle, cid):
    result = runtime("run", "--bundle", where_bundle.path, cid, stdin=subprocess.DEVNULL)
    assert where(result.stdout) == ("inside", "0,1,2"), result.stdout


@pytest.mark.parametrize("detach", [False, True])
def test_only_stdio_reaches_an_exec(runtime, make_bundle, cid, attacker, tmp_path, detach):
    bundle = make_bundle(args=["sleep", "1000"])
    plant(bundle.rootfs, attacker)
    runtime("run", "-d", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    out = str(tmp_path / "out")
    with open(out, "w") as f:
        flags = ["--detach"] if detach else []
        subprocess.run(
            runtime.cmd("exec", *flags, cid, "/attack", "where"),
            stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=120, check=True,
        )  # fmt: skip
    wait_until(lambda: reported(out, "FDS"), "the exec's report")  # a detached one may still run
    assert where(read_text(out)) == ("inside", "0,1,2"), read_text(out)
    if detach:
        # It is our (subreaper's) child: reap it, or the container's init, its pid namespace's
        # reaper, cannot finish dying when deleted.
        wait_until(reap_orphans, "the detached process to exit")


def test_preserved_fds_are_the_only_extra_ones(runtime, make_bundle, cid, attacker, tmp_path):
    """--preserve-fds 2 passes exactly fds 3 and 4 (the caller's choice), nothing of the runtime's."""
    bundle = make_bundle(args=["sleep", "1000"])
    plant(bundle.rootfs, attacker)
    runtime("run", "-d", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    command = " ".join(runtime.cmd("exec", "--preserve-fds", "2", cid, "/attack", "where"))
    result = subprocess.run(
        ["sh", "-c", f"exec 3</dev/null 4</dev/null; exec {command}"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert where(result.stdout) == ("inside", "0,1,2,3,4"), result.stdout


def test_created_init_holds_no_host_directory(runtime, make_bundle, cid):
    """While it waits in `created`, the init holds stdio and an O_PATH fd of exec.fifo (a fifo,
    which no chdir or openat can walk out of): no directory of the host."""
    bundle = make_bundle(args=["true"])
    runtime("create", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    pid = runtime.state(cid)["pid"]
    fds = {int(n): os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")}
    extra = {n: link for n, link in fds.items() if n > 2}
    assert list(extra.values()) == [os.path.join(runtime.root, cid, "exec.fifo")], fds
    (n,) = extra
    assert stat.S_ISFIFO(os.stat(f"/proc/{pid}/fd/{n}").st_mode)


@pytest.mark.parametrize("how", ["run", "exec"])
def test_cwd_on_a_host_directory_is_refused_after_chdir(runtime, make_bundle, cid, attacker, tmp_path, how):
    """The check behind the others: even when a host directory does reach the process (here the
    caller passes one with --preserve-fds), a cwd through it is refused after chdir, before the
    process runs: getcwd() of a directory outside the root does not start with "/"."""
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    cwd = "/proc/self/fd/3"
    if how == "run":
        bundle = make_bundle(args=["/attack", "where"])
        bundle.config["process"]["cwd"] = cwd
        bundle.write()
        command = runtime.cmd("run", "--preserve-fds", "1", "--bundle", bundle.path, cid)
    else:
        bundle = make_bundle(args=["sleep", "1000"])
        runtime("run", "-d", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
        command = runtime.cmd("exec", "--preserve-fds", "1", "--cwd", cwd, cid, "/attack", "where")
    plant(bundle.rootfs, attacker)
    result = subprocess.run(
        ["sh", "-c", f'exec 3<"$0"; exec {" ".join(command)}', str(host_dir)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == (1 if how == "run" else 255), result  # runc's exec fails with 255
    assert where(result.stdout) == (None, None), result.stdout
    assert "outside the container's root" in result.stderr, result.stderr
    assert list(host_dir.iterdir()) == []


def test_control_where_sees_a_cwd_outside_the_root(make_bundle, attacker, tmp_path):
    """The detector works: a process chrooted into a rootfs while its cwd stays outside (what a
    leaked directory fd gives) is reported outside."""
    bundle = make_bundle()
    plant(bundle.rootfs, attacker)

    def chroot_keeping_cwd() -> None:
        os.chdir(tmp_path)
        os.chroot(bundle.rootfs)

    result = subprocess.run(
        ["/attack", "where"], preexec_fn=chroot_keeping_cwd, capture_output=True, text=True, timeout=60
    )
    assert where(result.stdout)[0] == "outside", result.stdout
