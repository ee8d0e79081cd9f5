"""The object every case receives: runtime calls, bundles, containers and assertions.

A case runs in its own forked process (a child subreaper, so the container processes that the
runtime leaves behind are reparented to it and can be waited for). Everything it makes lives under
its own work directory and is named with its token, so the harness can clean up after it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from . import config as cfgmod
from . import sysutil

RT_TIMEOUT = 20.0


class CaseFailed(Exception):
    pass


class CaseSkipped(Exception):
    pass


class RtResult:
    """The outcome of one runtime invocation."""

    def __init__(self, argv: list[str], rc: int, out: str, err: str) -> None:
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def brief(self) -> str:
        text = (self.err.strip() or self.out.strip()).splitlines()
        tail = text[-1] if text else ""
        return f"`{' '.join(self.argv[3:])}` exited {self.rc}: {tail[:300]}"


class Report:
    """Parsed checker output: key -> list of values, in order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.values: dict[str, list[str]] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                self.values.setdefault(key, []).append(value)

    def get(self, key: str) -> str | None:
        values = self.values.get(key)
        return values[0] if values else None

    def all(self, key: str) -> list[str]:
        return self.values.get(key, [])

    def __contains__(self, key: str) -> bool:
        return key in self.values


def errno_of(value: str | None) -> str:
    """'err:13' -> 'EACCES'; 'ok' -> 'ok'; None -> 'missing'."""
    if value is None:
        return "missing"
    if value.startswith("err:"):
        num = int(value[4:])
        return errno.errorcode.get(num, str(num))
    return value


class Bundle:
    def __init__(self, path: str, cfg: dict) -> None:
        self.path = path
        self.rootfs = os.path.join(path, "rootfs")
        self.config = cfg
        self.raw_config: str | None = None  # when set, written verbatim (malformed-config cases)

    def write(self) -> None:
        text = self.raw_config if self.raw_config is not None else json.dumps(self.config, indent=1)
        with open(os.path.join(self.path, "config.json"), "w") as f:
            f.write(text)

    @property
    def process(self) -> dict:
        return self.config["process"]

    @property
    def linux(self) -> dict:
        return self.config["linux"]


class Container:
    def __init__(self, ctx: Ctx, cid: str, bundle: Bundle, out_path: str, err_path: str) -> None:
        self.ctx, self.id, self.bundle = ctx, cid, bundle
        self.out_path, self.err_path = out_path, err_path
        self.pid: int | None = None
        self.init_exe: str | None = None  # what the blocked init runs between create and start
        self.create_result: RtResult | None = None
        self.exit_status: int | None = None

    # -- operations
    def start(self, expect_ok: bool = True) -> RtResult:
        res = self.ctx.rt("start", self.id)
        if expect_ok and not res.ok:
            self.ctx.fail(f"start failed: {res.brief()}{self._container_stderr()}")
        if res.ok:
            self._wait_exec()
        return res

    def _wait_exec(self, timeout: float = 5.0) -> None:
        """`start` may return before init has exec'd the program (it only releases it): wait until
        /proc/PID/exe is no longer what it was after create, or the process is gone."""
        deadline = time.monotonic() + timeout
        while self.pid and self.init_exe and time.monotonic() < deadline and sysutil.alive(self.pid):
            if _exe(self.pid) not in (self.init_exe, None):
                return
            time.sleep(0.005)

    def state(self, expect_ok: bool = True) -> dict | None:
        res = self.ctx.rt("state", self.id)
        if not res.ok:
            if expect_ok:
                self.ctx.fail(f"state failed: {res.brief()}")
            return None
        try:
            return json.loads(res.out)
        except ValueError:
            self.ctx.fail(f"state output is not JSON: {res.out[:200]!r}")
        return None

    def status(self) -> str | None:
        st = self.state(expect_ok=False)
        return st.get("status") if st else None

    def kill(self, sig: str = "KILL", expect_ok: bool = True, all_: bool = False) -> RtResult:
        args = ["kill", "--all", self.id, sig] if all_ else ["kill", self.id, sig]
        res = self.ctx.rt(*args)
        if expect_ok and not res.ok:
            self.ctx.fail(f"kill failed: {res.brief()}")
        return res

    def delete(self, force: bool = False, expect_ok: bool = True) -> RtResult:
        res = self.ctx.rt("delete", "--force", self.id) if force else self.ctx.rt("delete", self.id)
        if expect_ok and not res.ok:
            self.ctx.fail(f"delete failed: {res.brief()}")
        return res

    # -- observation
    def wait_exit(self, timeout: float = 15.0) -> int | None:
        """Wait for the container process to exit; its wait status, -1 if not our child, None on timeout."""
        if self.exit_status is not None:
            return self.exit_status
        if self.pid is None:
            self.ctx.fail("no pid known for the container")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                if not sysutil.alive(self.pid):
                    self.exit_status = -1
                    return -1
                time.sleep(0.02)
                continue
            if pid == self.pid:
                self.exit_status = status
                return status
            time.sleep(0.01)
        return None

    def wait_stopped(self, timeout: float = 15.0) -> None:
        if self.wait_exit(timeout) is None:
            self.ctx.fail(f"container process {self.pid} did not exit within {timeout:.0f}s")

    def wait_for_key(self, key: str, timeout: float = 10.0) -> Report:
        """Wait until a still-running checker has printed `key`; return its output so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self.output()
            if key in report:
                return report
            time.sleep(0.02)
        self.ctx.fail(f"the checker did not report {key}{self._container_stderr()}")
        return Report("")

    def output(self) -> Report:
        with open(self.out_path, errors="replace") as f:
            return Report(f.read())

    def stderr(self) -> str:
        return sysutil.read_text(self.err_path) or ""

    def _container_stderr(self) -> str:
        text = self.stderr().strip()
        return f" (container stderr: {text[-200:]})" if text else ""

    def exit_code(self) -> int | None:
        status = self.exit_status
        if status is None or status < 0:
            return None
        return os.waitstatus_to_exitcode(status)


class Ctx:
    """Per-case facilities. `suite` carries the runtime path, host facts and cached artefacts."""

    def __init__(self, suite, name: str, work: str, token: str) -> None:
        self.suite = suite
        self.host = suite.host
        self.name = name
        self.work = work
        self.token = token
        self.root = os.path.join(work, "root")
        os.makedirs(self.root, exist_ok=True)
        self._serial = 0
        self.manifest = os.path.join(work, "manifest")
        self.watched: set[int] = set()  # container pids whose exit status a case may still collect

    # -- assertions
    def fail(self, message: str) -> None:
        raise CaseFailed(message)

    def check(self, condition: object, message: str) -> None:
        if not condition:
            raise CaseFailed(message)

    def eq(self, actual: object, expected: object, what: str) -> None:
        if actual != expected:
            raise CaseFailed(f"{what}: got {actual!r}, want {expected!r}")

    def skip(self, reason: str) -> None:
        raise CaseSkipped(reason)

    # -- names and records
    def new_id(self, label: str = "c") -> str:
        self._serial += 1
        return f"{self.token}-{label}{self._serial}"

    def cgroup_path(self, label: str = "cg", absolute: bool = True) -> str:
        self._serial += 1
        rel = f"{self.token}-{label}{self._serial}"
        return "/" + rel if absolute else rel

    def record(self, kind: str, value: object) -> None:
        """Note something the harness must clean up even if this process dies."""
        with open(self.manifest, "a") as f:
            f.write(json.dumps({"kind": kind, "value": value}) + "\n")

    def path(self, *parts: str) -> str:
        return os.path.join(self.work, *parts)

    # -- runtime
    def rt(
        self,
        *args: str,
        timeout: float = RT_TIMEOUT,
        stdout=None,
        stderr=None,
        cwd: str | None = None,
        global_args: tuple[str, ...] = (),
        env: dict | None = None,
        prefix: tuple[str, ...] = (),
    ) -> RtResult:
        """`prefix`: a command that runs the runtime (e.g. setpriv with a smaller bounding set)."""
        argv = [*prefix, self.suite.runtime, "--root", self.root, *global_args, *args]
        # Captured output goes to files, not pipes: a container (or a detached exec) inherits the
        # runtime's stdio and would hold a pipe open long after the runtime itself exited.
        with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
            try:
                rc = sysutil.run_reaping(
                    argv,
                    timeout,
                    self.watched,
                    stdin=subprocess.DEVNULL,
                    stdout=out_file if stdout is None else stdout,
                    stderr=err_file if stderr is None else stderr,
                    cwd=cwd,
                    env=env,
                )
            except subprocess.TimeoutExpired:
                self.fail(f"`{' '.join(args)}` did not finish within {timeout:.0f}s")
            out_file.seek(0)
            err_file.seek(0)
            out = out_file.read().decode(errors="replace")
            err = err_file.read().decode(errors="replace")
        return RtResult(argv, rc, out, err)

    # -- bundles and containers
    def bundle(self, args: list[str] | None = None, label: str = "b") -> Bundle:
        self._serial += 1
        path = self.path(f"{label}{self._serial}")
        os.makedirs(path)
        subprocess.run(["cp", "-a", self.suite.rootfs_template, os.path.join(path, "rootfs")], check=True)
        return Bundle(path, cfgmod.base_config(args))

    def create(
        self,
        bundle: Bundle,
        cid: str | None = None,
        extra: tuple[str, ...] = (),
        expect_ok: bool = True,
        global_args: tuple[str, ...] = (),
        cwd: str | None = None,
        bundle_arg: str | None = None,
        env: dict | None = None,
        prefix: tuple[str, ...] = (),
    ) -> Container:
        """`create --bundle B ID` with the container's stdout/stderr in files of the work dir."""
        bundle.write()
        cid = cid or self.new_id()
        self.record("id", cid)
        self._serial += 1
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in cid).lstrip(".")
        out_path = self.path(f"stdio{self._serial}-{safe}.out")
        err_path = self.path(f"stdio{self._serial}-{safe}.err")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            res = self.rt(
                "create",
                "--bundle",
                bundle_arg or bundle.path,
                *extra,
                cid,
                stdout=out,
                stderr=err,
                global_args=global_args,
                cwd=cwd,
                env=env,
                prefix=prefix,
            )
        res.err = sysutil.read_text(err_path) or ""
        c = Container(self, cid, bundle, out_path, err_path)
        c.create_result = res
        if res.ok:
            st = c.state(expect_ok=False)
            if st and isinstance(st.get("pid"), int):
                c.pid = st["pid"]
                c.init_exe = _exe(c.pid)
                self.watched.add(c.pid)
                self.record("pid", [c.pid, sysutil.proc_start_time(c.pid)])
        if expect_ok and not res.ok:
            self.fail(f"create failed: {res.brief()}")
        if expect_ok and c.pid is None:
            self.fail("state after create has no pid")
        return c

    def run(self, bundle: Bundle, timeout: float = 15.0) -> Container:
        """create + start, wait for the process to exit, delete; the container is returned for its output."""
        c = self.create(bundle)
        c.start()
        c.wait_stopped(timeout)
        c.delete(expect_ok=False)
        return c

    def run_report(self, bundle: Bundle, timeout: float = 15.0) -> Report:
        c = self.run(bundle, timeout)
        report = c.output()
        if not report.values:
            self.fail(f"the checker printed nothing{c._container_stderr()}")
        return report

    def refuse(self, bundle: Bundle, what: str, keep: tuple[Container, ...] = ()) -> RtResult:
        """Assert that create (or, failing that, start) refuses the bundle and leaves nothing behind."""
        c = self.create(bundle, expect_ok=False)
        res = c.create_result
        if res.ok:
            started = c.start(expect_ok=False)
            if started.ok:
                c.delete(force=True, expect_ok=False)
                self.fail(f"the runtime accepted {what}: create and start both succeeded")
            c.delete(force=True, expect_ok=False)
            return started
        self.assert_gone(c, keep)
        return res

    def assert_gone(self, c: Container, keep: tuple[Container, ...] = ()) -> None:
        """After a failed create: no state, no process, no cgroup, no mount under the bundle.

        `keep` lists other containers of this case that are meant to be alive.
        """
        st = self.rt("state", c.id)
        self.check(not st.ok, f"state still answers for {c.id} after a failed create: {st.out.strip()[:200]}")
        keep_pids = {k.pid for k in keep}
        sysutil.reap_all_except(keep_pids)
        leftovers = [p for p in sysutil.children_of(os.getpid()) if sysutil.alive(p) and p not in keep_pids]
        self.check(not leftovers, f"processes left behind: {[_comm(p) for p in leftovers]}")
        names = [c.id]
        cgroups_path = c.bundle.linux.get("cgroupsPath")
        if cgroups_path:
            names.append(os.path.basename(cgroups_path.rstrip("/")))
        cgroups = [d for n in names for d in sysutil.find_cgroup_dirs(n)]
        self.check(not cgroups, f"cgroups left behind: {cgroups[:3]}")
        mounts = sysutil.mounts_under(c.bundle.path)
        self.check(not mounts, f"mounts left behind: {mounts[:3]}")

    # -- hooks
    def hook_script(self) -> tuple[str, str]:
        """A shell hook that appends `LABEL STATE-JSON` to a log, then exits with its second argument.

        The script and the log directory live at the same absolute path on the host and in the
        container (the log dir is bind mounted), so a hook works in either mount namespace.
        """
        hooks_dir = self.path("hooks")
        log_dir = self.path("hooklog")
        script = os.path.join(hooks_dir, "hook.sh")
        if not os.path.exists(script):
            os.makedirs(hooks_dir, exist_ok=True)
            os.makedirs(log_dir, exist_ok=True)
            os.chmod(log_dir, 0o777)
            with open(script, "w") as f:
                f.write(
                    "#!/bin/sh\n"
                    "state=$(cat)\n"
                    f'printf "%s %s\\n" "$1" "$state" >> {log_dir}/log\n'
                    'if [ -n "$3" ]; then exec sleep "$3"; fi\n'
                    'exit "${2:-0}"\n'
                )
            os.chmod(script, 0o755)
        return script, os.path.join(log_dir, "log")

    def add_hook(self, bundle: Bundle, kind: str, label: str, exit_code: int = 0, **extra) -> dict:
        script, _ = self.hook_script()
        inside = os.path.join(bundle.rootfs, script.lstrip("/"))
        if not os.path.exists(inside):
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            shutil.copy2(script, inside)
            log_dir = os.path.dirname(self.hook_log())
            if not any(m.get("destination") == log_dir for m in bundle.config.get("mounts", [])):
                cfgmod.bind(bundle.config, log_dir, log_dir)
        entry = {"path": script, "args": [script, label, str(exit_code)], "env": [cfgmod.PATH_ENV]}
        entry.update(extra)
        bundle.config.setdefault("hooks", {}).setdefault(kind, []).append(entry)
        return entry

    def hook_log(self) -> str:
        return self.hook_script()[1]

    def hook_calls(self) -> list[tuple[str, dict | None]]:
        """(label, state) for every hook call so far, in order."""
        calls = []
        for line in (sysutil.read_text(self.hook_log()) or "").splitlines():
            label, _, payload = line.partition(" ")
            try:
                state = json.loads(payload) if payload.strip() else None
            except ValueError:
                state = None
            calls.append((label, state))
        return calls

    # -- host-side views of a process
    def proc_status(self, pid: int) -> dict[str, str]:
        try:
            return sysutil.proc_status(pid)
        except FileNotFoundError:
            self.fail(f"process {pid} is gone")
        return {}

    def cgroup_dir(self, controller: str, pid: int) -> str:
        """The host path of pid's cgroup directory for a v1 controller."""
        path = sysutil.proc_cgroups(pid).get(controller)
        mount = self.host.hierarchies.get(controller)
        self.check(path is not None and mount, f"process {pid} has no {controller} cgroup")
        return os.path.join(mount, path.lstrip("/"))

    def cgroup_read(self, controller: str, pid: int, name: str) -> str:
        path = os.path.join(self.cgroup_dir(controller, pid), name)
        text = sysutil.read_text(path)
        self.check(text is not None, f"cannot read {path}")
        return text.strip()


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _comm(pid: int) -> str:
    return f"{pid}:{(sysutil.read_text(f'/proc/{pid}/comm') or '?').strip()}"


def signal_name(status: int) -> str:
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit {os.WEXITSTATUS(status)}"
