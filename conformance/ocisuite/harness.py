"""Runs the cases against one runtime: setup, one forked process per case with a timeout, TAP,
results.json, and cleanup of whatever a case leaves behind (even when it failed or timed out)."""

from __future__ import annotations

import datetime
import glob
import hashlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from . import SUITE_VERSION, probes, sysutil
from .ctx import CaseFailed, CaseSkipped, Ctx
from .registry import Case

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tools import crun_hugetlb  # bench/ mounts it for crun too: one definition

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER_SOURCE = os.path.join(HERE, "checker.c")
ROOTFS_BUILDER = os.environ.get("OCISUITE_ROOTFS_BUILDER") or os.path.join(
    os.path.dirname(os.path.dirname(HERE)), "oci-bundles", "build"
)
ID_PATTERN = re.compile(r"[\w+.-]+")


class SetupError(Exception):
    pass


class Suite:
    """Everything the cases share: the runtime, host facts, the checker and the rootfs template."""

    def __init__(self, runtime: str, outdir: str) -> None:
        self.runtime = runtime
        self.outdir = outdir
        self.cache = os.path.join(outdir, ".cache")
        self.host = probes.Host()  # probed before setup changes anything (e.g. the hugetlb mount)
        self.runtime_version = runtime_version(runtime)
        self.checker = ""
        self.rootfs_template = ""
        self.tmpbase = ""
        self._mounted_hugetlb = False
        self._hugetlb_dir_created = False

    @property
    def runtime_name(self) -> str:
        """'runc 1.1.5+ds1' from 'runc version 1.1.5+ds1'."""
        words = self.runtime_version.split()
        if len(words) >= 3 and words[1] == "version":
            return f"{words[0]} {words[2]}"
        return self.runtime_version or os.path.basename(self.runtime)

    def setup(self) -> None:
        os.makedirs(self.cache, exist_ok=True)
        self.checker = build_checker(self.cache)
        self.rootfs_template = build_rootfs(self.cache, self.checker)
        self.tmpbase = tempfile.mkdtemp(prefix=f"ocisuite-{os.getpid()}-")
        os.chmod(self.tmpbase, 0o755)  # a rootfs must be reachable by the uid a user namespace maps root to
        if self.runtime_name.startswith("crun") and self.host.cgroup_mode == "hybrid":
            self._mount_hugetlb()
        sysutil.become_subreaper()

    def teardown(self) -> None:
        sysutil.kill_children(os.getpid())
        if self.tmpbase:
            for point in sysutil.mounts_under(self.tmpbase):
                sysutil.umount_lazy(point)
            shutil.rmtree(self.tmpbase, ignore_errors=True)
        if self._mounted_hugetlb:
            self._unmount_hugetlb()

    def _mount_hugetlb(self) -> None:
        """crun 1.8.1 refuses a hybrid layout unless hugetlb is mounted as v1; undone in teardown."""
        if crun_hugetlb.needed():  # else someone else mounted it: leave it to them
            self._hugetlb_dir_created = crun_hugetlb.mount()
            self._mounted_hugetlb = True

    def _unmount_hugetlb(self) -> None:
        why = crun_hugetlb.unmount(self._hugetlb_dir_created)
        if why:
            print(f"# warning: {why}", file=sys.stderr)


def runtime_version(runtime: str) -> str:
    try:
        proc = subprocess.run(
            [runtime, "--version"], capture_output=True, timeout=15, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    return lines[0].strip() if lines else ""


def _digest(*paths: str, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


def build_checker(cache: str) -> str:
    """Compile the in-container checker statically (musl-gcc, else gcc -static), cached by source hash."""
    target = os.path.join(cache, f"cfcheck-{_digest(CHECKER_SOURCE)}")
    if os.path.exists(target):
        return target
    errors = []
    for cc in (["musl-gcc", "-static"], ["gcc", "-static"]):
        if not shutil.which(cc[0]):
            errors.append(f"{cc[0]}: not installed")
            continue
        tmp = f"{target}.tmp{os.getpid()}"
        proc = subprocess.run([*cc, "-O2", "-o", tmp, CHECKER_SOURCE], capture_output=True, text=True)
        if proc.returncode == 0:
            os.rename(tmp, target)
            return target
        errors.append(f"{cc[0]}: {proc.stderr.strip()[-300:]}")
    raise SetupError("cannot build the static checker: " + "; ".join(errors))


def build_rootfs(cache: str, checker: str) -> str:
    """The busybox-static rootfs from oci-bundles/build plus /cfcheck, cached."""
    if not os.access(ROOTFS_BUILDER, os.X_OK):
        raise SetupError(f"rootfs builder {ROOTFS_BUILDER} not found (set OCISUITE_ROOTFS_BUILDER)")
    busybox = os.environ.get("BUSYBOX", "/bin/busybox")
    key = _digest(ROOTFS_BUILDER, checker, busybox if os.path.exists(busybox) else ROOTFS_BUILDER)
    target = os.path.join(cache, f"rootfs-{key}")
    if os.path.isdir(target):
        return target
    tmp = f"{target}.tmp{os.getpid()}"
    try:
        # its own session, so an interrupt can stop the builder's subshells too
        proc = subprocess.Popen([ROOTFS_BUILDER, tmp], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)  # fmt: skip
        try:
            _, err = proc.communicate()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        if proc.returncode != 0:
            raise SetupError(f"{ROOTFS_BUILDER} failed: {err.decode(errors='replace').strip()[-300:]}")
        shutil.copy2(checker, os.path.join(tmp, "cfcheck"))
        os.chmod(os.path.join(tmp, "cfcheck"), 0o755)
        os.rename(tmp, target)
    finally:
        for leftover in glob.glob(glob.escape(tmp) + "*"):  # ours, and the builder's own temp dir
            shutil.rmtree(leftover, ignore_errors=True)
    return target


# ------------------------------------------------------------------ one case


def _case_child(case: Case, suite: Suite, work: str, token: str, wfd: int) -> None:
    """Runs in the forked process; reports {status, reason} on wfd and exits."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    result = {"status": "fail", "reason": ""}
    try:
        os.setpgid(0, 0)
        sysutil.become_subreaper()
        case.func(Ctx(suite, case.name, work, token))
        result = {"status": "pass", "reason": ""}
    except CaseSkipped as e:
        result = {"status": "skip", "reason": str(e)}
    except CaseFailed as e:
        result = {"status": "fail", "reason": str(e)}
    except BaseException as e:  # a bug in the case itself: report it, never pass
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        result = {"status": "fail", "reason": "suite error: " + "".join(tb[-3:]).strip()}
    try:
        os.write(wfd, json.dumps(result).encode())
    finally:
        os._exit(0)


def run_case(case: Case, suite: Suite, index: int, timeout: float | None) -> dict:
    token = f"ocs{os.getpid()}x{index}"
    work = tempfile.mkdtemp(prefix=f"{index:03d}-", dir=suite.tmpbase)
    os.chmod(work, 0o755)
    limit = timeout or case.timeout
    start = time.monotonic()
    rfd, wfd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(rfd)
        _case_child(case, suite, work, token, wfd)
    os.close(wfd)
    result = None
    try:
        data = _collect_verdict(child, rfd, start + limit)
        if data is None:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            result = {"status": "fail", "reason": f"timed out after {limit:.0f}s"}
        else:
            try:
                result = json.loads(data)
            except ValueError:
                result = {"status": "fail", "reason": "the case process died without a verdict"}
    finally:
        os.close(rfd)
        notes = cleanup(suite, work, token)
    result["duration"] = round(time.monotonic() - start, 3)
    if notes:
        result["cleanup"] = notes
    return result


def _collect_verdict(child: int, fd: int, deadline: float) -> bytes | None:
    """The case process's verdict, once it has exited; None if it is still running at the deadline.

    Exit is what counts, not EOF: a process the case forked may hold the pipe open.
    """
    os.set_blocking(fd, False)
    chunks = []
    while time.monotonic() < deadline:
        select.select([fd], [], [], min(0.05, max(0.0, deadline - time.monotonic())))
        chunks.append(_drain(fd))
        pid, _ = os.waitpid(child, os.WNOHANG)
        if pid == child:
            chunks.append(_drain(fd))
            return b"".join(chunks)
    return None


def _drain(fd: int) -> bytes:
    data = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        data.append(chunk)
    return b"".join(data)


def cleanup(suite: Suite, work: str, token: str) -> list[str]:
    """Undo whatever the case left: containers, processes, mounts, cgroups, files."""
    notes = []
    root = os.path.join(work, "root")
    ids, pids = _manifest(work)
    if os.path.isdir(root):
        # runtimes keep one directory per container in --root, beside files of their own
        for entry in os.listdir(root):
            if ID_PATTERN.fullmatch(entry) and os.path.isdir(os.path.join(root, entry)):
                ids.add(entry)
    existing = set(os.listdir(root)) if os.path.isdir(root) else set()
    for cid in sorted(ids):
        with tempfile.TemporaryFile() as err:
            try:
                rc = sysutil.run_reaping(
                    [suite.runtime, "--root", root, "delete", "--force", cid],
                    15,
                    set(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            except subprocess.TimeoutExpired:
                notes.append(f"delete --force {cid} timed out")
                continue
            if rc != 0 and cid in existing:
                err.seek(0)
                tail = err.read().decode(errors="replace").strip().splitlines()[-1:] or [""]
                notes.append(f"delete --force {cid} exited {rc}: {tail[0][:200]}")
    for pid, start_time in pids:
        if sysutil.alive(pid) and sysutil.proc_start_time(pid) == start_time:
            try:
                os.kill(pid, signal.SIGKILL)
                notes.append(f"killed container process {pid} that survived delete --force")
            except ProcessLookupError:
                pass
    killed = sysutil.kill_children(os.getpid())
    if killed:
        notes.append(f"killed {killed} leftover process(es)")
    notes += _remove_netdevs(work)
    mounts = sysutil.mounts_under(work)
    for point in mounts:
        sysutil.umount_lazy(point)
    cgroups = sysutil.find_cgroup_dirs(token)
    if cgroups:
        stuck = [d for d in cgroups if not sysutil.remove_cgroup_dir(d)]
        notes.append(f"removed {len(cgroups) - len(stuck)} leftover cgroup(s), e.g. {cgroups[0]}")
        if stuck:
            notes.append(f"could not remove cgroups: {stuck[:3]}")
    shutil.rmtree(work, ignore_errors=True)
    return notes


def _remove_netdevs(work: str) -> list[str]:
    """Network interfaces a case made (manifest kind "netdev") and that are still on the host."""
    notes = []
    text = sysutil.read_text(os.path.join(work, "manifest")) or ""
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry["kind"] == "netdev" and os.path.exists(f"/sys/class/net/{entry['value']}"):
            subprocess.run(["ip", "link", "del", entry["value"]], capture_output=True, timeout=10)
            notes.append(f"removed network interface {entry['value']}")
    return notes


def _manifest(work: str) -> tuple[set[str], list[tuple[int, int]]]:
    ids, pids = set(), []
    text = sysutil.read_text(os.path.join(work, "manifest")) or ""
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry["kind"] == "id":
            ids.add(entry["value"])
        elif entry["kind"] == "pid":
            pids.append(tuple(entry["value"]))
    return ids, pids


# ------------------------------------------------------------------ the run


class Reporter:
    """TAP on stdout and in OUTDIR/tap.txt; results.json rewritten after every case."""

    def __init__(self, suite: Suite, total: int) -> None:
        self.suite = suite
        self.total = total
        self.results: dict[str, dict] = {}
        self.started = datetime.datetime.now(datetime.UTC)
        self.t0 = time.monotonic()
        self.tap = open(os.path.join(suite.outdir, "tap.txt"), "w")  # noqa: SIM115 (closed in close())
        self.emit(f"1..{total}")
        self.emit(f"# runtime: {suite.runtime} ({suite.runtime_version or 'version unknown'})")

    def emit(self, line: str) -> None:
        print(line, flush=True)
        self.tap.write(line + "\n")
        self.tap.flush()

    def record(self, index: int, name: str, result: dict) -> None:
        self.results[name] = result
        status, reason = result["status"], result.get("reason", "")
        if status == "pass":
            self.emit(f"ok {index} - {name}")
        elif status == "skip":
            self.emit(f"ok {index} - {name} # SKIP {reason}")
        else:
            self.emit(f"not ok {index} - {name}")
            for line in reason.splitlines() or ["(no reason given)"]:
                self.emit(f"#   {line}")
        for note in result.get("cleanup", []):
            self.emit(f"#   cleanup: {note}")
        self.write_json()

    def totals(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "skip": 0}
        for r in self.results.values():
            counts[r["status"]] += 1
        return counts

    def write_json(self) -> None:
        doc = {
            "suite": f"ocisuite {SUITE_VERSION}",
            "runtime": self.suite.runtime,
            "runtime_version": self.suite.runtime_version,
            "runtime_name": self.suite.runtime_name,
            "started": self.started.isoformat(timespec="seconds"),
            "duration": round(time.monotonic() - self.t0, 1),
            "host": self.suite.host.as_dict(),
            "planned": self.total,
            "totals": self.totals(),
            "cases": self.results,
        }
        path = os.path.join(self.suite.outdir, "results.json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(path + ".tmp", path)

    def close(self) -> None:
        t = self.totals()
        self.emit(f"# {t['pass']} passed, {t['fail']} failed, {t['skip']} skipped")
        self.emit(f"{t['pass']} passed, {t['fail']} failed, {t['skip']} skipped")
        self.tap.close()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_suite(runtime: str, outdir: str, cases: list[Case], timeout: float | None = None) -> int:
    os.makedirs(outdir, exist_ok=True)
    suite = Suite(runtime, outdir)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        suite.setup()
    except (SetupError, OSError) as e:
        suite.teardown()
        print(f"conformance/run: setup failed: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        suite.teardown()
        print("conformance/run: interrupted during setup", file=sys.stderr)
        return 130
    reporter = Reporter(suite, len(cases))
    interrupted = False
    try:
        for index, case in enumerate(cases, 1):
            reason = probes.unmet(suite.host, case.needs)
            if reason:
                reporter.record(index, case.name, {"status": "skip", "reason": reason, "duration": 0.0})
                continue
            reporter.record(index, case.name, run_case(case, suite, index, timeout))
    except KeyboardInterrupt:
        interrupted = True
        reporter.emit("# interrupted")
    finally:
        suite.teardown()
        reporter.write_json()
        reporter.close()
    if interrupted:
        return 130
    return 1 if reporter.totals()["fail"] else 0
