"""The shim's zygote (pyrunc/shim/zygote.py): pods' shims forked from one preloaded process.

Under this module's private containerd (its zygote directory is its own: tests/shim/conftest.py),
and, for what needs no containerd, zygotes this test starts itself (`containerd-shim-pyrunc-v1
zygote` in the foreground, in a private directory) with the test acting as `start`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrunc.shim import zygote
from tests.daemons.conftest import IMAGE_REF, private_dir, require_root_and, serving
from tests.daemons.daemons import CONTAINERD, CTR

from .conftest import SHIM, ShimContainerd, ShimCtr
from .test_ctr import _proc_state, _shim_of

pytestmark = pytest.mark.daemons

BOUND = 30.0  # seconds any wait below gives a process to appear, answer or go


def wait_for(what: str, check, timeout: float = BOUND):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what}: not after {timeout:g} s"
        time.sleep(0.05)
    return value


def ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])


def zygote_socket(pid: int) -> str:
    """The socket a zygote serves: the argument after `zygote` in its command line."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return argv[argv.index(b"zygote") + 1].decode()


def answering(pid: int) -> bool:
    try:
        return zygote.ping(zygote_socket(pid)) == pid
    except (OSError, ValueError, IndexError):
        return False


def serving_zygote(ctr: ShimCtr, containerd: ShimContainerd, ignore: frozenset[int] = frozenset()) -> int:
    """The containerd's zygote, answering: if there is none, one `ctr run` starts it."""
    if not [p for p in containerd.zygote_pids() if p not in ignore]:
        assert ctr.run("--rm", IMAGE_REF, ctr.new_id("warm"), "true").returncode == 0
    found = wait_for(
        "a zygote answering in " + str(containerd.zygote_dir),
        lambda: [p for p in containerd.zygote_pids() if p not in ignore and answering(p)],
    )
    assert len(found) == 1, found
    return found[0]


def unix_inodes(path: str) -> set[str]:
    """Socket inodes bound to `path` (/proc/net/unix)."""
    found = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7] == path:
            found.add(fields[6])
    return found


def fd_targets(pid: int) -> list[str]:
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return targets


def test_a_pods_shim_is_a_child_of_the_zygote(ctr: ShimCtr, containerd: ShimContainerd) -> None:
    parent = serving_zygote(ctr, containerd)
    cid = ctr.new_id()
    ctr.start_detached(cid, "sleep", "1000")
    ctr.wait_status(cid, "RUNNING")
    shim = _shim_of(ctr, cid)
    assert ppid(shim) == parent
    # A clean shim: its own session; the command line containerd's `start` had (what the
    # fixture's shim_pids, CRI tests and bench find shims by); stdio on /dev/null; nothing of the
    # zygote's (its socket, lock, log).
    assert os.getsid(shim) == shim
    assert containerd.shim_pids() == [shim]
    argv = Path(f"/proc/{shim}/cmdline").read_bytes().split(b"\0")
    assert b"start" in argv and b"zygote" not in argv, argv
    assert Path(f"/proc/{shim}/comm").read_text().strip() == "containerd-shim"
    targets = fd_targets(shim)
    assert all(os.readlink(f"/proc/{shim}/fd/{fd}") == "/dev/null" for fd in (0, 1, 2)), targets
    path = zygote_socket(parent)
    zygote_files = {path.removesuffix(".sock") + suffix for suffix in (".lock", ".log")}
    assert not zygote_files & set(targets), targets
    listener = {f"socket:[{inode}]" for inode in unix_inodes(path)}
    assert listener and not listener & set(targets), (listener, targets)
    # It serves: exec, kill, delete.
    joined = ctr("task", "exec", "--exec-id", "z", cid, "sh", "-c", "exit 6", check=False)
    assert joined.returncode == 6, joined
    ctr("task", "kill", "--signal", "SIGKILL", cid)
    ctr.wait_status(cid, "STOPPED")
    assert ctr.delete_task(cid) == 137
    wait_for(f"the shim {shim} gone after its last task", lambda: _proc_state(shim) in ("gone", "Z"))
    # The zygote reaped it and goes on.
    assert answering(parent)
    # Create, Start, Exec, Kill, Delete imported nothing the zygote had not (a module imported in
    # the child is the child's own memory: json was, +0.7 MiB a pod). containerd logs at debug, and
    # copies its shims' log lines (this module's earlier shims' too: all must say nothing).
    said = wait_for(
        "the shim's last log lines in containerd's log",
        lambda: [
            line
            for line in containerd.daemon_log.read_text().splitlines()
            if "after the zygote's fork" in line
        ],
    )
    assert all("fork: nothing" in line for line in said), said


def test_a_killed_zygote_leaves_its_pods_running(ctr: ShimCtr, containerd: ShimContainerd) -> None:
    old = serving_zygote(ctr, containerd)
    running = ctr.new_id("running")
    ctr.start_detached(running, "sleep", "1000")
    ctr.wait_status(running, "RUNNING")
    shim = _shim_of(ctr, running)
    assert ppid(shim) == old
    os.kill(old, signal.SIGKILL)
    wait_for(f"the zygote {old} gone", lambda: _proc_state(old) in ("gone", "Z"))
    # The pod's shim is not the zygote's to take down: it serves on.
    assert _proc_state(shim) not in ("gone", "Z")
    joined = ctr("task", "exec", "--exec-id", "after", running, "sh", "-c", "exit 7", check=False)
    assert joined.returncode == 7, joined
    # The next pods start: the first by its `start`'s own fork, which starts a new zygote.
    new = serving_zygote(ctr, containerd, ignore=frozenset({old}))
    assert new != old
    later = ctr.new_id("later")
    ctr.start_detached(later, "sleep", "1000")
    ctr.wait_status(later, "RUNNING")
    assert ppid(_shim_of(ctr, later)) == new
    for cid in (running, later):
        ctr("task", "kill", "--signal", "SIGKILL", cid)
        ctr.wait_status(cid, "STOPPED")
        assert ctr.delete_task(cid) == 137
    wait_for(f"the orphaned shim {shim} gone", lambda: _proc_state(shim) in ("gone", "Z"))


def test_a_zygote_that_does_not_answer_is_passed_by(ctr: ShimCtr, containerd: ShimContainerd) -> None:
    """A stopped zygote (SIGSTOP) accepts nothing: `start` gives up after its bound, forks the shim
    itself and says so in the shim's log; the zygote, continued, serves the next pods."""
    parent = serving_zygote(ctr, containerd)
    cid = ctr.new_id()
    os.kill(parent, signal.SIGSTOP)
    try:
        ctr.start_detached(cid, "sleep", "1000")
        ctr.wait_status(cid, "RUNNING")
        shim = _shim_of(ctr, cid)
        assert ppid(shim) != parent and os.getsid(shim) == shim
    finally:
        os.kill(parent, signal.SIGCONT)
    assert "zygote: no answer from" in containerd.daemon_log.read_text()
    assert answering(parent)
    later = ctr.new_id("later")
    ctr.start_detached(later, "sleep", "1000")
    ctr.wait_status(later, "RUNNING")
    assert ppid(_shim_of(ctr, later)) == parent
    for task in (cid, later):
        ctr("task", "kill", "--signal", "SIGKILL", task)
        ctr.wait_status(task, "STOPPED")
        assert ctr.delete_task(task) == 137


class ForegroundZygote:
    """`containerd-shim-pyrunc-v1 zygote` started by the test, in a private directory, its log kept."""

    def __init__(self, folder: Path, **env: str) -> None:
        self.dir = folder
        self.log = folder.parent / f"{folder.name}.log"
        self.env = {**os.environ, zygote.DIR_ENV: str(folder), **env}
        self.before = set(folder.glob("*.sock")) if folder.exists() else set()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(SHIM), "zygote"], env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.path = wait_for("the zygote's socket", self.socket)
        wait_for("the zygote answering", lambda: self.ping() == self.process.pid)

    def socket(self) -> str:
        assert self.process.poll() is None, self.log.read_text()
        names = set(self.dir.glob("*.sock")) - self.before if self.dir.exists() else set()
        return str(names.pop()) if names else ""

    def ping(self) -> int:
        try:
            return zygote.ping(self.path)
        except OSError:
            return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=BOUND)


@pytest.fixture
def private_zygote_dir() -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="zyg-", dir="/tmp"))
    try:
        yield parent / "z"
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=False)


def test_a_zygote_of_another_identity_is_not_used(ctr: ShimCtr, containerd: ShimContainerd) -> None:
    """Another checkout or venv (here: the same code with an environment switch that changes what
    it loads) has another socket in the same directory: containerd's shims never come from it."""
    mine = serving_zygote(ctr, containerd)
    other = ForegroundZygote(containerd.zygote_dir, PYRUNC_SHIM_PB2="1")
    try:
        assert other.path != zygote_socket(mine)
        cid = ctr.new_id()
        ctr.start_detached(cid, "sleep", "1000")
        ctr.wait_status(cid, "RUNNING")
        assert ppid(_shim_of(ctr, cid)) == mine
        assert not Path(f"/proc/{other.process.pid}/task/{other.process.pid}/children").read_text().split()
        ctr("task", "kill", "--signal", "SIGKILL", cid)
        ctr.wait_status(cid, "STOPPED")
        assert ctr.delete_task(cid) == 137
    finally:
        other.stop()
    assert other.process.returncode == 0, other.log.read_text()


def test_identity_is_the_package_and_the_interpreter() -> None:
    here = zygote.identity()
    assert zygote.identity() == here
    assert zygote.identity(package="/elsewhere/pyrunc") != here
    assert zygote.identity(executable="/elsewhere/bin/python") != here


def test_a_handed_over_shim_serves_and_the_zygote_exits_once_idle(
    private_zygote_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test is `start`: a bound socket handed over; the child serves it (Connect answers with its
    pid); the zygote stays while its child lives, exits 1 s after the child is gone (IDLE=1)."""
    from pyrunc.shim import ttrpc
    from pyrunc.shim.proto import shim_pb2

    require_root_and()
    z = ForegroundZygote(private_zygote_dir, PYRUNC_SHIM_ZYGOTE_IDLE="1")
    bundle = private_zygote_dir.parent / "bundle"
    bundle.mkdir()
    monkeypatch.chdir(bundle)
    monkeypatch.setenv("PYRUNC_SHIM_ROOT", str(private_zygote_dir.parent / "root"))
    address = str(private_zygote_dir.parent / "shim.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    child = 0
    try:
        listener.bind(address)
        listener.listen(8)
        handed = zygote.hand_over({"namespace": "zygote-test", "id": "x"}, False, listener.fileno(), z.path)
        assert handed.pid and not handed.why, handed.why
        child = handed.pid
        listener.close()
        assert ppid(child) == z.process.pid and os.getsid(child) == child
        client = ttrpc.Client(f"unix://{address}")
        try:
            answer = client.call(
                "containerd.task.v2.Task", "Connect", shim_pb2.ConnectRequest(id="x").SerializeToString()
            )
            assert shim_pb2.ConnectResponse.FromString(answer).shim_pid == child
            # Past its idle time, with a live child: the zygote stays (not a timing measurement).
            time.sleep(2.5)
            assert z.process.poll() is None, z.log.read_text()
            shutdown = shim_pb2.ShutdownRequest(id="x").SerializeToString()
            client.call("containerd.task.v2.Task", "Shutdown", shutdown)
        finally:
            client.close()
        wait_for(f"the shim {child} gone after Shutdown", lambda: _proc_state(child) == "gone")
        assert z.process.wait(timeout=BOUND) == 0, z.log.read_text()
        assert "exiting (idle; 0 children left running)" in z.log.read_text()
        assert not list(private_zygote_dir.glob("*.sock"))
    finally:
        listener.close()
        z.stop()
        if child and _proc_state(child) != "gone":
            os.kill(child, signal.SIGKILL)


def test_a_zygote_whose_code_changed_refuses_and_exits(private_zygote_dir: Path) -> None:
    """An edited checkout: a file the zygote loaded changed since; it answers `stale` (start then
    forks the shim itself and starts a new zygote) and exits."""
    require_root_and()
    z = ForegroundZygote(private_zygote_dir)
    changed = Path(zygote.__file__).with_name("metrics.py")
    before = os.stat(changed)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        handed = zygote.hand_over({"namespace": "zygote-test"}, False, listener.fileno(), z.path)
    finally:
        os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))
        listener.close()
    assert (handed.pid, handed.why, handed.spawn) == (0, "it refused: stale", True)
    assert z.process.wait(timeout=BOUND) == 0
    assert "changed since it was loaded" in z.log.read_text()
    z.stop()


CLIENT = """
import marshal, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("EACCES")
    sys.exit(0)
try:
    s.send(marshal.dumps({"v": 1, "op": "ping"}))
    answer = s.recv(64)
except (BrokenPipeError, ConnectionResetError):
    answer = b""
print("answer", answer or "closed")
"""


def test_a_non_root_client_is_refused(private_zygote_dir: Path) -> None:
    """The socket is root's (0600 in a 0700 dir); a client that gets through the permissions
    anyway (CAP_DAC_OVERRIDE, not root) is refused by its uid (SO_PEERCRED)."""
    require_root_and("/usr/bin/setpriv")
    z = ForegroundZygote(private_zygote_dir)
    try:
        assert (private_zygote_dir.stat().st_mode & 0o777, os.stat(z.path).st_mode & 0o777) == (0o700, 0o600)
        nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        python = [os.path.realpath(SHIM.parent / "python"), "-I", "-S", "-c", CLIENT, z.path]
        plain = subprocess.run([*nobody, *python], capture_output=True, text=True, timeout=60)
        assert plain.stdout.strip() == "EACCES", plain
        caps = ["--inh-caps=+dac_override", "--ambient-caps=+dac_override"]
        through = subprocess.run([*nobody, *caps, *python], capture_output=True, text=True, timeout=60)
        assert through.stdout.strip() == "answer closed", through
        assert "uid 65534 is not 0" in z.log.read_text()
        assert z.ping() == z.process.pid  # root still is served
    finally:
        z.stop()


@pytest.fixture(scope="module")
def direct_containerd(runtime_bin: str, token: str, image_tar: Path) -> Iterator[ShimContainerd]:
    require_root_and(CONTAINERD, CTR)
    daemon = ShimContainerd(private_dir("shimd-"), runtime_bin, f"{token}-d", zygote=False)
    yield from serving(daemon, image_tar)


def test_without_the_zygote_every_shim_is_a_fork_of_its_start(direct_containerd: ShimContainerd) -> None:
    client = ShimCtr(direct_containerd, "direct")
    try:
        assert client.run("--rm", IMAGE_REF, client.new_id("rm"), "echo", "direct").stdout == "direct\n"
        cid = client.new_id()
        client.start_detached(cid, "sleep", "1000")
        client.wait_status(cid, "RUNNING")
        shim = _shim_of(client, cid)
        assert os.getsid(shim) == shim
        assert direct_containerd.zygote_pids() == []
        assert not direct_containerd.zygote_dir.exists()
        client("task", "kill", "--signal", "SIGKILL", cid)
        client.wait_status(cid, "STOPPED")
        assert client.delete_task(cid) == 137
    finally:
        client.cleanup()


def test_set_cmdline_rewrites_what_ps_shows() -> None:
    code = (
        "import sys; from pyrunc.shim.zygote import set_cmdline;"
        "print(set_cmdline(b'first\\0second arg\\0' * 1000, b'renamed') or 'ok');"
        "sys.stdout.write(open('/proc/self/cmdline', 'rb').read().rstrip(b'\\0').decode() + '|' +"
        " open('/proc/self/comm').read())"
    )
    done = subprocess.run(
        [str(SHIM.parent / "python"), "-c", code, "x" * 100],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    why, shown = done.stdout.split("\n", 1)
    assert why.startswith("command line cut to"), done
    args, comm = shown.split("|")
    assert args.split("\0")[:2] == ["first", "second arg"] and args.split("\0")[-1] in ("first", "second arg")
    assert comm.strip() == "renamed"


def test_a_child_takes_the_environment_of_its_start() -> None:
    """What differs from the zygote's environment is set, what `start` lacks is removed."""
    code = (
        "import os; from pyrunc.shim.zygote import Zygote;"
        "z = Zygote('/nonexistent'); z.environment = dict(os.environ);"
        "wanted = {**os.environ, 'ZYGOTE_TEST_NEW': 'new', 'HOME': '/elsewhere'};"
        "wanted.pop('ZYGOTE_TEST_GONE');"
        "z.take_environment(wanted);"
        "print(dict(os.environ) == wanted, os.environ.get('ZYGOTE_TEST_GONE'), os.environ['HOME'])"
    )
    done = subprocess.run(
        [str(SHIM.parent / "python"), "-c", code],
        env={**os.environ, "ZYGOTE_TEST_GONE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert done.stdout.split() == ["True", "None", "/elsewhere"], done
