"""CVE-2016-9962: a container process ptraces, or opens the /proc files of, a runtime process that
is joining the container, and takes its fds, memory or exe before it is confined.

pyrunc's processes are non-dumpable from fork until their execve into the container (the child
sets it right after fork, the helper again after its own execve), so a container process without
CAP_SYS_PTRACE can neither ptrace them nor open /proc/PID/{exe,environ,mem,fd}. Two windows are
attacked: the init waiting in `created` (indefinitely, on exec.fifo), and an `exec` joining a
running container, held in place by exec'ing into a frozen (paused) container so that the attacker
never has to win a race.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.security.helpers import (
    PROBES,
    exec_output,
    join_pid_namespace,
    plant,
    read_report,
    read_text,
    report,
    reported,
    run_detached,
    status,
    wait_until,
)
from tests.support import reap_orphans


def reached(observations, pid: str) -> list:
    """What the attacker got from `pid`: anything but a refusal."""
    return [o for o in observations if o.get("pid") == pid and o.kind in ("EXE", "REACHED", "FD")]


def test_created_init_cannot_be_reached_until_it_execs(runtime, make_bundle, cid, attacker):
    """Before `start`, pid 1 is the helper holding exec.fifo (a host path): nothing of it is
    reachable. After `start` it is the container's own process, and the same probe reaches it
    (the control: the probe would see a dumpable process)."""
    bundle = make_bundle(args=["sleep", "1000"])
    plant(bundle.rootfs, attacker)
    runtime("create", "--bundle", bundle.path, cid, stdin=subprocess.DEVNULL)
    code, output = exec_output(runtime, cid, "/attack", "probe", "1")
    assert code == 0, output
    before = report(output)
    assert {o["what"] for o in before if o.kind == "DENIED"} == PROBES, before
    assert reached(before, "1") == [], before

    runtime("start", cid)
    init = runtime.state(cid)["pid"]
    wait_until(lambda: read_text(f"/proc/{init}/comm").strip() == "sleep", "the container's process")
    code, output = exec_output(runtime, cid, "/attack", "probe", "1")
    after = report(output)
    assert {o.get("what", o.kind) for o in reached(after, "1")} >= {"EXE", "environ", "ptrace"}, after


class JoiningExec:
    """A container A (sleep), a pod B in A's pid namespace running the hunter, and an `exec` into
    A while A is paused: the exec's process is placed in A's frozen cgroup while it is still the
    runtime's, and stays there, in B's view, until A is resumed."""

    def __init__(self, runtime, make_bundle, new_id, attacker, tmp_path) -> None:
        self.runtime = runtime
        self.target = make_bundle(args=["sleep", "1000"])
        self.target_id = new_id("target")
        self.pod = make_bundle(args=["/attack", "hunt", "/stop-hunt", "*"])
        self.pod.config["process"]["env"].append("ATTACK_WRITE_WAIT=1")
        plant(self.pod.rootfs, attacker)
        self.pod_id = new_id("pod")
        self.out = str(tmp_path / "hunter")
        self.exec_out = str(tmp_path / "exec")

    def attack(self, pod_caps: list[str] = ()) -> list:
        for kind in self.pod.config["process"]["capabilities"].values():
            kind.extend(pod_caps)
        target_pid = run_detached(self.runtime, self.target, self.target_id, self.exec_out)
        join_pid_namespace(self.pod, target_pid)
        try:
            self._attack()
        finally:
            # The pod's processes live in the target's pid namespace: they must go (and be reaped)
            # before its init, which as the namespace's reaper waits for them when killed.
            self.runtime("delete", "--force", self.pod_id, check=False)
            reap_orphans()
            self.runtime("delete", "--force", self.target_id, check=False)
        return read_report(self.out)

    def _attack(self) -> None:
        run_detached(self.runtime, self.pod, self.pod_id, self.out)
        wait_until(lambda: reported(self.out, "HUNTING"), "the hunter to start")
        self.runtime("pause", self.target_id)
        with open(self.exec_out, "a") as f:
            joining = subprocess.Popen(
                self.runtime.cmd("exec", "--ignore-paused", self.target_id, "true"),
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=f,
            )
        try:
            wait_until(lambda: reported(self.out, "DENIED", "EXE"), "the hunter to probe the joining process")
        finally:
            self.runtime("resume", self.target_id)
            assert joining.wait(timeout=120) == 0, read_text(self.exec_out)
        open(os.path.join(self.pod.rootfs, "stop-hunt"), "w").close()
        wait_until(lambda: status(self.runtime, self.pod_id) == "stopped", "the hunter to finish")


@pytest.fixture
def joining_exec(runtime, make_bundle, new_id, attacker, tmp_path):
    return JoiningExec(runtime, make_bundle, new_id, attacker, tmp_path)


def test_joining_exec_process_cannot_be_reached(joining_exec):
    observations = joining_exec.attack()
    probed = {o["pid"] for o in observations if o.kind in ("DENIED", "EXE", "REACHED", "FD")}
    assert probed, observations
    for pid in probed:
        assert reached(observations, pid) == [], observations
        denied = {o["what"] for o in observations if o.kind == "DENIED" and o["pid"] == pid}
        assert denied == PROBES, observations


def test_control_cap_sys_ptrace_reaches_the_joining_process(joining_exec):
    """Not defended, as in runc: a container given CAP_SYS_PTRACE without a user namespace can
    ptrace a process joining it (the capability overrides non-dumpability). This shows the hunter
    does see the joining process, so the refusals above are real."""
    observations = joining_exec.attack(["CAP_SYS_PTRACE"])
    kinds = {o.get("what", o.kind) for o in observations if o.kind in ("EXE", "REACHED")}
    assert kinds >= {"EXE", "environ", "mem", "ptrace"}, observations


@pytest.mark.xfail(
    strict=True,
    reason="bug: a joining exec is a fork of the host's Python until it execs the sealed helper, so "
    "/proc/PID/exe of it is the host interpreter (runc's joining process is already a sealed copy)",
)
def test_joining_process_exe_is_never_a_host_binary(joining_exec, host_files_untouched):
    """CVE-2019-5736 through the joining process: with CAP_SYS_PTRACE the attacker can open its
    exe; it must not be a host file the attacker could rewrite once nothing runs it."""
    observations = joining_exec.attack(["CAP_SYS_PTRACE"])
    exes = [o for o in observations if o.kind == "EXE"]
    assert exes, observations
    for exe in exes:
        identity = (int(exe["dev"]), int(exe["ino"]))
        assert identity not in host_files_untouched, f"reached {host_files_untouched[identity]}: {exe}"
        assert exe["kind"] == "memfd", exe
    assert os.path.realpath(sys.executable) not in {e["link"] for e in exes}
