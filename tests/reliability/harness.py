"""Running pyrunc, judging what it says against the kernel, and cleaning up after a fault.

A `Rig` is one temporary --root and one bundle. After a fault (a command killed, a racing command,
damaged state) a test calls `rig.check_truth(cid)` and then `rig.clean(cid)`: each returns a list
of problems (empty when pyrunc behaved).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid

from pyrunc.store_write import claims_of
from tests.reliability import machine as m

STATUSES = ("creating", "created", "running", "paused", "stopped")


class Result:
    __slots__ = ("argv", "err", "out", "rc", "seconds")

    def __init__(self, argv: list[str], rc: int, out: str, err: str, seconds: float) -> None:
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"<{' '.join(self.argv[-3:])} rc={self.rc} err={self.err.strip()[:300]!r}>"


# Pids of commands we started and will wait for ourselves: reap_orphans must not take their
# exit status (Popen.wait would then report 0 for a command that was killed). Held while a
# command is started and registered, and while a reaper decides, so that a command that exits
# before it is registered (a starved thread) is never taken for an orphan.
_OWN_CHILDREN: set[int] = set()
_SPAWNING = threading.Lock()


class Spawned:
    """A command started in the background; stdout and stderr go to files (a container's init
    inherits them, so pipes would stay open until it exits)."""

    def __init__(self, argv: list[str], env: dict | None = None, input_text: str | None = None) -> None:
        self.argv = argv
        self.out = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in finish)
        self.err = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.started = time.monotonic()
        stdin = subprocess.DEVNULL
        if input_text is not None:
            stdin = tempfile.TemporaryFile("w+")  # noqa: SIM115 (the child keeps it)
            stdin.write(input_text)
            stdin.seek(0)
        with _SPAWNING:
            self.proc = subprocess.Popen(argv, stdin=stdin, stdout=self.out, stderr=self.err, env=env)
            _OWN_CHILDREN.add(self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float = 60) -> Result:
        """Wait for it; at the timeout it is SIGKILLed and a note added to its stderr."""
        try:
            rc = self.proc.wait(timeout)
            note = ""
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.wait()
            note = f"\n[harness: did not finish within {timeout}s, killed]"
        _OWN_CHILDREN.discard(self.proc.pid)
        seconds = time.monotonic() - self.started
        self.out.seek(0)
        self.err.seek(0)
        result = Result(self.argv, rc, self.out.read(), self.err.read() + note, seconds)
        self.out.close()
        self.err.close()
        return result


def run(argv: list[str], timeout: float = 60, input_text: str | None = None) -> Result:
    return Spawned(argv, input_text=input_text).finish(timeout)


def timed_out(result: Result) -> bool:
    return "[harness: did not finish" in result.err


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "level=error" in line or '"level":"error"' in line]


def error_message(result: Result) -> str:
    """The msg of the (last) error line, decoded."""
    for line in reversed(error_lines(result.err)):
        _, sep, rest = line.partition("msg=")
        if sep:
            try:
                return json.loads(rest)
            except ValueError:
                return rest
    return ""


def failure_status(argv: list[str]) -> int:
    """runc's exit status for this command line when it fails: 255 for exec once its command line
    is well-formed (runc's exec.go: the runtime's own failure, not the process's status), 1 for
    everything else, usage errors included."""
    from pyrunc._cli_table import spec
    from pyrunc.fastcli import parse

    start = next((i + 1 for i, word in enumerate(argv) if os.path.basename(word) == "pyrunc"), 1)
    parsed = parse(argv[start:], spec)
    return 255 if parsed is not None and parsed[0] == "exec" else 1


def clean_failure_problems(result: Result, what: str) -> list[str]:
    """A failed command must exit 1 (255 for exec: failure_status) with exactly one error line and a
    real message: no traceback, no 'internal error' (pyrunc's trap for unexpected exceptions, i.e.
    a bug)."""
    problems = []
    where = f"{what}: {' '.join(result.argv[-4:])}"
    if timed_out(result):
        return [f"{where}: hung{result.err[-80:]}"]
    expected = failure_status(result.argv)
    if result.rc != expected:
        problems.append(
            f"{where}: exit status {result.rc}, expected {expected} (stderr {result.err.strip()[:200]!r})"
        )
    if "Traceback" in result.err or "Traceback" in result.out:
        problems.append(f"{where}: Python traceback: {result.err.strip()[-300:]!r}")
    if "internal error" in result.err:
        problems.append(f"{where}: internal error: {error_message(result)!r}")
    errors = error_lines(result.err)
    if len(errors) != 1:
        problems.append(f"{where}: {len(errors)} error lines, expected 1: {result.err.strip()[:300]!r}")
    elif len(error_message(result)) < 8:
        problems.append(f"{where}: error message says nothing: {result.err.strip()!r}")
    return problems


# Every id (and so every cgroup name) of this test process starts with this: two runs of the
# suite at once (two engineers, or CI and the soak) never take each other's containers for leaks.
SESSION = f"rel{os.getpid()}"


def unique_id(tag: str = "") -> str:
    return f"{SESSION}-{tag}{'-' if tag else ''}{uuid.uuid4().hex[:8]}"


class Rig:
    """One temporary --root and one bundle whose process is `sleep` (comm "sleep")."""

    def __init__(
        self, binary: str, root: str, bundle: str, process_comm: str = "sleep", global_args: tuple = ()
    ) -> None:
        self.binary = binary
        self.root = root
        self.global_args = tuple(global_args)  # e.g. ("--systemd-cgroup",), before every command
        self.bundle = bundle
        self.process_comm = process_comm
        self.tally: dict[str, int] = {}
        os.makedirs(root, mode=0o711, exist_ok=True)

    # -- commands ------------------------------------------------------------------------

    def cmd(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *self.global_args, *args]

    def run(self, *args: str, timeout: float = 60, input_text: str | None = None) -> Result:
        return run(self.cmd(*args), timeout=timeout, input_text=input_text)

    def must(self, *args: str, timeout: float = 60) -> Result:
        result = self.run(*args, timeout=timeout)
        if result.rc != 0:
            raise AssertionError(f"pyrunc {' '.join(args)} failed: {result}")
        return result

    def create(self, cid: str) -> Result:
        return self.must("create", "--bundle", self.bundle, cid)

    def run_detached(self, cid: str) -> Result:
        return self.must("run", "--detach", "--bundle", self.bundle, cid)

    def state(self, cid: str) -> dict:
        return json.loads(self.must("state", cid).out)

    def state_dir(self, cid: str) -> str:
        return os.path.join(self.root, cid)

    def raw_state(self, cid: str) -> dict | None:
        try:
            with open(os.path.join(self.state_dir(cid), "state.json")) as f:
                value = json.load(f)
            return value if isinstance(value, dict) else None
        except (OSError, ValueError):
            return None

    def container_cgroups(self, cid: str) -> set[str]:
        """The container's cgroup directories: by name (this rig never sets cgroupsPath, so the
        id is the last path element), plus what state.json recorded."""
        dirs = m.cgroup_dirs_named(cid)
        raw = self.raw_state(cid) or {}
        recorded = raw.get("cgroup") or {}
        for path in [*list((recorded.get("paths") or {}).values()), recorded.get("path")]:
            if isinstance(path, str) and os.path.isdir(path):
                dirs.add(path)
        return dirs

    def container_processes(self, cid: str) -> set[int]:
        pids = {p for p in m.pids_in_cgroups(self.container_cgroups(cid)) if m.is_alive(p)}
        raw = self.raw_state(cid) or {}
        pid = raw.get("pid") or 0
        if isinstance(pid, int) and pid > 0 and m.is_alive(pid):
            stat = m.proc_stat(pid)
            if stat and stat[2] == raw.get("init_start"):
                pids.add(pid)
        return pids

    # -- after a fault -------------------------------------------------------------------

    def settle(self, cid: str, timeout: float = 5.0) -> None:
        """Wait until nobody holds the container's lock and its processes stop changing: a killed
        command's setup child exits on EOF of its sync socket a moment after the command dies."""
        lock = os.path.join(self.state_dir(cid), "lock")
        me = os.getpid()
        previous = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = (
                tuple(m.lock_holders(lock)),
                frozenset((p, m.comm(p)) for p in self.container_processes(cid)),
                frozenset((p, m.comm(p)) for p in m.live_descendants(me)),
            )
            setting_up = any(c == "pyrunc" for _, c in snapshot[1] | snapshot[2])
            if snapshot == previous and not snapshot[0] and not setting_up:
                return
            previous = snapshot
            time.sleep(0.02)
            reap_orphans()

    def check_truth(self, cid: str) -> tuple[str, list[str]]:
        """Settle, then compare `pyrunc state` with the kernel. Returns (status, problems);
        status "absent" when there is no state directory."""
        problems = end_stuck_setup_children()
        self.settle(cid)
        status, truth = self._check_state(cid)
        return status, problems + truth

    def _check_state(self, cid: str) -> tuple[str, list[str]]:
        result = self.run("state", cid, timeout=30)
        if not os.path.isdir(self.state_dir(cid)):
            problems = []
            if result.rc == 0:
                problems.append(f"state of a container without a state directory: {result.out[:200]!r}")
            else:
                problems += clean_failure_problems(result, "state (absent)")
                if "does not exist" not in error_message(result):
                    problems.append(f"state of an absent container: {error_message(result)!r}")
            return "absent", problems
        if result.rc != 0:
            return "error", [f"state failed for an existing state directory: {result}"]
        try:
            reported = json.loads(result.out)
        except ValueError:
            return "error", [f"state printed no JSON: {result.out[:200]!r}"]
        status = reported.get("status")
        return status, self._truth_problems(cid, status, reported.get("pid") or 0)

    def _truth_problems(self, cid: str, status: str, pid: int) -> list[str]:
        if status not in STATUSES:
            return [f"unknown status {status!r}"]
        if status == "creating":
            return ["state says 'creating' but no create is running"]
        live = self.container_processes(cid)
        if status == "stopped":
            problems = []
            if pid:
                problems.append(f"stopped with pid {pid}")
            if live:
                described = ", ".join(f"{p} ({m.comm(p)})" for p in sorted(live))
                problems.append(f"state says stopped, but the container still has processes: {described}")
            return problems
        if not m.is_alive(pid):
            return [f"state says {status} but its pid {pid} is not alive"]
        name = m.comm(pid)
        fifo = os.path.exists(os.path.join(self.state_dir(cid), "exec.fifo"))
        if status == "created":
            if name != m.HELPER_COMM:
                return [f"state says created, but pid {pid} already runs {name!r}"]
            return [] if fifo else ["state says created without exec.fifo"]
        if status == "running" and name == m.HELPER_COMM:
            return [f"state says running, but pid {pid} is still pyrunc's init helper"]
        if status == "paused" and m.freezer_state(self.container_cgroups(cid)) != "FROZEN":
            return ["state says paused, but the freezer is not FROZEN"]
        return []

    def clean(self, cid: str, via_list: bool = False) -> list[str]:
        """`delete --force` (after `list`, if asked) must leave nothing: no state directory,
        cgroup, process or mount. Anything left is reported and then scrubbed."""
        problems = []
        exists = os.path.isdir(self.state_dir(cid))
        if via_list:
            listed = self.run("list", "--format", "json", timeout=30)
            if listed.rc != 0:
                problems.append(f"list failed: {listed}")
            else:
                ids = {entry["id"] for entry in json.loads(listed.out or "[]")}
                if (cid in ids) != exists:
                    problems.append(
                        f"list {'misses' if exists else 'shows'} {cid} (state dir exists: {exists})"
                    )
        processes = self.container_processes(cid)
        result = self.run("delete", "--force", cid, timeout=60)
        if result.rc != 0:
            problems.append(f"delete --force failed: {result}")
        problems += self.leftovers(cid, processes)
        if problems:
            self.scrub(cid)
        reap_orphans()
        return problems

    def leftovers(self, cid: str, processes=()) -> list[str]:
        problems = []
        if os.path.exists(self.state_dir(cid)):
            problems.append(f"state directory left: {sorted(os.listdir(self.state_dir(cid)))}")
        claims = [name for name, _pid in claims_of(_listdir(self.root), cid)]
        if claims:
            problems.append(f"claim directories left: {claims}")
        cgroups = m.cgroup_dirs_named(cid)
        if cgroups:
            problems.append(f"cgroup directories left: {sorted(cgroups)}")
        alive = sorted(p for p in set(processes) | m.pids_in_cgroups(cgroups) if m.is_alive(p))
        if alive:
            problems.append(f"processes left: {[(p, m.comm(p)) for p in alive]}")
        mounts = m.mount_points_under([self.root, self.bundle])
        if mounts:
            problems.append(f"host mounts left: {sorted(mounts)}")
        return problems

    def scrub(self, cid: str) -> None:
        """Remove by hand whatever a failed clean-up left, so the next trial starts clean."""
        scrub_container(cid, [self.state_dir(cid)])
        for point in sorted(m.mount_points_under([self.root, self.bundle]), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)


def scrub_container(cid: str, state_dirs=()) -> None:
    cgroups = m.cgroup_dirs_named(cid)
    for _ in range(50):
        pids = m.pids_in_cgroups(cgroups)
        if not pids:
            break
        for directory in cgroups:  # a frozen task only dies once thawed
            state_file = os.path.join(directory, "freezer.state")
            if os.path.exists(state_file):
                try:
                    with open(state_file, "w") as f:
                        f.write("THAWED")
                except OSError:
                    pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        reap_orphans()
    for directory in sorted(cgroups, key=len, reverse=True):
        for top, _dirs, _files in sorted(os.walk(directory), key=lambda t: len(t[0]), reverse=True):
            try:
                os.rmdir(top)
            except OSError:
                pass
    for state_dir in state_dirs:
        subprocess.run(["rm", "-rf", state_dir], capture_output=True)


def stuck_setup_children() -> list[int]:
    """Setup children of a runtime of ours that died: still a clone of the Python runtime (comm
    "pyrunc", our session's id on its command line), but no longer below a live runtime (its
    parent is now us, or the container's init when it had forked into the container's pid
    namespace, as exec's does). They should exit at once on EOF of their sync socket."""
    stuck = []
    for pid in m.all_pids():
        if pid in _OWN_CHILDREN or m.comm(pid) != "pyrunc" or SESSION not in m.cmdline(pid):
            continue
        stat = m.proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X") or m.comm(stat[1]) in ("pyrunc", "strace"):
            continue
        stuck.append(pid)
    return stuck


def end_stuck_setup_children(grace: float = 1.0) -> list[str]:
    """Give orphaned setup children `grace` seconds to exit; report and kill those that do not."""
    if m.wait_for(lambda: not stuck_setup_children(), grace) is not None:
        return []
    stuck = stuck_setup_children()
    problems = [f"orphaned setup child {p} ({m.cmdline(p)[-60:]})" for p in stuck]
    for pid in stuck:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    m.wait_for(lambda: not stuck_setup_children(), 5)
    reap_orphans()
    return problems


def reap_orphans() -> list[int]:
    """Reap our zombie children (containers' inits are reparented to us: we are a subreaper)."""
    reaped = []
    for pid in m.zombie_children(os.getpid()):
        with _SPAWNING:
            if pid in _OWN_CHILDREN:
                continue
            try:
                os.waitpid(pid, os.WNOHANG)
                reaped.append(pid)
            except ChildProcessError:
                pass
    return reaped


class Reaper(threading.Thread):
    """Reaps our zombie children as they appear, as containerd's shim does for its containers.
    Needed, not just tidy: a process of a container's pid namespace whose parent is outside it
    (an `exec` process reparented to us) keeps the namespace's init from finishing its exit
    until we reap it, and `delete` waits for that exit."""

    def __init__(self) -> None:
        super().__init__(name="reliability-reaper", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        # Polling (WNOHANG), not blocking: once stopped it must never reap again, since other
        # suites in the same pytest run wait for their own children.
        while not self.stopping.is_set():
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            except ChildProcessError:
                info = None
            if info is None:
                self.stopping.wait(0.01)
                continue
            with _SPAWNING:
                ours = info.si_pid in _OWN_CHILDREN or self.stopping.is_set()
                if not ours:
                    try:
                        os.waitpid(info.si_pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
            if ours:
                self.stopping.wait(0.005)  # its Spawned will collect it


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
